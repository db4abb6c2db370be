"""Health, readiness, metrics, OpenAPI location, request ids and the error model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carnet import migrate
from carnet.db import Database

from ..conftest import TokenFactory


def test_models_and_migrations_agree(database: Database) -> None:
    assert migrate.pending_differences(database.engine) == []


def test_api_root_points_to_the_apis(app_client: TestClient) -> None:
    body = app_client.get("/api").json()
    assert body["openapi"] == "/api/openapi.json"
    assert app_client.get(body["fhir"]).json()["resourceType"] == "CapabilityStatement"


def test_healthz_and_readyz(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_metrics_count_requests_by_route_template(app_client: TestClient) -> None:
    app_client.get("/healthz")
    body = app_client.get("/metrics").text
    assert 'carnet_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_openapi_lives_under_api_and_docs_is_free(app_client: TestClient) -> None:
    spec = app_client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/ins/search" in spec.json()["paths"]
    assert app_client.get("/docs").status_code == 404


def test_request_id_is_echoed_or_generated(app_client: TestClient) -> None:
    given = app_client.get("/healthz", headers={"X-Request-ID": "abcdef12-3456"})
    assert given.headers["x-request-id"] == "abcdef12-3456"
    generated = app_client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 36


def test_malformed_json_is_a_400_with_a_message(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    response = app_client.post(
        "/api/v1/ins/search",
        content=b'{"birth_name": "DUPONT",',
        headers={**auth_headers("ins.read"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_wrong_types_are_a_422_naming_the_field(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    response = app_client.post(
        "/api/v1/ins/search",
        json={"birth_name": 12, "first_name": "JEAN", "sex": "M", "birth_date": "1980-01-01"},
        headers=auth_headers("ins.read"),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["field"] == "birth_name"


def test_unknown_route_is_a_json_404(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
