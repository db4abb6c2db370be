"""Test fixtures: a real database (SQLite file or PostgreSQL), migrated once per worker.

The suite runs twice in ``make test``: on SQLite, then on PostgreSQL with
``CARNET_TEST_DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/carnet_test). A
PostgreSQL that cannot be reached is an error, never a skip. Each test starts from empty tables.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="carnet-tests-"))
os.environ["CARNET_ENV"] = "test"
os.environ["CARNET_SECRET_KEY"] = "test-secret-key-not-for-production-0123456789"
os.environ.setdefault("CARNET_DATA_DIR", str(_TMP / "data"))
os.environ["CARNET_LOG_JSON"] = "false"
os.environ["CARNET_LOG_LEVEL"] = "WARNING"

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from carnet import migrate  # noqa: E402
from carnet.config import Settings, normalise_database_url  # noqa: E402
from carnet.db import Database  # noqa: E402
from carnet.main import create_app  # noqa: E402
from carnet.models import Base  # noqa: E402


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _test_database_url() -> str:
    configured = os.environ.get("CARNET_TEST_DATABASE_URL")
    if not configured:
        return f"sqlite:///{_TMP / ('carnet-' + _worker_suffix() + '.db')}"
    url = make_url(normalise_database_url(configured))
    if url.get_backend_name() != "postgresql":
        return configured
    # One database per xdist worker, recreated from scratch for each run.
    name = f"{url.database or 'carnet_test'}_{_worker_suffix()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)}: {exc}. "
            "Start it (.ci/run does) or unset CARNET_TEST_DATABASE_URL to test on SQLite only."
        ) from exc
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = _test_database_url()
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url, pool_size=5)
    yield db
    db.dispose()


def _empty_all_tables(db: Database) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def db(database: Database) -> Database:
    """The test database, emptied before each test."""
    _empty_all_tables(database)
    return database


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=os.environ["CARNET_SECRET_KEY"],
        log_json=False,
        log_level="WARNING",
    )


@pytest.fixture
def app_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def auth_headers(app_client: TestClient, db: Database) -> TokenFactory:
    """Register a client with the given scopes and return Authorization headers for it."""
    from carnet.auth.service import AuthService

    def make(
        *scopes: str, structure_id: int | None = None, professional_id: int | None = None
    ) -> dict[str, str]:
        service: AuthService = app_client.app.state.auth_service  # type: ignore[attr-defined]
        with db.session() as s:
            created = service.create_client(
                s,
                name="test software",
                scopes=list(scopes),
                structure_id=structure_id,
                professional_id=professional_id,
            )
        basic = base64.b64encode(f"{created.client_id}:{created.client_secret}".encode()).decode()
        response = app_client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


HolderHeaders = Callable[[int], dict[str, str]]


@pytest.fixture
def holder_headers(app_client: TestClient) -> HolderHeaders:
    """Authorization headers of a signed-in card holder (scope ``holder``) for a person key.

    The token is the one ``POST /api/v1/card/sessions`` issues after a card presentation; tests
    of the health space mint it directly (card_id 0: no card) rather than activate a card.
    """
    from datetime import UTC, datetime

    from carnet.auth.service import AuthService

    def make(person_id: int) -> dict[str, str]:
        service: AuthService = app_client.app.state.auth_service  # type: ignore[attr-defined]
        token = service.issue_holder_token(person_id=person_id, card_id=0, now=datetime.now(UTC))
        return {"Authorization": f"Bearer {token['access_token']}"}

    return make


# -- mail (carnet.mail) -----------------------------------------------------------------------
from carnet.mail.sink import MailSink  # noqa: E402


@pytest.fixture
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    """A real SMTP server (``carnet.mail.sink.MailSink``) on an ephemeral port, for one test.

    - ``mail_sink.port``: the bound port;
    - ``mail_sink.messages()``: the ``StoredMessage``s received, oldest first;
    - ``mail_sink.wait_for(to, timeout=5)``: the newest message to ``to`` (case-insensitive),
      polling; ``TimeoutError`` if none arrives. ``StoredMessage`` has ``id, received_at, sender,
      to, recipients, subject, text, message_id, headers``.

    To make the application's mail reach it, use ``mail_settings``: override ``settings`` in the
    test module (or the domain's ``conftest.py``) and ``app_client``/``auth_headers`` follow::

        @pytest.fixture
        def settings(mail_settings: Settings) -> Settings:
            return mail_settings

        def test_code_arrives(app_client, auth_headers, mail_sink):
            ...  # an API call that sends mail
            code = re.search(r"\\d{6}", mail_sink.wait_for("jeanne@example.org").text)
    """
    with MailSink(tmp_path_factory.mktemp("mail"), "127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture
def mail_settings(settings: Settings, mail_sink: MailSink) -> Settings:
    """``settings`` whose SMTP server is ``mail_sink`` (``MailService.from_settings`` uses it)."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})
