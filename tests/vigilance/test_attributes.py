"""Identity attributes: DOUT/FICT lock the identity to PROV, combinations, DESA, INS exposure."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.vigilance.models import LocalIdentity

from .conftest import JEAN, Api, import_persons


def _url(structure: int, identity: int, suffix: str = "") -> str:
    return f"/api/v1/structures/{structure}/identities/{identity}{suffix}"


def _post(client: TestClient, headers: dict[str, str], url: str, body: Any = None) -> Any:
    return client.post(url, json=body, headers=headers)


def _qualified(
    client: TestClient, db: Database, headers: dict[str, str], structure: int, create: Api
) -> int:
    import_persons(db, [JEAN])
    ident: int = create()["id"]
    assert _post(client, headers, _url(structure, ident, "/insi-retrieval")).status_code == 200
    checked = _post(
        client, headers, _url(structure, ident, "/document-check"), {"validation_mode": "PA"}
    )
    assert checked.json()["status"] == "QUAL"
    return ident


@pytest.mark.parametrize("code", ["DOUT", "FICT"])
def test_dout_or_fict_forces_prov_and_removes_the_ins(
    app_client: TestClient,
    db: Database,
    staff: dict[str, str],
    structure: int,
    create: Api,
    code: str,
) -> None:
    ident = _qualified(app_client, db, staff, structure, create)
    response = _post(app_client, staff, _url(structure, ident, f"/attributes/{code}"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["attributes"] == [code]
    assert (body["status"], body["ins"], body["validation_mode"]) == ("PROV", None, None)
    with db.session() as s:
        row = s.get(LocalIdentity, ident)
        assert row is not None
        assert (row.ins_matricule, row.ins_oid, row.person_id) == (None, None, None)

    insi = _post(app_client, staff, _url(structure, ident, "/insi-retrieval"))
    assert insi.status_code == 409
    assert insi.json()["error"]["code"] == "insi_forbidden"
    assert f"marked {code}" in insi.json()["error"]["message"]
    assert "INSi" in insi.json()["error"]["message"]

    check = _post(
        app_client, staff, _url(structure, ident, "/document-check"), {"validation_mode": "PA"}
    )
    assert check.status_code == 409
    assert check.json()["error"]["code"] == "status_locked"

    patch = app_client.patch(
        _url(structure, ident),
        json={"birth_name": "DUPONTEL", "validation_mode": "PA"},
        headers={**staff, "If-Match": str(body["version"])},
    )
    assert patch.status_code == 409
    assert app_client.get(_url(structure, ident), headers=staff).json()["status"] == "PROV"


def test_dout_and_fict_cannot_be_combined(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    assert _post(app_client, staff, _url(structure, ident, "/attributes/DOUT")).status_code == 200
    response = _post(app_client, staff, _url(structure, ident, "/attributes/FICT"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "incompatible_attributes"
    # DOUT and HOMA may go together.
    response = _post(app_client, staff, _url(structure, ident, "/attributes/HOMA"))
    assert response.status_code == 200
    assert response.json()["attributes"] == ["DOUT", "HOMA"]


def test_fict_and_homa_cannot_be_combined(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(attributes=["HOMA"])["id"]
    response = _post(app_client, staff, _url(structure, ident, "/attributes/FICT"))
    assert response.status_code == 409
    assert "FICT" in response.json()["error"]["message"]


def test_incompatible_attributes_refused_at_creation(
    app_client: TestClient, staff: dict[str, str], structure: int
) -> None:
    response = app_client.post(
        f"/api/v1/structures/{structure}/identities",
        json={**JEAN, "attributes": ["DOUT", "FICT"]},
        headers=staff,
    )
    assert response.status_code == 409
    response = app_client.post(
        f"/api/v1/structures/{structure}/identities",
        json={**JEAN, "attributes": ["DESA"]},
        headers=staff,
    )
    assert response.status_code == 422


def test_confirmed_code_replaces_the_potential_one(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(attributes=["HOMD", "DPOT"])["id"]
    body = _post(app_client, staff, _url(structure, ident, "/attributes/HOMA")).json()
    assert body["attributes"] == ["DPOT", "HOMA"]
    body = _post(app_client, staff, _url(structure, ident, "/attributes/doua")).json()
    assert body["attributes"] == ["DOUA", "HOMA"]


def test_remove_attribute_and_errors(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(attributes=["DOUT"])["id"]
    removed = app_client.delete(_url(structure, ident, "/attributes/DOUT"), headers=staff)
    assert removed.status_code == 200
    assert removed.json()["attributes"] == []
    assert removed.json()["status"] == "PROV"
    again = app_client.delete(_url(structure, ident, "/attributes/DOUT"), headers=staff)
    assert again.status_code == 404
    unknown = _post(app_client, staff, _url(structure, ident, "/attributes/ABCD"))
    assert unknown.status_code == 422
    assert "ABCD" in unknown.json()["error"]["message"]
    assert _post(app_client, staff, _url(structure, ident, "/attributes/VIDE")).status_code == 422
    desa = _post(app_client, staff, _url(structure, ident, "/attributes/DESA"))
    assert desa.status_code == 409
    assert "merge" in desa.json()["error"]["message"]
    assert (
        app_client.delete(_url(structure, ident, "/attributes/DESA"), headers=staff).status_code
        == 409
    )


def test_adding_an_attribute_twice_changes_nothing(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create()["id"]
    first = _post(app_client, staff, _url(structure, ident, "/attributes/HOMD")).json()
    second = _post(app_client, staff, _url(structure, ident, "/attributes/HOMD")).json()
    assert first["version"] == second["version"] == 2


def test_ins_is_shown_only_for_a_qualified_identity(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = _qualified(app_client, db, staff, structure, create)
    with db.session() as s:
        row = s.get(LocalIdentity, ident)
        assert row is not None
        nir = row.ins_matricule
    assert nir is not None
    qual = app_client.get(_url(structure, ident), headers=staff).json()
    assert qual["ins"]["matricule"] == nir
    listing = app_client.get(f"/api/v1/structures/{structure}/identities", headers=staff)
    assert listing.json()["items"][0]["ins"]["matricule"] == nir

    # The same identity stored RECUP (an INS kept in the table): nowhere in any answer.
    with db.session() as s:
        row = s.get(LocalIdentity, ident)
        assert row is not None
        row.status = "RECUP"
    for url in (
        _url(structure, ident),
        f"/api/v1/structures/{structure}/identities",
        _url(structure, ident, "/history"),
        _url(structure, ident, "/duplicates"),
    ):
        response = app_client.get(url, headers=staff)
        assert response.status_code == 200
        assert nir not in response.text, url
    attribute = _post(app_client, staff, _url(structure, ident, "/attributes/HOMD"))
    assert nir not in attribute.text
