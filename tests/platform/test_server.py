"""The real server: `carnet db upgrade`, `carnet serve`, JSON logs with request ids, no secrets."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from carnet.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _carnet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": f"sqlite:///{tmp_path / 'carnet.db'}",
        "CARNET_LOG_JSON": "true",
        "CARNET_LOG_LEVEL": "INFO",
    }
    upgrade = _carnet("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "carnet", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, env, log_path
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_answers_and_logs_json_lines_with_request_ids_and_no_secret(
    server: tuple[str, dict[str, str], Path],
) -> None:
    base, env, log_path = server
    created = _carnet("clients", "create", "--name", "LPS", "--scope", "ins.read", env=env)
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout)
    token = httpx.post(
        base + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert token.status_code == 200
    access_token = token.json()["access_token"]
    search = httpx.post(
        base + "/api/v1/ins/search",
        json={"birth_name": "DUPONT", "first_name": "JEAN", "sex": "M", "birth_date": "1980-03-12"},
        headers={"Authorization": f"Bearer {access_token}", "X-Request-ID": "req-test-0001"},
    )
    assert search.status_code == 200
    assert search.json()["code"] == "01"
    time.sleep(0.3)  # let the access log line reach the file
    text = log_path.read_text()
    assert credentials["client_secret"] not in text
    assert access_token not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    search_logs = [r for r in records if r.get("path") == "/api/v1/ins/search"]
    assert search_logs, text
    assert search_logs[0]["request_id"] == "req-test-0001"
    assert search_logs[0]["status"] == 200
    assert search_logs[0]["actor"] == f"client:{credentials['client_id']}"


def test_production_refuses_placeholder_secret() -> None:
    with pytest.raises(ValueError, match="CARNET_SECRET_KEY"):
        Settings(env="production", secret_key="dev-only-insecure-secret-change-me")
    with pytest.raises(ValueError, match="at least 32"):
        Settings(env="production", secret_key="short")
    with pytest.raises(ValueError, match="CARNET_SPACE_MASTER_KEY"):
        Settings(env="production", secret_key="x" * 40)
    master_key = base64.b64encode(bytes(32)).decode()
    settings = Settings(env="production", secret_key="x" * 40, space_master_key=master_key)
    assert settings.env == "production"


def test_cli_refuses_to_start_in_production_with_the_placeholder(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CARNET_ENV": "production",
        "CARNET_SECRET_KEY": "dev-only-insecure-secret-change-me",
        "CARNET_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
    }
    result = _carnet("db", "upgrade", env=env)
    assert result.returncode != 0
    assert "CARNET_SECRET_KEY" in result.stderr
