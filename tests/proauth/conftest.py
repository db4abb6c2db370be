"""Fixtures of the professionals' sign-in tests: directory professionals, an in-process OpenID
Connect provider (``oidc_provider.py``) and a live server configured to use it, with the
browser fixtures of ``tests/web``."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.models import Professional
from carnet.directory.service import directory_service
from carnet.proauth import oidc
from tests.proauth.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, running_provider
from tests.web.browser import free_port, live_server
from tests.web.conftest import browser, new_context, page  # noqa: F401 - browser fixtures

RPPS_MOREL = "10100000412"
RPPS_RETIRED = "10100000420"
RPPS_NEW = "10100000438"  # not in the directory
SIRET = "90000001900019"


@dataclass(frozen=True)
class Professionals:
    morel_id: int  # Claire Morel, GP, active
    retired_id: int  # Paul Durand, no longer active


@pytest.fixture
def professionals(db: Database) -> Professionals:
    place = [SIRET, "Cabinet", "Rennes"]
    lines = [
        [RPPS_MOREL, "8" + RPPS_MOREL, "Morel", "Claire", "10", "", *place, "1"],
        [RPPS_RETIRED, "8" + RPPS_RETIRED, "Durand", "Paul", "10", "", *place, "0"],
    ]
    text = ",".join(DIRECTORY_HEADER) + "\n" + "".join(",".join(x) + "\n" for x in lines)
    report = import_directory(db, io.StringIO(text, newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        morel = directory_service.professional_id_for_binding(s, RPPS_MOREL)
        retired = s.scalar(select(Professional.id).where(Professional.rpps == RPPS_RETIRED))
    assert retired is not None
    return Professionals(morel, retired)


@pytest.fixture(scope="session")
def pro_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def oidc_provider(pro_port: int) -> Iterator[OidcProvider]:
    with running_provider(f"http://localhost:{pro_port}{oidc.CALLBACK_PATH}") as provider:
        yield provider


@pytest.fixture(scope="session")
def pro_settings(database_url: str, pro_port: int, oidc_provider: OidcProvider) -> Settings:
    return Settings(
        card_webauthn_rp_id="localhost",
        card_webauthn_origin=f"http://localhost:{pro_port}",
        env="test",
        database_url=database_url,
        secret_key=os.environ["CARNET_SECRET_KEY"],
        log_json=False,
        log_level="WARNING",
        web_cookie_secure=True,
        pro_oidc_issuer=oidc_provider.issuer,
        pro_oidc_client_id=CLIENT_ID,
        pro_oidc_client_secret=CLIENT_SECRET,
        pro_oidc_acr_values="eidas1",
    )


@pytest.fixture(scope="session")
def base_url(pro_settings: Settings, database: Database, pro_port: int) -> Iterator[str]:
    """The live server of these tests: OpenID Connect on, passkeys bound to its origin."""
    with live_server(pro_settings, database, pro_port) as url:
        yield url
