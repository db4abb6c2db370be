"""The RNIV status machine: PROV → RECUP/VALI → QUAL, INSi retrieval outcomes, trait changes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.identity.models import Person
from carnet.vigilance.models import LocalIdentity

from .conftest import JEAN, Api, import_persons

OID_NIR = "1.2.250.1.213.1.4.8"


def _url(structure: int, identity: int, suffix: str = "") -> str:
    return f"/api/v1/structures/{structure}/identities/{identity}{suffix}"


def _stored(db: Database, identity_id: int) -> LocalIdentity:
    with db.session() as s:
        row = s.get(LocalIdentity, identity_id)
        assert row is not None
        s.expunge(row)
        return row


def _retrieve(client: TestClient, headers: dict[str, str], structure: int, ident: int) -> Any:
    response = client.post(_url(structure, ident, "/insi-retrieval"), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _check(
    client: TestClient, headers: dict[str, str], structure: int, ident: int, mode: str = "PA"
) -> Any:
    response = client.post(
        _url(structure, ident, "/document-check"), json={"validation_mode": mode}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_creation_is_prov_with_normalised_traits(
    app_client: TestClient, staff: dict[str, str], structure: int
) -> None:
    response = app_client.post(
        f"/api/v1/structures/{structure}/identities",
        json={
            "birth_name": "d’Artagnan",
            "first_names": "Jean, Pierre",
            "sex": "male",
            "birth_date": "1980-03",
            "birth_place": "75056",
            "used_name": "Durand-Dupont",
            "ipp": "IPP-0001",
            "attributes": ["homd"],
        },
        headers=staff,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/structures/{structure}/identities/{body['id']}"
    assert response.headers["etag"] == 'W/"1"'
    assert body["status"] == "PROV"
    assert body["traits"] == {
        "birth_name": "D'ARTAGNAN",
        "first_names": ["JEAN", "PIERRE"],
        "sex": "M",
        "birth_date": "1980-03-00",
        "birth_place": "75056",
    }
    assert body["used_name"] == "DURAND-DUPONT"
    assert body["attributes"] == ["HOMD"]
    assert body["collection_method"] == "SM"
    assert body["ins"] is None
    assert body["version"] == 1


def test_prov_recup_qual_through_insi_then_document(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    [nir] = import_persons(db, [JEAN])
    # The desk typed one first name only: INSi returns the full list.
    ident = create(first_names="Jean")["id"]

    result = _retrieve(app_client, staff, structure, ident)
    assert result["code"] == "00"
    assert result["outcome"] == "retrieved"
    assert result["calls"] == [{"first_name": "JEAN", "with_birth_place": False, "code": "00"}]
    identity = result["identity"]
    assert identity["status"] == "RECUP"
    assert identity["traits"]["first_names"] == ["JEAN", "PIERRE"]
    assert identity["collection_method"] == "INSI"
    assert identity["insi_retrieved_at"] is not None
    # RECUP: the INS is stored but never shown.
    assert identity["ins"] is None
    assert nir not in app_client.get(_url(structure, ident), headers=staff).text
    stored = _stored(db, ident)
    assert stored.ins_matricule == nir
    assert stored.ins_oid == OID_NIR
    with db.session() as s:
        person_id = s.scalar(select(Person.id).where(Person.matricule == nir))
    assert stored.person_id == person_id

    qualified = _check(app_client, staff, structure, ident, "CN")
    assert qualified["status"] == "QUAL"
    assert qualified["validation_mode"] == "CN"
    assert qualified["validation_date"] is not None
    assert qualified["ins"] == {"matricule": nir, "kind": "NIR", "oid": OID_NIR}

    with db.session() as s:
        actions = [
            (e.action, e.person_id, e.resource)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert ("ins.search", person_id, f"Person/{person_id}") in actions
    assert ("identity.insi_retrieval", person_id, f"LocalIdentity/{ident}") in actions
    assert ("identity.document_check", person_id, f"LocalIdentity/{ident}") in actions


def test_prov_vali_qual_through_document_then_insi(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    [nir] = import_persons(db, [JEAN])
    ident = create()["id"]
    validated = _check(app_client, staff, structure, ident, "PA")
    assert validated["status"] == "VALI"
    assert validated["ins"] is None
    result = _retrieve(app_client, staff, structure, ident)
    assert result["identity"]["status"] == "QUAL"
    assert result["identity"]["ins"]["matricule"] == nir
    assert result["identity"]["validation_mode"] == "PA"


def test_incoherent_insi_answer_names_the_traits_and_changes_nothing(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    import_persons(db, [JEAN])
    # Same birth name, first name, sex and date, but born in Lyon according to the desk.
    ident = create(birth_place="69123")["id"]
    result = _retrieve(app_client, staff, structure, ident)
    assert result["code"] == "00"
    assert result["outcome"] == "incoherent"
    assert result["differences"] == [{"trait": "birth_place", "local": "69123", "insi": "75056"}]
    assert result["identity"]["status"] == "PROV"
    assert result["identity"]["version"] == 1
    assert _stored(db, ident).ins_matricule is None


def test_01_leaves_the_identity_unchanged(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    import_persons(db, [JEAN])
    ident = create(birth_name="MARTIN")["id"]
    result = _retrieve(app_client, staff, structure, ident)
    assert (result["code"], result["outcome"]) == ("01", "not_found")
    assert result["identity"]["status"] == "PROV"
    assert result["identity"]["version"] == 1
    # Each first name alone, then the list: three INSi-like calls.
    assert [c["first_name"] for c in result["calls"]] == ["JEAN", "PIERRE", "JEAN PIERRE"]


def test_02_then_the_other_first_names_and_the_birth_place(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    twin_a = {**JEAN, "first_names": "JEAN PAUL"}
    twin_b = {**JEAN, "first_names": "JEAN MARC"}
    nir_a, _nir_b = import_persons(db, [twin_a, twin_b])

    ambiguous = create(first_names="JEAN")["id"]
    result = _retrieve(app_client, staff, structure, ambiguous)
    assert (result["code"], result["outcome"]) == ("02", "several")
    assert result["calls"] == [
        {"first_name": "JEAN", "with_birth_place": False, "code": "02"},
        {"first_name": "JEAN", "with_birth_place": True, "code": "02"},
    ]
    assert result["identity"]["status"] == "PROV"

    resolved = create(first_names="JEAN PAUL", ipp="2")["id"]
    result = _retrieve(app_client, staff, structure, resolved)
    assert result["outcome"] == "retrieved"
    assert [c["code"] for c in result["calls"]] == ["02", "02", "00"]
    assert _stored(db, resolved).ins_matricule == nir_a


def test_strict_trait_change_loses_the_ins_derived_status(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    import_persons(db, [JEAN])
    recup = create(ipp="R")["id"]
    _retrieve(app_client, staff, structure, recup)
    response = app_client.patch(
        _url(structure, recup),
        json={"birth_date": "1980-03-13"},
        headers={**staff, "If-Match": 'W/"2"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["ins"], body["version"]) == ("PROV", None, 3)
    assert _stored(db, recup).ins_matricule is None
    assert _stored(db, recup).person_id is None

    # QUAL + corrected against the document in the same request → VALI.
    qual = create(ipp="Q")["id"]
    _retrieve(app_client, staff, structure, qual)
    _check(app_client, staff, structure, qual)
    response = app_client.patch(
        _url(structure, qual),
        json={
            "used_name": "DURAND",
            "birth_name": "DUPONT-DURAND",
            "validation_mode": "PA",
            "version": 3,
        },
        headers=staff,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["ins"], body["validation_mode"]) == ("VALI", None, "PA")
    assert _stored(db, qual).ins_matricule is None

    # VALI + change without a document → PROV, the check is gone.
    response = app_client.patch(
        _url(structure, qual), json={"first_names": ["JEAN"], "version": 4}, headers=staff
    )
    body = response.json()
    assert (body["status"], body["validation_mode"], body["validation_date"]) == (
        "PROV",
        None,
        None,
    )


def test_non_strict_changes_keep_the_status(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    import_persons(db, [JEAN])
    ident = create()["id"]
    _retrieve(app_client, staff, structure, ident)
    _check(app_client, staff, structure, ident)
    response = app_client.patch(
        _url(structure, ident),
        json={
            "used_name": "Martin",
            "used_first_name": "Jeannot",
            "ipp": "X-1",
            "birth_name": "dupont",
            "version": 3,
        },
        headers=staff,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "QUAL"
    assert body["ins"] is not None
    assert (body["used_name"], body["used_first_name"], body["ipp"]) == ("MARTIN", "JEANNOT", "X-1")


def test_validation_mode_alone_is_not_a_document_check(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    response = app_client.patch(
        _url(structure, ident), json={"validation_mode": "PA", "version": 1}, headers=staff
    )
    assert response.status_code == 422
    assert "document-check" in response.json()["error"]["message"]


def test_document_check_compares_the_document_traits(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    response = app_client.post(
        _url(structure, ident, "/document-check"),
        json={
            "validation_mode": "CN",
            "checked_traits": {"birth_name": "Dupond", "birth_date": "1980-12-03", "sex": "M"},
        },
        headers=staff,
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "document_mismatch"
    assert "birth_name" in error["message"]
    assert "birth_date" in error["message"]
    assert "sex" not in error["message"]
    response = app_client.post(
        _url(structure, ident, "/document-check"),
        json={
            "validation_mode": "CN",
            "checked_traits": {"birth_name": "dupont", "first_names": "Jean Pierre"},
        },
        headers=staff,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "VALI"


def test_future_validation_date_is_refused(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    response = app_client.post(
        _url(structure, ident, "/document-check"),
        json={"validation_mode": "CN", "validation_date": "2999-01-01"},
        headers=staff,
    )
    assert response.status_code == 422
    assert "validation_date" in response.json()["error"]["message"]


def test_an_update_that_changes_nothing_keeps_the_version(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(used_name="MARTIN")["id"]
    response = app_client.patch(
        _url(structure, ident),
        json={"birth_name": "Dupont", "first_names": "jean, pierre", "used_name": "martin"},
        headers={**staff, "If-Match": 'W/"1"'},
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.headers["etag"] == 'W/"1"'
