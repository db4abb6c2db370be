"""Every API route, found from the OpenAPI description, refuses a missing token (401) and a token
without its scope (403). A new route cannot be added unprotected without failing this test."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ..conftest import TokenFactory

# Routes that are public on purpose.
PUBLIC = {
    ("POST", "/oauth2/token"),
    ("GET", "/fhir/metadata"),
    ("GET", "/fhir/structures/{structure_id}/metadata"),
    # The public key of invoice signatures: anyone (a fund, an auditor) must verify them.
    ("GET", "/api/v1/apcv/jwks"),
    # Card activation: the person has no card (hence no token) yet; NIR + birth date + e-mail
    # code stand in for authentication, and refusals never say which one failed.
    ("POST", "/api/v1/card/activations"),
    ("GET", "/api/v1/card/activations/{activation_id}"),
    ("POST", "/api/v1/card/activations/{activation_id}/email-confirmation"),
    ("POST", "/api/v1/card/activations/{activation_id}/device"),
    # Lost phone: the holder has no device left to sign in with; the account's e-mail code.
    ("POST", "/api/v1/card/lost"),
    ("POST", "/api/v1/card/lost/{activation_id}/confirmation"),
    # Signing in with the card: the signed code (device + secret code) is the credential.
    ("POST", "/api/v1/card/sessions"),
    # Passkey cards (web app): binding a passkey to a proofed activation, and exchanging an
    # assertion with user verification (the credential itself) for a platform-signed code.
    ("POST", "/api/v1/card/activations/{activation_id}/passkey/options"),
    ("POST", "/api/v1/card/activations/{activation_id}/passkey"),
    ("POST", "/api/v1/card/passkey/options"),
    ("POST", "/api/v1/card/passkey/codes"),
}


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/api/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(routes) > 20, routes  # the whole API, not an empty spec
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_needs_a_token(app_client: TestClient) -> None:
    unprotected = []
    for method, path in _api_routes(app_client):
        if (method, path) in PUBLIC:
            continue
        response = app_client.request(method, _concrete(path), json={})
        if response.status_code != 401:
            unprotected.append((method, path, response.status_code))
    assert unprotected == []


def test_every_route_needs_its_scope(app_client: TestClient, auth_headers: TokenFactory) -> None:
    audit_only = auth_headers("audit.read")
    register_only = auth_headers("ins.read")
    wrong = []
    for method, path in _api_routes(app_client):
        if (method, path) in PUBLIC:
            continue
        headers = register_only if "AuditEvent" in path else audit_only
        response = app_client.request(method, _concrete(path), json={}, headers=headers)
        if response.status_code != 403:
            wrong.append((method, path, response.status_code))
    assert wrong == []
