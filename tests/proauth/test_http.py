"""The sign-in routes over HTTP (no browser): CSRF, OpenID Connect off by default, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.main import create_app


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """Over https, as the Secure session cookie needs (OpenID Connect not configured)."""
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as c:
        yield c


def test_unsafe_routes_need_the_csrf_token(client: TestClient) -> None:
    client.get("/pro/connexion")
    for path in ("/pro/connexion/options", "/pro/connexion", "/pro/deconnexion"):
        assert client.post(path, json={}).status_code == 403, path


def test_oidc_is_off_without_an_issuer(client: TestClient) -> None:
    page = client.get("/pro/connexion")
    assert page.status_code == 200
    assert "Se connecter avec une clé d’accès" in page.text
    assert 'href="/pro/connexion/oidc"' not in page.text
    assert client.get("/pro/connexion/oidc", follow_redirects=False).status_code == 404
    assert client.get("/pro/connexion/oidc/retour?code=a&state=b").status_code == 404


def test_enrolment_with_an_unknown_token(client: TestClient) -> None:
    page = client.get("/pro/enrolement/unknown")
    assert page.status_code == 410
    csrf = page.text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
    options = client.post("/pro/enrolement/unknown/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 410
    assert options.json()["error"] == "invitation_invalid"
