"""The routers are included hot endpoints first (``carnet.main``), since FastAPI tries routes in
order. Reordering them must never let an earlier route capture a later one's requests: every API
route's own path is answered by that route, not by a pattern that happens to come first."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient


def _routes_in_matching_order(routes: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        flat.extend(_routes_in_matching_order(included.routes) if included else [route])
    return flat


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_no_route_is_shadowed_by_an_earlier_one(app_client: TestClient) -> None:
    app: Any = app_client.app
    routes = _routes_in_matching_order(app.router.routes)
    api_routes = [r for r in routes if isinstance(r, APIRoute) and r.include_in_schema]
    documented = app_client.get("/api/openapi.json").json()["paths"]
    # The walk found the whole API (a FastAPI change that hid the included routes would fail here).
    assert {r.path for r in api_routes} == set(documented)

    shadowed = []
    for position, route in enumerate(routes):
        if not isinstance(route, APIRoute):
            continue
        path = _concrete(route.path)
        for earlier in routes[:position]:
            if (
                isinstance(earlier, APIRoute)
                and earlier.path != route.path
                and earlier.methods & route.methods
                and earlier.path_regex.match(path)
            ):
                shadowed.append(f"{sorted(route.methods)} {route.path} ← {earlier.path}")
                break
    assert shadowed == []
