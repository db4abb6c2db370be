"""The insured person's journey in a real browser: sign in with the card's passkey (Chromium's
virtual authenticator, holding the credential registered through the API), see the card and the
children, scan the QR code from the screen, and a professional's software reads it
(``POST /api/v1/apcv/contexts``)."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Page, expect

from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from carnet.web.sessions import SessionCodec
from tests.apcv.conftest import CONTEXTS, RPPS_GP, SIRET_CABINET
from tests.cards.conftest import cover
from tests.cards.test_passkey import VerifyingAuthenticator, proofed_activation, register
from tests.conftest import TokenFactory
from tests.factories import add_person
from tests.web.authenticator import UnknownPasskey, virtual_authenticator
from tests.web.conftest import ContextFactory, axe_violations


@pytest.fixture
def settings(web_settings: Settings, mail_sink: MailSink) -> Settings:
    """The live server's settings (same secret and passkey origin), with the mail sink: the API
    calls of these tests (activation, professional) go through ``app_client``."""
    return web_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})


@dataclass(frozen=True)
class Family:
    jeanne: Person
    lucas: Person  # her son, attached to her


@pytest.fixture
def family(db: Database) -> Family:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        cover(s, jeanne, jeanne)
        cover(s, lucas, jeanne)
    return Family(jeanne, lucas)


@pytest.fixture
def passkey(
    app_client: TestClient, mail_sink: MailSink, family: Family, settings: Settings
) -> VerifyingAuthenticator:
    """Jeanne's passkey card, activated through the API (the device is a software
    authenticator whose private key the browser receives below)."""
    device = VerifyingAuthenticator()
    activation_id = proofed_activation(app_client, mail_sink, family.jeanne)
    registered = register(app_client, settings, activation_id, device)
    assert registered.status_code == 201, registered.text
    return device


@pytest.fixture
def gp_headers(db: Database, auth_headers: TokenFactory) -> dict[str, str]:
    """A GP in the directory and their software (scope apcv)."""
    line = ",".join(
        [
            RPPS_GP,
            "8" + RPPS_GP,
            "Morel",
            "Claire",
            "10",
            "",
            SIRET_CABINET,
            "Cabinet",
            "Rennes",
            "1",
        ]
    )
    text = ",".join(DIRECTORY_HEADER) + "\n" + line + "\n"
    report = import_directory(db, io.StringIO(text, newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        professional_id = directory_service.professional_id_for_binding(s, RPPS_GP)
    return auth_headers("apcv", professional_id=professional_id)


def scan(page: Page) -> str:
    """What a scanner reads from the QR code on the screen."""
    picture = Image.open(io.BytesIO(page.locator(".carnet-qr__image").screenshot()))
    found = zxingcpp.read_barcodes(picture)
    assert len(found) == 1
    return str(found[0].text)


def _csrf(page: Page) -> str:
    return str(
        page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    )


@pytest.fixture
def jeanne_page(new_context: ContextFactory, passkey: VerifyingAuthenticator) -> Page:
    context = new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    virtual_authenticator(context, page, passkey)
    return page


def sign_in(page: Page) -> None:
    page.goto("/carte")
    page.get_by_role("link", name="Se connecter avec ma carte").click()
    expect(page).to_have_url(re.compile("/carte/connexion$"))
    page.get_by_role("button", name="Se connecter avec ma carte").click()
    expect(page).to_have_url(re.compile("/carte/ma-carte$"))


def test_sign_in_show_the_card_and_a_professional_reads_it(
    jeanne_page: Page, family: Family, app_client: TestClient, gp_headers: dict[str, str]
) -> None:
    page = jeanne_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("/carte/connexion")
    anonymous_csrf = _csrf(page)
    sign_in(page)
    # The session was rotated at sign-in: a new CSRF token.
    assert _csrf(page) != anonymous_csrf
    expect(page.get_by_role("heading", level=1)).to_have_text("Ma carte")
    beneficiaries = page.locator("#beneficiaires li")
    expect(beneficiaries).to_have_count(2)
    expect(beneficiaries.nth(0)).to_contain_text("Jeanne DUPONT")
    expect(beneficiaries.nth(0)).to_contain_text("Titulaire")
    expect(beneficiaries.nth(1)).to_contain_text("Lucas DUPONT")
    expect(beneficiaries.nth(1)).to_contain_text("Enfant rattaché")
    expect(beneficiaries.nth(1)).to_contain_text("03/09/2016")
    qr = page.locator("#carte-qr")
    expect(qr).to_have_attribute("hx-trigger", "every 75s")
    assert axe_violations(page) == []

    text = scan(page)
    parsed = card_qr.parse(text)
    assert parsed.token.purpose == card_qr.PURPOSE_PRESENTATION
    assert parsed.token.expires_at - parsed.token.issued_at == 120
    context = app_client.post(
        CONTEXTS, json={"qr": text, "professional": {"rpps": RPPS_GP}}, headers=gp_headers
    )
    assert context.status_code == 201, context.text
    read = sorted(b["first_name"] for b in context.json()["beneficiaries"])
    assert read == ["JEANNE", "LUCAS"] or read == ["Jeanne", "Lucas"], read
    # The same code cannot be read twice.
    again = app_client.post(
        CONTEXTS, json={"qr": text, "professional": {"rpps": RPPS_GP}}, headers=gp_headers
    )
    assert again.json()["error"]["code"] == "qr_replayed"

    # The refresh htmx runs every 75 s: a new code replaces the QR (without a page load).
    page.evaluate("() => { window.__stayed = true; }")
    old = page.locator("#carte-qr svg").evaluate("e => e.outerHTML")
    page.evaluate(
        "() => htmx.ajax('POST', '/carte/ma-carte/code',"
        " {source: '#carte-qr', target: '#carte-qr', swap: 'outerHTML'})"
    )
    page.wait_for_function(
        "(old) => { const svg = document.querySelector('#carte-qr svg');"
        " return svg !== null && svg.outerHTML !== old; }",
        arg=old,
    )
    fresh = scan(page)
    assert fresh != text
    assert card_qr.parse(fresh).token.purpose == card_qr.PURPOSE_PRESENTATION
    assert page.evaluate("() => window.__stayed === true")
    read_fresh = app_client.post(
        CONTEXTS, json={"qr": fresh, "professional": {"rpps": RPPS_GP}}, headers=gp_headers
    )
    assert read_fresh.status_code == 201, read_fresh.text

    # Sign out: the card is no longer shown.
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile("/carte$"))
    page.goto("/carte/ma-carte")
    expect(page).to_have_url(re.compile("/carte/connexion$"))
    expect(page.get_by_role("button", name="Se connecter avec ma carte")).to_be_visible()
    assert problems == []  # no CSP violation, no script error


def test_sign_in_with_the_keyboard_in_english(
    new_context: ContextFactory, passkey: VerifyingAuthenticator
) -> None:
    context = new_context(locale="en-GB")
    page = context.new_page()
    virtual_authenticator(context, page, passkey)
    page.goto("/carte/connexion")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with my card")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "bouton-connexion":
            break
    else:
        pytest.fail("the sign-in button is not reachable with the keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("/carte/ma-carte$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My card")
    expect(page.locator("#beneficiaires li").nth(1)).to_contain_text("Attached child")
    assert axe_violations(page) == []


def test_an_unknown_passkey_is_refused_with_a_message(
    new_context: ContextFactory, passkey: VerifyingAuthenticator
) -> None:
    context = new_context()
    page = context.new_page()
    # An authenticator without Jeanne's passkey, holding one the platform never registered.
    cdp = virtual_authenticator(context, page, UnknownPasskey())
    page.goto("/carte/connexion")
    page.get_by_role("button", name="Se connecter avec ma carte").click()
    expect(page.locator("#connexion-message")).to_contain_text("La connexion n’a pas abouti")
    expect(page).to_have_url(re.compile("/carte/connexion$"))
    assert axe_violations(page) == []
    cdp.detach()
    page.goto("/carte/ma-carte")
    expect(page).to_have_url(re.compile("/carte/connexion$"))


def test_sign_in_routes_need_the_csrf_token_and_a_session(page: Page) -> None:
    page.goto("/carte/connexion")
    assert page.request.post("/carte/connexion/options").status == 403
    token = _csrf(page)
    options = page.request.post("/carte/connexion/options", headers={"X-CSRF-Token": token})
    assert options.status == 200
    assert options.json()["userVerification"] == "required"
    refused = page.request.post(
        "/carte/connexion",
        headers={"X-CSRF-Token": token},
        data={"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}},
    )
    assert refused.status == 401
    assert refused.json()["error"] == "passkey_refused"
    # No code without a signed-in holder: htmx is sent to the sign-in page.
    code = page.request.post("/carte/ma-carte/code", headers={"X-CSRF-Token": token})
    assert code.headers.get("hx-redirect") == "/carte/connexion"


def test_the_code_stops_renewing_thirty_minutes_after_sign_in(
    jeanne_page: Page, web_settings: Settings
) -> None:
    page = jeanne_page
    sign_in(page)
    expect(page.locator("#carte-qr svg")).to_be_visible()
    # The same session, signed in 31 minutes ago (the polling page kept it alive).
    codec = SessionCodec(web_settings)
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-carnet_session")
    now = int(time.time())
    session = codec.load(cookie["value"], now)
    session.identity["signed_in_at"] = now - 31 * 60
    page.context.add_cookies([{**cookie, "value": codec.dump(session)}])  # type: ignore[list-item]
    page.evaluate(
        "() => htmx.ajax('POST', '/carte/ma-carte/code',"
        " {source: '#carte-qr', target: '#carte-qr', swap: 'outerHTML'})"
    )
    expect(page.locator("#carte-qr")).to_contain_text("Reconnectez-vous")
    expect(page.locator("#carte-qr svg")).to_have_count(0)
    expect(page.locator("#carte-qr")).not_to_have_attribute("hx-trigger", re.compile("every"))
    assert axe_violations(page) == []
    # Signing in again (a new ceremony) shows a code again.
    page.locator("#carte-qr").get_by_role("link", name="Se connecter avec ma carte").click()
    page.get_by_role("button", name="Se connecter avec ma carte").click()
    expect(page).to_have_url(re.compile("/carte/ma-carte$"))
    expect(page.locator("#carte-qr svg")).to_be_visible()
