"""Single-person register writes (scope ins.write) and reads by matricule (scope ins.read)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.identity.models import Person

from ..conftest import TokenFactory
from ..factories import make_nir

NIR = make_nir("F", "1984-12-01", "2A004", 12)
NIA = make_nir("F", "1984-12-01", "99352", 3, provisional=True)
BODY = {
    "kind": "NIR",
    "birth_name": "Santoni-Léa",
    "first_names": ["Marie-Ève", "Léa"],
    "sex": "F",
    "birth_date": "1984-12-01",
    "birth_place": "2A004",
}


def test_create_update_unchanged_and_read(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    writer = auth_headers("ins.write")
    reader = auth_headers("ins.read")
    created = app_client.put(f"/api/v1/ins/persons/{NIR}", json=BODY, headers=writer)
    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "created"
    assert created.json()["identity"]["traits"]["first_names"] == ["MARIE-EVE", "LEA"]
    again = app_client.put(f"/api/v1/ins/persons/{NIR}", json=BODY, headers=writer)
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    married = app_client.put(
        f"/api/v1/ins/persons/{NIR}", json={**BODY, "used_name": "Casanova"}, headers=writer
    )
    assert married.json()["outcome"] == "updated"
    with db.session() as s:
        person = s.scalars(select(Person).where(Person.matricule == NIR)).one()
        assert (person.used_name, person.version) == ("CASANOVA", 2)
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.person_id == person.id)
        ).all()
        assert sorted(actions) == ["person.create", "person.update", "person.update"]
    read = app_client.get(f"/api/v1/ins/persons/{NIR}", headers=reader)
    assert read.status_code == 200
    assert read.json()["used_name"] == "CASANOVA"
    assert app_client.get(f"/api/v1/ins/persons/{NIA}", headers=reader).status_code == 404


def test_nia_replaced_by_nir_keeps_history_and_old_number_reads_the_person(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    writer = auth_headers("ins.write")
    nia_body = {**BODY, "kind": "NIA", "birth_place": "99352"}
    assert (
        app_client.put(f"/api/v1/ins/persons/{NIA}", json=nia_body, headers=writer).status_code
        == 201
    )
    conflict = app_client.put(
        f"/api/v1/ins/persons/{NIR}", json={**BODY, "previous_matricules": [NIA]}, headers=writer
    )
    assert conflict.status_code == 409  # the NIA is still a live identity
    assert conflict.json()["error"]["code"] == "matricule_conflict"


def test_history_and_replaced_matricule(app_client: TestClient, auth_headers: TokenFactory) -> None:
    writer = auth_headers("ins.write")
    done = app_client.put(
        f"/api/v1/ins/persons/{NIR}", json={**BODY, "previous_matricules": [NIA]}, headers=writer
    )
    assert done.status_code == 201
    history = done.json()["identity"]["history"]
    assert [(h["matricule"], h["kind"]) for h in history] == [(NIA, "NIA")]
    old = app_client.get(f"/api/v1/ins/persons/{NIA}", headers=auth_headers("ins.read"))
    assert old.json()["ins"]["matricule"] == NIR
    reuse = app_client.put(
        f"/api/v1/ins/persons/{NIA}",
        json={**BODY, "kind": "NIA", "birth_place": "99352"},
        headers=writer,
    )
    assert reuse.status_code == 409
    assert reuse.json()["error"]["code"] == "matricule_replaced"


def test_bad_writes_are_refused_and_write_nothing(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    writer = auth_headers("ins.write")
    cases = [
        (NIR, {**BODY, "sex": "M"}, "nir_traits_mismatch"),
        (NIR[:13] + "00", BODY, "invalid_nir"),
        (NIR, {**BODY, "birth_name": "Sant0ni"}, "invalid_trait"),
        (NIR, {**BODY, "kind": "XYZ"}, "invalid_kind"),
    ]
    for matricule, body, code in cases:
        response = app_client.put(f"/api/v1/ins/persons/{matricule}", json=body, headers=writer)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
    assert (
        app_client.put(
            f"/api/v1/ins/persons/{NIR}", json=BODY, headers=auth_headers("ins.read")
        ).status_code
        == 403
    )
    with db.session() as s:
        assert s.scalars(select(Person)).all() == []
