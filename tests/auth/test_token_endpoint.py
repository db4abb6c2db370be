"""OAuth 2.0 client credentials: client_secret_basic, private_key_jwt, scopes, token checks."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from carnet.auth.models import OAuthClient
from carnet.auth.service import CLIENT_ASSERTION_TYPE, AuthService
from carnet.db import Database
from carnet.exceptions import Unauthorized

from ..conftest import TokenFactory

SEARCH = {"birth_name": "DUPONT", "first_name": "JEAN", "sex": "M", "birth_date": "1980-01-01"}


def _service(client: TestClient) -> AuthService:
    service: AuthService = client.app.state.auth_service  # type: ignore[attr-defined]
    return service


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_client_secret_basic_issues_a_short_lived_bearer_token(
    app_client: TestClient, db: Database
) -> None:
    with db.session() as s:
        created = _service(app_client).create_client(s, name="LPS", scopes=["ins.read"])
    assert created.client_secret is not None
    response = app_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(created.client_id, created.client_secret),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "ins.read"
    assert 0 < body["expires_in"] <= 600
    assert response.headers["cache-control"] == "no-store"


def test_secrets_are_stored_hashed(app_client: TestClient, db: Database) -> None:
    with db.session() as s:
        created = _service(app_client).create_client(s, name="LPS", scopes=["ins.read"])
        stored = s.query(OAuthClient).filter_by(client_id=created.client_id).one()
        assert created.client_secret is not None
        assert stored.secret_hash is not None
        assert created.client_secret not in stored.secret_hash


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_wrong_secret_is_invalid_client(app_client: TestClient, db: Database, secret: str) -> None:
    with db.session() as s:
        created = _service(app_client).create_client(s, name="LPS", scopes=["ins.read"])
    response = app_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(created.client_id, secret),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unsupported_grant_and_ungranted_scope(app_client: TestClient, db: Database) -> None:
    with db.session() as s:
        created = _service(app_client).create_client(s, name="LPS", scopes=["ins.read"])
    assert created.client_secret is not None
    headers = _basic(created.client_id, created.client_secret)
    grant = app_client.post("/oauth2/token", data={"grant_type": "password"}, headers=headers)
    assert grant.json()["error"] == "unsupported_grant_type"
    scope = app_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "ins.write"},
        headers=headers,
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"


def _ec_client(app_client: TestClient, db: Database) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False)
    public["kid"] = "k1"
    with db.session() as s:
        created = _service(app_client).create_client(
            s, name="HIS", scopes=["ins.read"], jwks={"keys": [public]}
        )
    return created.client_id, key


def _assertion(client_id: str, key: ECKey, audience: str, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)


def test_private_key_jwt_and_replay_refused(app_client: TestClient, db: Database) -> None:
    client_id, key = _ec_client(app_client, db)
    audience = _service(app_client).issuer + "/oauth2/token"
    assertion = _assertion(client_id, key, audience)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    first = app_client.post("/oauth2/token", data=form)
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    assert (
        app_client.post(
            "/api/v1/ins/search", json=SEARCH, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    replay = app_client.post("/oauth2/token", data=form)
    assert replay.status_code == 401
    assert "replay" in replay.json()["error_description"]


def test_private_key_jwt_signed_by_another_key_or_expired(
    app_client: TestClient, db: Database
) -> None:
    client_id, _key = _ec_client(app_client, db)
    audience = _service(app_client).issuer + "/oauth2/token"
    forged = _assertion(client_id, ECKey.generate_key("P-256"), audience)
    expired = _assertion(client_id, _key, audience, exp=int(time.time()) - 120)
    wrong_audience = _assertion(client_id, _key, "https://elsewhere.example")
    for assertion in (forged, expired, wrong_audience):
        response = app_client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        assert response.status_code == 401, assertion
        assert response.json()["error"] == "invalid_client"


def test_api_requires_a_token_with_the_right_scope(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    missing = app_client.post("/api/v1/ins/search", json=SEARCH)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    garbage = app_client.post(
        "/api/v1/ins/search", json=SEARCH, headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert garbage.status_code == 401
    wrong_scope = app_client.post(
        "/api/v1/ins/search", json=SEARCH, headers=auth_headers("audit.read")
    )
    assert wrong_scope.status_code == 403
    assert wrong_scope.json()["error"]["code"] == "insufficient_scope"


def test_tampered_token_is_refused(app_client: TestClient, auth_headers: TokenFactory) -> None:
    token = auth_headers("ins.read")["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "ins.read ins.write audit.read"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    response = app_client.post(
        "/api/v1/ins/search", json=SEARCH, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


def test_a_verified_token_is_remembered_until_it_expires_and_only_by_its_exact_text(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    token = auth_headers("ins.read")["Authorization"].split()[1]
    ok = app_client.post(
        "/api/v1/ins/search", json=SEARCH, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200  # now remembered by the service
    service = _service(app_client)
    now = datetime.now(UTC)
    assert service.verify_access_token(token, now).has("ins.read")
    # The same signature with a changed payload is another text: verified again, and refused.
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "ins.read ins.write"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        service.verify_access_token(f"{header}.{forged_payload}.{signature}", now)
    # Past its expiry (and the leeway) the remembered token is refused like any expired one.
    later = now + timedelta(seconds=int(claims["exp"]) - int(now.timestamp()) + 10)
    with pytest.raises(Unauthorized, match="expired"):
        service.verify_access_token(token, later)
    assert service.verify_access_token(token, now).has("ins.read")  # before expiry: still valid


def test_cli_creates_a_client_and_prints_its_credentials(database_url: str, db: Database) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "carnet",
            "clients",
            "create",
            "--name",
            "Cabinet",
            "--scope",
            "ins.read",
            "--scope",
            "identities.write",
        ],
        capture_output=True,
        text=True,
        env={**_env(), "CARNET_DATABASE_URL": database_url},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["client_id"].startswith("cli_")
    assert len(out["client_secret"]) >= 40
    assert out["scope"] == "identities.write ins.read"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "carnet",
            "clients",
            "create",
            "--name",
            "X",
            "--scope",
            "everything",
        ],
        capture_output=True,
        text=True,
        env={**_env(), "CARNET_DATABASE_URL": database_url},
        check=False,
    )
    assert bad.returncode != 0
    assert "unknown scope" in bad.stderr


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_cli_disables_and_enables_a_client(app_client: TestClient, database_url: str) -> None:
    env = {**_env(), "CARNET_DATABASE_URL": database_url}

    def carnet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "carnet", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    created = json.loads(carnet("clients", "create", "--name", "LPS", "--scope", "ins.read").stdout)
    headers = _basic(created["client_id"], created["client_secret"])
    form = {"grant_type": "client_credentials"}
    assert app_client.post("/oauth2/token", data=form, headers=headers).status_code == 200
    assert carnet("clients", "disable", created["client_id"]).returncode == 0
    refused = app_client.post("/oauth2/token", data=form, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert carnet("clients", "enable", created["client_id"]).returncode == 0
    assert app_client.post("/oauth2/token", data=form, headers=headers).status_code == 200
    unknown = carnet("clients", "disable", "cli_nobody")
    assert unknown.returncode == 1
    assert "no client" in unknown.stderr
