"""INSi-like search and verification through the REST API (domain.md §3)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database

from ..conftest import TokenFactory
from ..factories import add_cast, add_person

SEARCH = "/api/v1/ins/search"
VERIFY = "/api/v1/ins/verify"


def _seed(db: Database) -> dict[str, str]:
    with db.session() as s:
        jean = add_person(
            s,
            birth_name="DUPONT",
            first_names="JEAN PIERRE MARIE",
            sex="M",
            birth_date="1980-03-12",
        )
        cast = add_cast(s)
        return {
            "jean": jean.matricule,
            "awa": cast.awa.matricule,
            "karim": cast.karim.matricule,
            "karim_nia": cast.karim_nia,
        }


def test_exactly_one_identity_is_code_00_with_ins_oid_traits_and_history(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    ids = _seed(db)
    headers = auth_headers("ins.read")
    body = app_client.post(
        SEARCH,
        json={"birth_name": "Dupont", "first_name": "Jean", "sex": "M", "birth_date": "1980-03-12"},
        headers=headers,
    ).json()
    assert body["code"] == "00"
    identity = body["identity"]
    assert identity["ins"] == {
        "matricule": ids["jean"],
        "kind": "NIR",
        "oid": "1.2.250.1.213.1.4.8",
    }
    assert identity["traits"]["first_names"] == ["JEAN", "PIERRE", "MARIE"]
    assert identity["traits"]["first_names_text"] == "JEAN PIERRE MARIE"
    assert identity["traits"]["birth_place"] == "75056"

    history = app_client.post(
        SEARCH,
        json={
            "birth_name": "BENALI",
            "first_name": "KARIM",
            "sex": "M",
            "birth_date": "1990-05-05",
        },
        headers=headers,
    ).json()["identity"]["history"]
    assert [(h["matricule"], h["kind"], h["oid"]) for h in history] == [
        (ids["karim_nia"], "NIA", "1.2.250.1.213.1.4.9")
    ]


def test_any_birth_first_name_or_the_full_list_finds_the_person(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    _seed(db)
    headers = auth_headers("ins.read")
    base = {"birth_name": "DUPONT", "sex": "M", "birth_date": "1980-03-12"}

    def code(first: str | list[str]) -> str:
        answer = app_client.post(SEARCH, json={**base, "first_name": first}, headers=headers)
        return str(answer.json()["code"])

    for first in ("PIERRE", "MARIE", ["JEAN", "PIERRE", "MARIE"], "JEAN PIERRE MARIE"):
        assert code(first) == "00", first
    for first in ("PAUL", ["PIERRE", "JEAN", "MARIE"], "JEAN PIERRE"):
        assert code(first) == "01", first


def test_none_is_01_and_several_is_02_without_any_identity(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    _seed(db)
    headers = auth_headers("ins.read")
    none = app_client.post(
        SEARCH,
        json={"birth_name": "DURAND", "first_name": "LUC", "sex": "M", "birth_date": "1980-03-12"},
        headers=headers,
    ).json()
    assert none == {"code": "01", "label": "No identity found", "identity": None}
    several = app_client.post(
        SEARCH,
        json={
            "birth_name": "MARTIN",
            "first_name": "CLAIRE",
            "sex": "F",
            "birth_date": "1975-06-01",
        },
        headers=headers,
    ).json()
    assert several["code"] == "02"
    assert several["identity"] is None
    # INSi advice: add the birth place (or the other first names) to resolve homonyms.
    by_place = app_client.post(
        SEARCH,
        json={
            "birth_name": "MARTIN",
            "first_name": "CLAIRE",
            "sex": "F",
            "birth_date": "1975-06-01",
            "birth_place": "13055",
        },
        headers=headers,
    ).json()
    assert by_place["code"] == "00"
    assert by_place["identity"]["traits"]["first_names"] == ["CLAIRE", "ANNE"]


def test_partial_birth_date_and_nia(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    ids = _seed(db)
    body = app_client.post(
        SEARCH,
        json={"birth_name": "N’Diaye", "first_name": "Awa", "sex": "F", "birth_date": "1962-00-00"},
        headers=auth_headers("ins.read"),
    ).json()
    assert body["code"] == "00"
    assert body["identity"]["ins"] == {
        "matricule": ids["awa"],
        "kind": "NIA",
        "oid": "1.2.250.1.213.1.4.9",
    }
    assert body["identity"]["traits"]["birth_date"] == "1962-00-00"


def test_every_search_is_audited_with_its_outcome(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    _seed(db)
    headers = auth_headers("ins.read")
    app_client.post(
        SEARCH,
        json={"birth_name": "DUPONT", "first_name": "JEAN", "sex": "M", "birth_date": "1980-03-12"},
        headers=headers,
    )
    app_client.post(
        SEARCH,
        json={
            "birth_name": "MARTIN",
            "first_name": "CLAIRE",
            "sex": "F",
            "birth_date": "1975-06-01",
        },
        headers=headers,
    )
    with db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "ins.search").order_by(AuditEvent.id)
        ).all()
        assert [(e.outcome, e.person_id is not None) for e in events] == [
            ("00", True),
            ("02", False),
        ]
        assert all(e.actor.startswith("client:cli_") and e.request_id for e in events)
        assert events[0].client_address == "testclient"


def test_bad_traits_are_422_naming_field_and_character(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    headers = auth_headers("ins.read")
    cases = [
        (
            {"birth_name": "Dup0nt", "first_name": "JEAN", "sex": "M", "birth_date": "1980-03-12"},
            "birth_name",
            "'0'",
        ),
        (
            {"birth_name": "DUPONT", "first_name": "JEAN", "sex": "X", "birth_date": "1980-03-12"},
            "sex",
            "",
        ),
        (
            {"birth_name": "DUPONT", "first_name": "JEAN", "sex": "M", "birth_date": "1980-02-30"},
            "birth_date",
            "",
        ),
        (
            {
                "birth_name": "DUPONT",
                "first_name": "JEAN",
                "sex": "M",
                "birth_date": "1980-03-12",
                "birth_place": "00000",
            },
            "birth_place",
            "00000",
        ),
        (
            {"birth_name": "DUPONT", "first_name": "J@N", "sex": "M", "birth_date": "1980-03-12"},
            "first_name",
            "'@'",
        ),
    ]
    for body, field, fragment in cases:
        response = app_client.post(SEARCH, json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        message = response.json()["error"]["message"]
        assert message.startswith(field), message
        assert fragment in message
    extra = app_client.post(
        SEARCH,
        json={
            "birth_name": "A",
            "first_name": "B",
            "sex": "M",
            "birth_date": "1980-01-01",
            "nir": "x",
        },
        headers=headers,
    )
    assert extra.status_code == 422


def test_verify_names_the_differing_traits(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    ids = _seed(db)
    headers = auth_headers("ins.read")
    good = {
        "matricule": ids["jean"],
        "birth_name": "DUPONT",
        "first_names": "JEAN PIERRE MARIE",
        "sex": "M",
        "birth_date": "1980-03-12",
        "birth_place": "75056",
    }
    assert app_client.post(VERIFY, json=good, headers=headers).json() == {
        "consistent": True,
        "status": "consistent",
        "differences": [],
    }
    bad = {**good, "birth_name": "DUPOND", "birth_date": "1980-12-03"}
    result = app_client.post(VERIFY, json=bad, headers=headers).json()
    assert result["consistent"] is False
    assert [d["trait"] for d in result["differences"]] == ["birth_name", "birth_date"]
    replaced = app_client.post(
        VERIFY,
        json={**good, "matricule": ids["karim_nia"], "birth_name": "BENALI"},
        headers=headers,
    ).json()
    assert replaced["status"] == "replaced_ins"


def test_verify_rejects_an_invalid_nir_key(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    ids = _seed(db)
    wrong_key = ids["jean"][:13] + ("00" if ids["jean"][13:] != "00" else "01")
    response = app_client.post(
        VERIFY,
        json={
            "matricule": wrong_key,
            "birth_name": "DUPONT",
            "first_names": "JEAN",
            "sex": "M",
            "birth_date": "1980-03-12",
        },
        headers=auth_headers("ins.read"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_nir"
