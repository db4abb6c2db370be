"""Browser fixtures: one live server and one Chromium per test worker; a fresh browser context
(cookies, language) per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, Page

from carnet.config import Settings
from carnet.db import Database
from carnet.kit import card_qr
from tests.web.browser import AXE, free_port, live_server, shared_browser

# The pages of the portals (GET, HTML). test_accessibility checks that this list covers every
# page route, and runs axe-core on each.
PAGES = [
    "/",
    "/carte",
    "/carte/connexion",
    "/carte/ma-carte",
    "/pro",
    "/pro/connexion",
    "/pro/connexion/oidc",
    "/pro/connexion/oidc/retour",
    "/pro/compte",
    "/carte/activer",
    "/carte/perte",
    "/carte/delegue-a-moi",
    "/carte/delegations",
    "/carte/historique",
    "/carte/suspendre",
    "/gestion",
    "/gestion/connexion",
    "/gestion/personnes",
    "/gestion/audit",
    "/gestion/tableau-de-bord",
    "/gestion/agents",
    "/accessibilite",
    "/espace-sante",
    "/espace-sante/documents",
    "/espace-sante/profil",
    "/espace-sante/historique",
    "/espace-sante/confidentialite",
]


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def web_settings(database_url: str, web_port: int) -> Settings:
    # Passkeys are bound to the live server's origin (http://localhost is a secure context).
    return Settings(
        card_webauthn_rp_id="localhost",
        card_webauthn_origin=f"http://localhost:{web_port}",
        env="test",
        database_url=database_url,
        secret_key=os.environ["CARNET_SECRET_KEY"],
        log_json=False,
        log_level="WARNING",
        web_cookie_secure=True,
    )


@pytest.fixture(scope="session")
def base_url(web_settings: Settings, database: Database, web_port: int) -> Iterator[str]:
    with live_server(web_settings, database, web_port) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Browser:
    return shared_browser()


ContextFactory = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser, base_url: str) -> Iterator[ContextFactory]:
    contexts: list[BrowserContext] = []

    def make(locale: str = "fr-FR", **options: Any) -> BrowserContext:
        context = browser.new_context(base_url=base_url, locale=locale, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: ContextFactory) -> Page:
    """A page in a French-speaking browser (Accept-Language fr-FR)."""
    return new_context().new_page()


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core (from npm) on the page; the violations of the given impacts, readable."""
    # Evaluated through the DevTools protocol: the page's CSP (no inline script) stays on.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def card_code(purpose: int, expires_in: int) -> str:
    """A well-formed card code signed by an unknown key (the web form checks the form only)."""
    now = int(datetime.now(UTC).timestamp())
    token = card_qr.CardToken(
        card_number=123456789,
        issued_at=now,
        expires_at=now + expires_in,
        nonce=os.urandom(card_qr.NONCE_BYTES),
        purpose=purpose,
    )
    return card_qr.encode(token, b"kid12345", ec.generate_private_key(ec.SECP256R1()))
