"""Structures, search, audit, optimistic concurrency and bad inputs (4xx, never a 500)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.auth.principal import Principal
from carnet.db import Database
from carnet.exceptions import Conflict
from carnet.vigilance import schemas
from carnet.vigilance.models import LocalIdentity
from carnet.vigilance.service import vigilance_service

from .conftest import JEAN, Api

OPERATOR = Principal(client_id="operator", scopes=frozenset(), structure_id=None)


def _url(structure: int, identity: int | str = "", suffix: str = "") -> str:
    return (
        f"/api/v1/structures/{structure}/identities" + (f"/{identity}" if identity else "") + suffix
    )


# -- structures ----------------------------------------------------------------------------------


def test_create_structures(app_client: TestClient, operator: dict[str, str]) -> None:
    finess = app_client.post(
        "/api/v1/structures",
        json={"name": " CHU de Rennes ", "identifier": "350000741"},
        headers=operator,
    )
    assert finess.status_code == 201, finess.text
    assert finess.json()["name"] == "CHU de Rennes"
    assert finess.json()["identifier"] == "350000741"
    siret = app_client.post(
        "/api/v1/structures",
        json={"name": "Cabinet", "identifier": "732 829 320 00074"},
        headers=operator,
    )
    assert siret.status_code == 201
    assert siret.json()["identifier"] == "73282932000074"
    again = app_client.post(
        "/api/v1/structures", json={"name": "Other", "identifier": "350000741"}, headers=operator
    )
    assert again.status_code == 409
    for identifier in ("12345", "73282932000075", "ABCDEFGHI"):
        bad = app_client.post(
            "/api/v1/structures", json={"name": "X", "identifier": identifier}, headers=operator
        )
        assert bad.status_code == 422, identifier
    one = app_client.get(f"/api/v1/structures/{finess.json()['id']}", headers=operator)
    assert one.json() == finess.json()


def test_cli_creates_a_structure(database_url: str, db: Database) -> None:
    env = {**os.environ, "CARNET_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "carnet", "identities", "structures-create"]
    result = subprocess.run(
        [*command, "--name", "Clinique du Parc", "--identifier", "690000001"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["name"] == "Clinique du Parc"
    assert created["identifier"] == "690000001"
    duplicate = subprocess.run(
        [*command, "--name", "Again", "--identifier", "690000001"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr


# -- search --------------------------------------------------------------------------------------


def test_search_by_name_birth_date_status_with_pages(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    jean = create(ipp="1")["id"]
    dupond = create(ipp="2", birth_name="Dupond", first_names="Paul", birth_date="1980-03-00")["id"]
    married = create(
        ipp="3",
        birth_name="MARTIN",
        used_name="DUPONT",
        first_names="ANNE",
        sex="F",
        birth_date="1975-01-02",
    )["id"]
    leroy = create(ipp="4", birth_name="LEROY", first_names="LUC", birth_date="1980-11-30")["id"]
    app_client.post(
        _url(structure, jean, "/document-check"), json={"validation_mode": "PA"}, headers=staff
    )

    def ids(query: str) -> list[int]:
        response = app_client.get(_url(structure) + query, headers=staff)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert ids("?name=dupont") == [jean, dupond, married]  # sounds alike, and used names
    assert ids("?name=dupont&exact=true") == [jean, married]
    assert ids("?name=dupont&first_name=pierre") == [jean]
    assert ids("?birth_date=1980-03") == [jean, dupond]
    assert ids("?birth_date=1980") == [jean, dupond, leroy]
    assert ids("?birth_date=1980-03-12") == [jean]
    assert ids("?status=VALI") == [jean]
    assert ids("?sex=F") == [married]
    assert ids("?ipp=2") == [dupond]
    page = app_client.get(_url(structure) + "?limit=2&offset=2", headers=staff).json()
    assert page["total"] == 4
    assert [i["ipp"] for i in page["items"]] == ["3", "4"]


# -- audit ---------------------------------------------------------------------------------------


def test_reads_and_changes_are_audited(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(ipp="1")["id"]
    app_client.get(_url(structure, ident), headers=staff)
    app_client.get(_url(structure) + "?name=dupont", headers=staff)
    app_client.patch(_url(structure, ident), json={"used_name": "X", "version": 1}, headers=staff)
    app_client.post(_url(structure, ident, "/attributes/HOMD"), headers=staff)
    app_client.get(_url(structure, ident, "/duplicates"), headers=staff)
    with db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    trail = [(e.action, e.resource, e.purpose) for e in events]
    resource = f"LocalIdentity/{ident}"
    for action in (
        "identity.create",
        "identity.read",
        "identity.search",
        "identity.update",
        "identity.attribute",
        "identity.duplicates",
    ):
        assert (action, resource, "TREAT") in trail, action
    assert all(e.actor.startswith("client:") for e in events)


def test_a_failed_change_leaves_neither_data_nor_audit(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(attributes=["DOUT"])["id"]
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(AuditEvent))
    response = app_client.post(_url(structure, ident, "/attributes/FICT"), headers=staff)
    assert response.status_code == 409
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == count
        row = s.get(LocalIdentity, ident)
        assert row is not None
        assert (row.attributes, row.version) == ("DOUT", 1)


# -- optimistic concurrency ----------------------------------------------------------------------


def test_stale_version_is_a_409(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    first = app_client.patch(
        _url(structure, ident), json={"used_name": "A"}, headers={**staff, "If-Match": 'W/"1"'}
    )
    assert first.status_code == 200
    assert first.headers["etag"] == 'W/"2"'
    second = app_client.patch(
        _url(structure, ident), json={"used_name": "B"}, headers={**staff, "If-Match": 'W/"1"'}
    )
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "stale_version"
    in_body = app_client.patch(
        _url(structure, ident), json={"used_name": "B", "version": 1}, headers=staff
    )
    assert in_body.status_code == 409
    missing = app_client.patch(_url(structure, ident), json={"used_name": "B"}, headers=staff)
    assert missing.status_code == 428
    disagree = app_client.patch(
        _url(structure, ident),
        json={"used_name": "B", "version": 2},
        headers={**staff, "If-Match": "3"},
    )
    assert disagree.status_code == 400
    stale_action = app_client.post(
        _url(structure, ident, "/document-check"),
        json={"validation_mode": "PA"},
        headers={**staff, "If-Match": "1"},
    )
    assert stale_action.status_code == 409
    current = app_client.get(_url(structure, ident), headers=staff).json()
    assert (current["used_name"], current["version"], current["status"]) == ("A", 2, "PROV")


def test_a_concurrent_writer_is_caught_by_the_database(
    db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    """Both writers read version 1; the second UPDATE ... WHERE version = 1 matches nothing."""
    ident = create()["id"]
    with db.session() as late:
        seen = late.get(LocalIdentity, ident)  # loaded at version 1, held in this session
        assert seen is not None
        assert seen.version == 1
        with db.session() as early:
            vigilance_service.update_identity(
                early,
                OPERATOR,
                structure,
                ident,
                schemas.LocalIdentityUpdate(used_name="EARLY"),
                version=1,
            )
        with pytest.raises(Conflict) as caught:
            vigilance_service.update_identity(
                late,
                OPERATOR,
                structure,
                ident,
                schemas.LocalIdentityUpdate(used_name="LATE"),
                version=1,
            )
        assert caught.value.code == "stale_version"
        late.rollback()
    with db.session() as s:
        row = s.get(LocalIdentity, ident)
        assert row is not None
        assert (row.used_name, row.version) == ("EARLY", 2)


# -- bad inputs ----------------------------------------------------------------------------------

BIG = 2**70


def _bad_requests(structure: int, ident: int) -> list[tuple[str, str, Any, dict[str, str]]]:
    base = _url(structure)
    one = _url(structure, ident)
    nul = "DUP\x00ONT"
    return [
        ("GET", f"/api/v1/structures/{BIG}", None, {}),
        ("GET", f"/api/v1/structures/{2**31}/identities", None, {}),
        ("GET", f"{base}/{BIG}", None, {}),
        ("GET", f"{base}/abc", None, {}),
        ("GET", f"{base}/0", None, {}),
        ("POST", base, {**JEAN, "birth_name": nul}, {}),
        ("POST", base, {**JEAN, "birth_name": "DUPONT3"}, {}),
        ("POST", base, {**JEAN, "birth_date": "1980-02-30"}, {}),
        ("POST", base, {**JEAN, "birth_date": "2999-01-01"}, {}),
        ("POST", base, {**JEAN, "birth_date": "12/03/1980"}, {}),
        ("POST", base, {**JEAN, "birth_place": "00000"}, {}),
        ("POST", base, {**JEAN, "sex": "X"}, {}),
        ("POST", base, {**JEAN, "first_names": []}, {}),
        ("POST", base, {**JEAN, "first_names": 12}, {}),
        ("POST", base, {**JEAN, "first_names": ["MAXIMILIENNEXXX"] * 20}, {}),
        ("POST", base, {**JEAN, "unknown": 1}, {}),
        ("POST", base, {**JEAN, "ipp": "a b"}, {}),
        ("POST", base, {**JEAN, "ipp": "1\x00"}, {}),
        ("POST", base, {**JEAN, "collection_method": "INSI"}, {}),
        ("POST", base, {**JEAN, "collection_method": "XX"}, {}),
        ("POST", base, {**JEAN, "attributes": ["DOUT"] * 21}, {}),
        ("POST", base, {**JEAN, "used_name": nul}, {}),
        ("POST", base, {**JEAN, "birth_name": "X" * 300}, {}),
        ("POST", base, "not json", {"Content-Type": "application/json"}),
        ("GET", f"{base}?unknown=1", None, {}),
        ("GET", f"{base}?limit=0", None, {}),
        ("GET", f"{base}?limit=1000", None, {}),
        ("GET", f"{base}?offset=-1", None, {}),
        ("GET", f"{base}?birth_date=abc", None, {}),
        ("GET", f"{base}?name=%25", None, {}),
        ("GET", f"{base}?name=%00", None, {}),
        ("GET", f"{base}?first_name=jean%20pierre", None, {}),
        ("GET", f"{base}?status=XXX", None, {}),
        ("GET", f"{one}/duplicates?threshold=2", None, {}),
        ("GET", f"{one}/duplicates?limit=0", None, {}),
        ("PATCH", one, {"birth_name": None, "version": 1}, {}),
        ("PATCH", one, {"sex": "Z", "version": 1}, {}),
        ("PATCH", one, {"version": 0}, {}),
        ("PATCH", one, {"version": BIG}, {}),
        ("PATCH", one, {"used_name": "X"}, {"If-Match": "abc"}),
        ("PATCH", one, {"used_name": "X"}, {"If-Match": "9" * 30}),
        ("POST", f"{one}/document-check", {"validation_mode": "XX"}, {}),
        ("POST", f"{one}/document-check", {}, {}),
        (
            "POST",
            f"{one}/document-check",
            {"validation_mode": "PA", "checked_traits": {"birth_date": "1980-13-01"}},
            {},
        ),
        (
            "POST",
            f"{one}/document-check",
            {"validation_mode": "PA", "checked_traits": {"birth_place": "00000"}},
            {},
        ),
        ("POST", f"{one}/attributes/{'X' * 50}", None, {}),
        ("POST", f"{one}/merge", {"into": 0, "reason": "x"}, {}),
        ("POST", f"{one}/merge", {"into": BIG, "reason": "x"}, {}),
        ("POST", f"{one}/merge", {"into": 2, "reason": ""}, {}),
        ("POST", f"{one}/merge", {"into": 2, "reason": "a\x00b"}, {}),
        ("POST", f"{one}/merge", {"into": 2}, {}),
        ("POST", f"{one}/unmerge", {"reason": "x", "other": 1}, {}),
        ("POST", "/api/v1/structures", {"name": ""}, {}),
        ("POST", "/api/v1/structures", {"name": "A\x00B"}, {}),
        ("POST", "/api/v1/structures", {"name": "A", "identifier": "1" * 30}, {}),
    ]


def test_bad_inputs_are_4xx_never_500(
    app_client: TestClient, operator: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    create(ipp="2")
    for method, url, body, extra in _bad_requests(structure, ident):
        headers = {**operator, **extra}
        if isinstance(body, str):
            response = app_client.request(method, url, content=body, headers=headers)
        else:
            response = app_client.request(method, url, json=body, headers=headers)
        assert 400 <= response.status_code < 500, (method, url, body, response.text)
        assert response.json()["error"]["code"], (method, url)
    # Nothing was written by the refused requests.
    current = app_client.get(_url(structure, ident), headers=operator).json()
    assert current["version"] == 1
