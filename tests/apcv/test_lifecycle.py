"""Contexts expire by themselves; expired ones are purged by a command, readings stay. The
signing key: created on first use outside production, refused to appear by itself in production.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import func, select, update

from carnet.apcv.models import ApcvContext, CardReading
from carnet.config import Settings
from carnet.db import Database
from carnet.kit import signing_keys
from carnet.main import create_app

from .conftest import CONTEXTS, SECRET, Activate, Family, gp_ref, now


def _carnet(database_url: str, data_dir: Path, *args: str, env: str = "test") -> Any:
    return subprocess.run(
        [sys.executable, "-m", "carnet", *args],
        capture_output=True,
        text=True,
        env=os.environ
        | {
            "CARNET_DATABASE_URL": database_url,
            "CARNET_DATA_DIR": str(data_dir),
            "CARNET_ENV": env,
        },
        timeout=120,
        check=False,
    )


def _open_and_read(client: TestClient, headers: dict[str, str], qr: str) -> tuple[str, str]:
    response = client.post(CONTEXTS, json={"qr": qr, "professional": gp_ref()}, headers=headers)
    assert response.status_code == 201, response.text
    context = response.json()
    ref = context["beneficiaries"][0]["ref"]
    read = client.get(
        f"{CONTEXTS}/{context['context_id']}", params={"beneficiary": ref}, headers=headers
    )
    assert read.status_code == 200
    return context["context_id"], ref


def test_contexts_expire_and_are_purged_but_readings_stay(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
    db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    wallet = activate(family.jeanne)
    old_id, ref = _open_and_read(app_client, gp_headers, wallet.present(SECRET))
    fresh_id, _ = _open_and_read(app_client, gp_headers, wallet.present(SECRET))
    # Two hours pass for the first context (settings.apcv_context_ttl_seconds is 10 minutes).
    with db.session() as s:
        s.execute(
            update(ApcvContext)
            .where(ApcvContext.public_id == old_id)
            .values(
                created_at=now() - timedelta(hours=2),
                expires_at=now() - timedelta(hours=2) + timedelta(minutes=10),
            )
        )
    expired = app_client.get(
        f"{CONTEXTS}/{old_id}", params={"beneficiary": ref}, headers=gp_headers
    )
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "context_expired")

    kept = _carnet(database_url, tmp_path, "apcv", "purge-expired", "--older-than-hours", "2")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout) == {"deleted": 0}  # ended 1 h 50 ago: kept a little longer
    purged = _carnet(database_url, tmp_path, "apcv", "purge-expired", "--older-than-hours", "1")
    assert json.loads(purged.stdout) == {"deleted": 1}
    with db.session() as s:
        remaining = s.scalars(select(ApcvContext.public_id)).all()
        readings = s.scalar(select(func.count()).select_from(CardReading))
    assert remaining == [fresh_id]
    assert readings == 2
    gone = app_client.get(f"{CONTEXTS}/{old_id}", params={"beneficiary": ref}, headers=gp_headers)
    assert gone.status_code == 404


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    signing_keys.clear_cache()
    yield
    signing_keys.clear_cache()


def test_signing_key_is_created_once_with_its_thumbprint_as_kid(
    tmp_path: Path, fresh_keys: None
) -> None:
    key = signing_keys.signing_key(tmp_path, "apcv-invoice", env="development")
    assert key.path == tmp_path / "keys" / "apcv-invoice.pem"
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    # RFC 7638 thumbprint, computed independently from the public JWK.
    public = key.public_jwk()
    assert (
        public["kid"]
        == ECKey.import_key({k: public[k] for k in ("kty", "crv", "x", "y")}).thumbprint()
    )
    assert "d" not in public
    assert public["alg"] == "ES256"
    signing_keys.clear_cache()
    again = signing_keys.signing_key(tmp_path, "apcv-invoice", env="development")
    assert again.kid == key.kid  # read back, not replaced

    # A retired key stays published (signatures made before a rotation still verify).
    key.path.rename(tmp_path / "keys" / "apcv-invoice.retired-2026.pem")
    signing_keys.clear_cache()
    rotated = signing_keys.jwks(tmp_path, "apcv-invoice", env="test")
    assert [k["kid"] for k in rotated["keys"]][1:] == [key.kid]
    assert rotated["keys"][0]["kid"] != key.kid

    with pytest.raises(ValueError, match="invalid signing key name"):
        signing_keys.key_path(tmp_path, "../escape")


def test_production_never_creates_the_key_by_itself(
    tmp_path: Path, settings: Settings, db: Database, database_url: str, fresh_keys: None
) -> None:
    with pytest.raises(signing_keys.SigningKeyMissing) as missing:
        signing_keys.signing_key(tmp_path, "apcv-invoice", env="production")
    assert str(tmp_path / "keys" / "apcv-invoice.pem") in str(missing.value)
    assert not (tmp_path / "keys" / "apcv-invoice.pem").exists()

    production = settings.model_copy(update={"env": "production", "data_dir": tmp_path})
    with TestClient(create_app(production, db), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/apcv/jwks")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "signing_key_unavailable"
        assert "apcv-invoice.pem" in error["message"]

        # The operator provisions it with the command; then the key is published.
        created = _carnet(database_url, tmp_path, "apcv", "signing-key", "create", env="test")
        assert created.returncode == 0, created.stderr
        kid = json.loads(created.stdout)["kid"]
        published = client.get("/api/v1/apcv/jwks")
        assert published.status_code == 200
        assert [k["kid"] for k in published.json()["keys"]] == [kid]
        assert published.headers["cache-control"].startswith("public")

    # A file that is not an EC private key is refused with a clear message.
    bad = tmp_path / "bad"
    (bad / "keys").mkdir(parents=True)
    (bad / "keys" / "apcv-invoice.pem").write_text("not a key")
    shown = _carnet(database_url, bad, "apcv", "signing-key", "show")
    assert shown.returncode == 1
    assert "not a PEM EC private key" in shown.stderr
