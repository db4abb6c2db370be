"""``bench/register_load.py``: the register it generates into PostgreSQL is the one the importer
writes from the same population, and the searches it draws answer as it says.

A PostgreSQL tool (COPY): it runs on PostgreSQL in both halves of the suite (.ci/run starts the
server before the tests), next to the SQLite test database when that is the one under test.
"""

from __future__ import annotations

import base64
import collections
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from carnet import migrate
from carnet.config import Settings, normalise_database_url
from carnet.db import Database
from carnet.demo.loader import write_population
from carnet.identity.importer import import_register
from carnet.main import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import register_load

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/carnet_test"
REGISTER = (
    "SELECT matricule, kind, birth_name, first_names, sex, birth_date, birth_place, used_name,"
    " used_first_name, death_date, version FROM persons ORDER BY matricule"
)
HISTORY = (
    "SELECT p.matricule, h.matricule, h.kind FROM ins_history h"
    " JOIN persons p ON p.id = h.person_id ORDER BY 1, 2"
)
INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'persons' ORDER BY 1"


def _server() -> Any:
    configured = os.environ.get("CARNET_TEST_DATABASE_URL", "")
    return make_url(normalise_database_url(configured if "postgres" in configured else DEFAULT_PG))


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    base = _server()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    names = [f"{base.database}_register_{kind}_{worker}" for kind in ("generated", "imported")]
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        generated, imported = (
            base.set(database=name).render_as_string(hide_password=False) for name in names
        )
        yield generated, imported
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_the_generated_register_is_the_imported_one_and_its_searches_hold(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    generated, imported = two_databases
    size, seed = 3_000, 9
    counts = {"existing": 40, "absent": 10, "homonyms": 5}
    said: list[str] = []
    steps, queries = register_load.load_register(
        generated, size, seed, counts, workers=2, progress=said.append
    )
    assert set(steps) >= {"generate and COPY", "indexes", "vacuum and analyse", "total"}
    assert any(f"{size:,} / {size:,} persons" in line for line in said)

    population = tmp_path / "population.csv"
    write_population(population, size, seed)
    migrate.upgrade(imported)
    database = Database(imported, pool_size=1)
    try:
        assert import_register(database, population).committed
    finally:
        database.dispose()

    register = _rows(generated, REGISTER)
    assert len(register) == size
    assert register == _rows(imported, REGISTER)
    history = _rows(generated, HISTORY)
    assert history  # NIRs that replaced a NIA
    assert history == _rows(imported, HISTORY)
    assert _rows(generated, INDEXES) == _rows(imported, INDEXES)  # dropped, then built again

    assert collections.Counter(q["category"] for q in queries) == counts
    settings = Settings(
        env="test",
        database_url=generated,
        secret_key=os.environ["CARNET_SECRET_KEY"],
        log_json=False,
        log_level="WARNING",
    )
    database = Database(generated, pool_size=2)
    try:
        client_id, secret = _client(database, settings)
        with TestClient(create_app(settings, database)) as client:
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            token = client.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            for query in queries:
                answer = client.post("/api/v1/ins/search", json=query["body"], headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.json()["code"] == query["expected"], query
    finally:
        database.dispose()


def _client(database: Database, settings: Settings) -> tuple[str, str]:
    from carnet.auth.service import AuthService

    auth = AuthService(settings.secret_key, "http://testserver", 3600, 300)
    with database.session() as session:
        created = auth.create_client(session, name="register load test", scopes=["ins.read"])
    assert created.client_secret is not None
    return created.client_id, created.client_secret


def test_the_suite_measures_a_generated_register(tmp_path: Path) -> None:
    """``bench/suite.py --register-load generate`` end to end, tiny: every benchmark measured,
    every answer checked as expected (the suite creates and drops its database)."""
    base = _server()
    name = f"{base.database}_suite_generated_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    url = base.set(drivername="postgresql", database=name)
    command = [
        sys.executable, str(Path(register_load.__file__).parent / "suite.py"), "--quick",
        "--backends", "postgresql", "--register-load", "generate", "--size", "4000",
        "--documents", "2000", "--cards", "200", "--queries", "300", "--check", "30",
        "--duration", "1", "--warmup", "1", "--connections", "4", "--threads", "1",
        "--workers", "1", "--pg-url", url.render_as_string(hide_password=False),
        "--work-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines() if "| 4,000" in line]
    assert rows[:4] == [
        "INS lookup",
        "INS lookup, bare ASGI",
        "FHIR $match",
        "card context with rights",
    ]
    assert "persons/s generated into the register" in result.stdout
    checks = re.findall(r"(lookup|\$match|cards|bare) (\d+)/(\d+)", result.stdout)
    assert {kind for kind, _, _ in checks} == {"lookup", "$match", "cards", "bare"}
    assert all(good == checked and int(checked) > 0 for _, good, checked in checks), checks
