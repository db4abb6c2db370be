"""Structure isolation: a client bound to structure A never reaches structure B (always a 404)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.auth.principal import Principal
from carnet.db import Database
from carnet.exceptions import NotFound
from carnet.vigilance import endpoints
from carnet.vigilance.models import LocalIdentity, LocalIdentityEvent
from carnet.vigilance.service import get_identity

from ..conftest import TokenFactory
from .conftest import JEAN

# Every route of the router under a structure, with a body that would succeed in its own
# structure. The test fails if a route is added without being listed here.
ROUTES: dict[tuple[str, str], Any] = {
    ("GET", "/api/v1/structures/{structure_id}"): None,
    ("POST", "/api/v1/structures/{structure_id}/identities"): JEAN,
    ("GET", "/api/v1/structures/{structure_id}/identities"): None,
    ("GET", "/api/v1/structures/{structure_id}/identities/{identity_id}"): None,
    ("PATCH", "/api/v1/structures/{structure_id}/identities/{identity_id}"): {
        "used_name": "MARTIN",
        "version": 1,
    },
    ("GET", "/api/v1/structures/{structure_id}/identities/{identity_id}/history"): None,
    ("POST", "/api/v1/structures/{structure_id}/identities/{identity_id}/insi-retrieval"): None,
    ("POST", "/api/v1/structures/{structure_id}/identities/{identity_id}/document-check"): {
        "validation_mode": "PA"
    },
    ("POST", "/api/v1/structures/{structure_id}/identities/{identity_id}/attributes/{code}"): None,
    (
        "DELETE",
        "/api/v1/structures/{structure_id}/identities/{identity_id}/attributes/{code}",
    ): None,
    ("GET", "/api/v1/structures/{structure_id}/identities/{identity_id}/duplicates"): None,
    ("POST", "/api/v1/structures/{structure_id}/identities/{identity_id}/merge"): "MERGE",
    ("POST", "/api/v1/structures/{structure_id}/identities/{identity_id}/unmerge"): None,
}


def _router_routes() -> set[tuple[str, str]]:
    found = set()
    for route in endpoints.router.routes:
        assert isinstance(route, APIRoute)
        for method in route.methods or ():
            found.add((method, route.path))
    return found


def test_every_structure_route_is_covered() -> None:
    structure_routes = {r for r in _router_routes() if "{structure_id}" in r[1]}
    assert structure_routes == set(ROUTES)


@pytest.fixture
def two_structures(
    app_client: TestClient, operator: dict[str, str], auth_headers: TokenFactory
) -> dict[str, Any]:
    ids = []
    for name in ("Hôpital A", "Clinique B"):
        response = app_client.post("/api/v1/structures", json={"name": name}, headers=operator)
        ids.append(response.json()["id"])
    a, b = ids
    identities: dict[int, list[int]] = {}
    for structure in (a, b):
        made = []
        for ipp in ("1", "2"):
            response = app_client.post(
                f"/api/v1/structures/{structure}/identities",
                json={**JEAN, "ipp": ipp, "attributes": ["HOMD"]},
                headers=operator,
            )
            assert response.status_code == 201
            made.append(response.json()["id"])
        identities[structure] = made
    return {
        "a": a,
        "b": b,
        "identities": identities,
        "client_a": auth_headers("identities.read", "identities.write", structure_id=a),
    }


def _call(
    client: TestClient,
    method: str,
    template: str,
    body: Any,
    headers: dict[str, str],
    structure: int,
    identity: int,
    other: int,
) -> Any:
    url = template.format(structure_id=structure, identity_id=identity, code="HOMD")
    if body == "MERGE":
        body = {"into": other, "reason": "duplicate"}
    return client.request(method, url, json=body, headers=headers)


def _snapshot(db: Database, structure: int) -> list[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.scalars(
            select(LocalIdentity)
            .where(LocalIdentity.structure_id == structure)
            .order_by(LocalIdentity.id)
        ).all()
        return [(r.id, r.version, r.status, r.attributes, r.active, r.used_name) for r in rows]


def test_a_client_of_a_gets_404_on_every_route_of_b(
    app_client: TestClient, db: Database, two_structures: dict[str, Any]
) -> None:
    a, b = two_structures["a"], two_structures["b"]
    b1, b2 = two_structures["identities"][b]
    a1, _a2 = two_structures["identities"][a]
    headers = two_structures["client_a"]
    before = _snapshot(db, b)
    with db.session() as s:
        events_before = s.scalar(select(func.count()).select_from(LocalIdentityEvent))

    for (method, template), body in ROUTES.items():
        # B's structure, B's identity.
        response = _call(app_client, method, template, body, headers, b, b1, b2)
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["error"]["message"] == f"structure {b} not found"
        # A structure that does not exist gives the very same answer.
        missing = _call(app_client, method, template, body, headers, 9999, b1, b2)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == response.json()["error"]["code"]
        if "{identity_id}" in template:
            # B's identity through A's own structure.
            response = _call(app_client, method, template, body, headers, a, b1, a1)
            assert response.status_code == 404, (method, template, response.text)
            assert response.json()["error"]["code"] == "identity_not_found"

    # Merging A's identity into B's is refused too.
    response = app_client.post(
        f"/api/v1/structures/{a}/identities/{a1}/merge",
        json={"into": b1, "reason": "cross-structure"},
        headers=headers,
    )
    assert response.status_code == 404
    assert _snapshot(db, b) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LocalIdentityEvent)) == events_before


def test_structure_listing_and_creation_for_a_bound_client(
    app_client: TestClient, two_structures: dict[str, Any]
) -> None:
    headers = two_structures["client_a"]
    listing = app_client.get("/api/v1/structures", headers=headers)
    assert [s["id"] for s in listing.json()] == [two_structures["a"]]
    created = app_client.post("/api/v1/structures", json={"name": "Mine"}, headers=headers)
    assert created.status_code == 403
    assert created.json()["error"]["code"] == "operator_only"


def test_an_operator_reaches_every_structure(
    app_client: TestClient, operator: dict[str, str], two_structures: dict[str, Any]
) -> None:
    for structure in (two_structures["a"], two_structures["b"]):
        ident = two_structures["identities"][structure][0]
        response = app_client.get(
            f"/api/v1/structures/{structure}/identities/{ident}", headers=operator
        )
        assert response.status_code == 200
    listing = app_client.get("/api/v1/structures", headers=operator).json()
    assert {s["id"] for s in listing} == {two_structures["a"], two_structures["b"]}


def test_service_read_without_structure_checks_the_binding(
    db: Database, two_structures: dict[str, Any]
) -> None:
    a, b = two_structures["a"], two_structures["b"]
    bound = Principal(client_id="fhir", scopes=frozenset(), structure_id=a)
    with db.session() as s:
        own = get_identity(s, bound, two_structures["identities"][a][0])
        assert own.structure_id == a
        with pytest.raises(NotFound):
            get_identity(s, bound, two_structures["identities"][b][0])


def test_scopes_are_required(
    app_client: TestClient, auth_headers: TokenFactory, two_structures: dict[str, Any]
) -> None:
    a = two_structures["a"]
    reader = auth_headers("identities.read", structure_id=a)
    assert app_client.get(f"/api/v1/structures/{a}/identities", headers=reader).status_code == 200
    write = app_client.post(f"/api/v1/structures/{a}/identities", json=JEAN, headers=reader)
    assert write.status_code == 403
    assert app_client.get(f"/api/v1/structures/{a}/identities").status_code == 401
