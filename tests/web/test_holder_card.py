"""The insured person's card pages in a real browser: activation from the web (identity, e-mail
code from the SMTP sink, passkey created by Chromium's virtual authenticator), refusals,
delegations given and received (a trusted person presents a child's card, a professional's
software reads it), the reading history, suspension (signed in, and after a lost phone), and
axe-core on every page state, in French and English.

These tests run their own live server, whose mail reaches this module's SMTP sink (the shared
live server sends no mail) and whose passkey origin is its own."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from carnet.cards.models import Card
from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from tests.apcv.conftest import CONTEXTS, RPPS_GP, SIRET_CABINET
from tests.cards.conftest import cover
from tests.cards.test_passkey import VerifyingAuthenticator, creation, passkey_code, to_json
from tests.conftest import TokenFactory
from tests.factories import add_person
from tests.web.authenticator import virtual_authenticator
from tests.web.browser import free_port, live_server
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.sessions import sign_in_as
from tests.web.test_card_journey import scan

API = "/api/v1/card"
PARIS = ZoneInfo("Europe/Paris")
LOCALES = ["fr-FR", "en-GB"]


# -- a live server whose mail reaches the sink ------------------------------------------------


@pytest.fixture(scope="module")
def holder_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    with MailSink(tmp_path_factory.mktemp("holder-mail"), "127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture(scope="module")
def holder_settings(web_settings: Settings, holder_mail: MailSink) -> Settings:
    port = free_port()
    return web_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": holder_mail.port,
            "card_webauthn_origin": f"http://localhost:{port}",
        }
    )


@pytest.fixture(scope="module")
def base_url(holder_settings: Settings, database: Database) -> Iterator[str]:
    port = int(holder_settings.card_webauthn_origin.rsplit(":", 1)[1])
    with live_server(holder_settings, database, port) as url:
        yield url


@pytest.fixture
def settings(holder_settings: Settings) -> Settings:
    """The API calls of these tests (``app_client``) use the live server's settings."""
    return holder_settings


def code_from(sink: MailSink, email: str) -> str:
    match = re.search(r"\b(\d{6})\b", sink.wait_for(email).text)
    assert match, "no 6-digit code in the message"
    return match.group(1)


def unique_email(name: str) -> str:
    """Each test's own address: the module's sink keeps the earlier tests' messages."""
    return f"{name}.{uuid.uuid4().hex[:10]}@exemple.fr"


# -- people, cards, a professional --------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    jeanne: Person
    lucas: Person  # her son, attached to her
    marc: Person  # a trusted person (his grandfather)


@pytest.fixture
def family(db: Database) -> Family:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        marc = add_person(
            s, birth_name="MARTIN", first_names="MARC", sex="M", birth_date="1952-01-20"
        )
        cover(s, jeanne, jeanne)
        cover(s, marc, marc)
        cover(s, lucas, jeanne)
    return Family(jeanne, lucas, marc)


@dataclass(frozen=True)
class PasskeyCard:
    person: Person
    device: VerifyingAuthenticator
    card_id: int
    email: str  # the account's address

    def identity(self) -> dict[str, int]:
        now = int(datetime.now(UTC).timestamp())
        return {"person_id": self.person.id, "card_id": self.card_id, "signed_in_at": now}


def activate_by_api(
    client: TestClient, sink: MailSink, settings: Settings, db: Database, person: Person
) -> PasskeyCard:
    """A passkey card activated through the API (as the journey test's)."""
    email = unique_email("api")
    started = client.post(
        f"{API}/activations",
        json={"nir": person.matricule, "birth_date": person.birth_date, "email": email},
    )
    assert started.status_code == 201, started.text
    activation_id = started.json()["activation_id"]
    confirmed = client.post(
        f"{API}/activations/{activation_id}/email-confirmation",
        json={"code": code_from(sink, email)},
    )
    assert confirmed.json()["state"] == "proofed", confirmed.text
    device = VerifyingAuthenticator()
    options = client.post(f"{API}/activations/{activation_id}/passkey/options").json()
    created = device.create(creation(options), settings.card_webauthn_origin)
    registered = client.post(
        f"{API}/activations/{activation_id}/passkey", json={"credential": to_json(created)}
    )
    assert registered.status_code == 201, registered.text
    with db.session() as s:
        card_id = s.scalar(select(Card.id).where(Card.person_id == person.id))
    assert card_id is not None
    return PasskeyCard(person, device, int(card_id), email)


@pytest.fixture
def jeanne_card(
    app_client: TestClient, holder_mail: MailSink, settings: Settings, db: Database, family: Family
) -> PasskeyCard:
    return activate_by_api(app_client, holder_mail, settings, db, family.jeanne)


@pytest.fixture
def marc_card(
    app_client: TestClient, holder_mail: MailSink, settings: Settings, db: Database, family: Family
) -> PasskeyCard:
    return activate_by_api(app_client, holder_mail, settings, db, family.marc)


@pytest.fixture
def gp_headers(db: Database, auth_headers: TokenFactory) -> dict[str, str]:
    """A GP in the directory (Claire Morel, Cabinet in Rennes) and their software (apcv)."""
    line = ",".join(
        [RPPS_GP, "8" + RPPS_GP, "Morel", "Claire", "10", "", SIRET_CABINET, "Cabinet", "Rennes",
         "1"]
    )  # fmt: skip
    text = ",".join(DIRECTORY_HEADER) + "\n" + line + "\n"
    report = import_directory(db, io.StringIO(text, newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        professional_id = directory_service.professional_id_for_binding(s, RPPS_GP)
    return auth_headers("apcv", professional_id=professional_id)


def read_card(client: TestClient, headers: dict[str, str], qr: str) -> dict[str, Any]:
    """The GP's software reads the card, then every beneficiary it opens (recorded readings)."""
    context = client.post(CONTEXTS, json={"qr": qr, "professional": {"rpps": RPPS_GP}},
                          headers=headers)  # fmt: skip
    assert context.status_code == 201, context.text
    body: dict[str, Any] = context.json()
    for beneficiary in body["beneficiaries"]:
        read = client.get(
            f"{CONTEXTS}/{body['context_id']}",
            params={"beneficiary": beneficiary["ref"]},
            headers=headers,
        )
        assert read.status_code == 200, read.text
    return body


def signed_in_page(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    card: PasskeyCard,
    locale: str = "fr-FR",
    *,
    with_passkey: bool = False,
) -> Page:
    context = new_context(locale=locale, viewport={"width": 390, "height": 900})
    sign_in_as(context, settings, base_url, card.identity())
    page = context.new_page()
    if with_passkey:
        virtual_authenticator(context, page, card.device)
    return page


def watch_errors(page: Page) -> list[str]:
    """Script errors and CSP violations (a refused form's 4xx answer is expected)."""
    problems: list[str] = []
    expected = "the server responded with a status of 4"
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and expected not in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


# -- activation from the web --------------------------------------------------------------------


def fill_identity(page: Page, person: Person, email: str, birth_date: str | None = None) -> None:
    year, month, day = (birth_date or person.birth_date).split("-")
    page.locator("#nir").fill(person.matricule)
    page.locator("#day").fill(day)
    page.locator("#month").fill(month)
    page.locator("#year").fill(year)
    page.locator("#email").fill(email)
    page.locator("#form-identite button[type=submit]").click()


@pytest.mark.parametrize("locale", LOCALES)
def test_activate_on_the_web_then_the_card_shows_its_qr(
    new_context: ContextFactory,
    holder_mail: MailSink,
    family: Family,
    app_client: TestClient,
    gp_headers: dict[str, str],
    locale: str,
) -> None:
    context = new_context(locale=locale, viewport={"width": 390, "height": 900})
    page = context.new_page()
    problems = watch_errors(page)
    virtual_authenticator(context, page)  # an empty authenticator: the passkey is created here
    page.goto("/carte")
    page.locator("a[href='/carte/activer']").first.click()
    expect(page).to_have_url(re.compile("/carte/activer$"))
    assert axe_violations(page) == []

    email = unique_email("jeanne")
    fill_identity(page, family.jeanne, email)
    expect(page).to_have_url(re.compile(r"/carte/activer/[A-Za-z0-9_-]{24}$"))
    expect(page.locator("#code")).to_be_visible()
    assert axe_violations(page) == []

    # A wrong code first: the attempts left are shown; then the right code.
    code = code_from(holder_mail, email)
    page.locator("#code").fill("000000" if code != "000000" else "111111")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#erreur")).to_contain_text("4")
    assert axe_violations(page) == []
    page.locator("#code").fill(code)
    page.locator("form button[type=submit]").click()
    expect(page.locator("#bouton-cle")).to_be_visible()
    assert axe_violations(page) == []

    page.locator("#bouton-cle").click()
    expect(page).to_have_url(re.compile("/carte/ma-carte$"))
    expect(page.locator("#beneficiaires li")).to_have_count(2)
    expect(page.locator("#carte-qr svg")).to_be_visible()
    expect(page.locator("nav.carnet-holder-nav a[aria-current=page]")).to_have_attribute(
        "href", "/carte/ma-carte"
    )
    assert axe_violations(page) == []
    # The QR code is a presentation code of the new card, which a professional can read.
    text = scan(page)
    assert card_qr.parse(text).token.purpose == card_qr.PURPOSE_PRESENTATION
    read = read_card(app_client, gp_headers, text)
    assert len(read["beneficiaries"]) == 2
    # The activation's page now says it is done (a reload or a second tab).
    page.go_back()
    page.reload()
    expect(page.locator("#bouton-cle")).to_have_count(0)
    assert problems == []


@pytest.mark.parametrize("locale", LOCALES)
def test_activation_refusals_have_clear_messages(
    new_context: ContextFactory, holder_mail: MailSink, family: Family, locale: str
) -> None:
    page = new_context(locale=locale).new_page()
    french = locale.startswith("fr")
    page.goto("/carte/activer")
    # A wrong birth date: the generic refusal (never says which detail is wrong).
    fill_identity(page, family.jeanne, unique_email("x"), birth_date="1985-04-13")
    expect(page.locator("#erreur")).to_contain_text(
        "ne correspondent à aucun assuré" if french else "do not match"
    )
    expect(page.locator("#nir")).to_have_value(family.jeanne.matricule)  # the form is kept
    assert axe_violations(page) == []
    # A malformed social-security number, a malformed date, a malformed address.
    page.locator("#nir").fill("12345")
    page.locator("#form-identite button[type=submit]").click()
    expect(page.locator("#erreur")).to_contain_text("15")
    page.locator("#nir").fill(family.jeanne.matricule)
    page.locator("#month").fill("13")
    page.locator("#form-identite button[type=submit]").click()
    expect(page.locator("#erreur")).to_contain_text("1985")
    page.locator("#month").fill("04")
    page.locator("#email").fill("pas-une-adresse")
    page.locator("#form-identite button[type=submit]").click()
    expect(page.locator("#erreur")).to_contain_text("@")
    assert axe_violations(page) == []

    # Too many wrong codes: the activation fails and must start again.
    email = unique_email("jeanne")
    fill_identity(page, family.jeanne, email)
    expect(page.locator("#code")).to_be_visible()
    activation_url = page.url
    code = code_from(holder_mail, email)
    wrong = "000000" if code != "000000" else "111111"
    page.locator("#code").fill("12ab")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#erreur")).to_contain_text("six")
    for _ in range(5):
        page.locator("#code").fill(wrong)
        page.locator("form button[type=submit]").click()
        expect(page.locator("#erreur")).to_be_visible()
    expect(page.locator("#code")).to_have_count(0)
    expect(
        page.get_by_role("link", name="Recommencer" if french else "Start again")
    ).to_be_visible()
    assert axe_violations(page) == []
    # The activation stays failed, and an unknown activation is a clear 404.
    page.goto(activation_url)
    expect(page.locator("#code")).to_have_count(0)
    expect(page.locator("#erreur")).to_be_visible()
    unknown = page.goto("/carte/activer/" + "A" * 24)
    assert unknown is not None
    assert unknown.status == 404
    expect(page.locator("#erreur")).to_be_visible()
    assert axe_violations(page) == []


def test_a_passkey_without_user_verification_is_refused(
    new_context: ContextFactory, holder_mail: MailSink, family: Family
) -> None:
    context = new_context()
    page = context.new_page()
    virtual_authenticator(context, page, user_verification=False)
    page.goto("/carte/activer")
    email = unique_email("jeanne")
    fill_identity(page, family.jeanne, email)
    page.locator("#code").fill(code_from(holder_mail, email))
    page.locator("form button[type=submit]").click()
    page.locator("#bouton-cle").click()
    expect(page.locator("#activation-message .fr-alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/carte/activer/[A-Za-z0-9_-]{24}$"))
    assert axe_violations(page) == []


def test_activation_routes_need_the_csrf_token(page: Page) -> None:
    page.goto("/carte/activer")
    assert page.request.post("/carte/activer", form={"nir": "1"}).status == 403
    token = page.evaluate(
        "() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
    )
    options = page.request.post(
        "/carte/activer/" + "B" * 24 + "/cle/options", headers={"X-CSRF-Token": token}
    )
    assert options.status == 404
    assert options.json()["message"]


# -- delegations --------------------------------------------------------------------------------


def test_delegate_a_child_card_then_the_trusted_person_presents_it(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    family: Family,
    jeanne_card: PasskeyCard,
    marc_card: PasskeyCard,
    app_client: TestClient,
    gp_headers: dict[str, str],
) -> None:
    jeanne = signed_in_page(new_context, settings, base_url, jeanne_card)
    problems = watch_errors(jeanne)
    jeanne.goto("/carte/ma-carte")
    jeanne.locator("nav.carnet-holder-nav").get_by_role("link", name="Délégations").click()
    expect(jeanne).to_have_url(re.compile("/carte/delegations$"))
    expect(jeanne.locator("#delegations-donnees")).to_have_count(0)
    assert axe_violations(jeanne) == []

    # Refusals: a person without a card, and oneself.
    until = (datetime.now(PARIS).date() + timedelta(days=7)).isoformat()
    jeanne.locator("#delegate_nir").fill(family.lucas.matricule)
    jeanne.locator("#beneficiary_nir").select_option(family.lucas.matricule)
    jeanne.locator("#end").fill(until)
    jeanne.locator("#form-delegation button[type=submit]").click()
    expect(jeanne.locator("#erreur-delegation")).to_contain_text("carte Carnet active")
    assert axe_violations(jeanne) == []
    jeanne.locator("#delegate_nir").fill(family.jeanne.matricule)
    jeanne.locator("#form-delegation button[type=submit]").click()
    expect(jeanne.locator("#erreur-delegation")).to_contain_text("propre carte")
    jeanne.locator("#delegate_nir").fill("not a number")
    jeanne.locator("#form-delegation button[type=submit]").click()
    expect(jeanne.locator("#erreur-delegation")).to_contain_text("15")

    # Lucas's card to Marc for a week.
    jeanne.locator("#delegate_nir").fill(family.marc.matricule)
    jeanne.locator("#beneficiary_nir").select_option(family.lucas.matricule)
    jeanne.locator("#end").fill(until)
    jeanne.locator("#form-delegation button[type=submit]").click()
    expect(jeanne).to_have_url(re.compile(r"/carte/delegations\?fait=creee$"))
    given = jeanne.locator("#delegations-donnees li")
    expect(given).to_have_count(1)
    expect(given.first).to_contain_text("Marc MARTIN")
    expect(given.first).to_contain_text("Lucas DUPONT")
    expect(given.first).to_contain_text("En cours")
    assert axe_violations(jeanne) == []

    # Marc signs in for real (his own passkey) and presents Lucas's card.
    context = new_context(viewport={"width": 390, "height": 900})
    marc = context.new_page()
    problems_marc = watch_errors(marc)
    virtual_authenticator(context, marc, marc_card.device)
    marc.goto("/carte/connexion")
    marc.get_by_role("button", name="Se connecter avec ma carte").click()
    expect(marc).to_have_url(re.compile("/carte/ma-carte$"))
    marc.locator("nav.carnet-holder-nav").get_by_role("link", name="Délégué à moi").click()
    received = marc.locator("#delegations-recues > li")
    expect(received).to_have_count(1)
    expect(received.first).to_contain_text("Carte de Lucas DUPONT")
    expect(received.first).to_contain_text("Jeanne DUPONT")
    assert axe_violations(marc) == []
    received.first.get_by_role("button", name="Présenter la carte de Lucas DUPONT").click()
    expect(marc.locator("#code-delegue svg")).to_be_visible()
    assert axe_violations(marc) == []
    text = scan(marc)
    token = card_qr.parse(text).token
    assert token.delegation_id is not None
    assert token.purpose == card_qr.PURPOSE_PRESENTATION
    read = read_card(app_client, gp_headers, text)
    assert [b["first_name"].upper() for b in read["beneficiaries"]] == ["LUCAS"]

    # Jeanne's history shows the reading: when, who, where, for whom, presented by Marc.
    jeanne.goto("/carte/historique")
    readings = jeanne.locator("#historique > li")
    expect(readings).to_have_count(1)
    expect(readings.first).to_contain_text("Claire Morel")
    expect(readings.first).to_contain_text("Cabinet")
    expect(readings.first).to_contain_text("Lucas Dupont")
    expect(readings.first).to_contain_text("Marc Martin")
    assert axe_violations(jeanne) == []
    # Marc's history shows it too, as presented by him.
    marc.goto("/carte/historique")
    expect(marc.locator("#historique > li").first).to_contain_text("par délégation")

    # Jeanne withdraws the delegation, after a confirmation.
    jeanne.goto("/carte/delegations")
    jeanne.get_by_role("link", name="Retirer la délégation à Marc MARTIN").click()
    expect(jeanne.locator("#confirmer-retrait")).to_be_visible()
    assert axe_violations(jeanne) == []
    jeanne.get_by_role("link", name="Annuler").click()
    expect(given.first).to_contain_text("En cours")
    jeanne.get_by_role("link", name="Retirer la délégation à Marc MARTIN").click()
    jeanne.locator("#confirmer-retrait").click()
    expect(jeanne).to_have_url(re.compile(r"/carte/delegations\?fait=retiree$"))
    expect(given.first).to_contain_text("Retirée")
    # Marc can no longer present it; the code he had is refused at the next reading.
    marc.goto("/carte/delegue-a-moi")
    expect(marc.locator("#delegations-recues > li").first).to_contain_text("Retirée")
    expect(marc.get_by_role("button", name=re.compile("Présenter"))).to_have_count(0)
    assert axe_violations(marc) == []
    assert problems == []
    assert problems_marc == []


def test_a_delegated_code_needs_the_delegates_own_passkey(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    family: Family,
    jeanne_card: PasskeyCard,
    marc_card: PasskeyCard,
    app_client: TestClient,
) -> None:
    # Jeanne delegates Lucas's card to Marc through the API (a holder session from a code).
    code = passkey_code(app_client, settings, jeanne_card.device, purpose=2).json()["code"]
    token = app_client.post(f"{API}/sessions", json={"code": code}).json()["access_token"]
    created = app_client.post(
        f"{API}/delegations",
        json={
            "delegate_nir": family.marc.matricule,
            "beneficiary_nir": family.lucas.matricule,
            "ends_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    delegation_id = created.json()["id"]
    # Marc is signed in, but the browser holds Jeanne's passkey, not his.
    context = new_context()
    sign_in_as(context, settings, base_url, marc_card.identity())
    page = context.new_page()
    virtual_authenticator(context, page, jeanne_card.device)
    page.goto("/carte/delegue-a-moi")
    page.get_by_role("button", name="Présenter la carte de Lucas DUPONT").click()
    expect(
        page.locator(f"#delegation-{delegation_id} [data-passkey-message] .fr-alert")
    ).to_be_visible()
    expect(page.locator("#code-delegue")).to_have_count(0)
    # Jeanne cannot present her own delegation as a delegate.
    jeanne = signed_in_page(new_context, settings, base_url, jeanne_card)
    jeanne.goto("/carte/delegue-a-moi")
    refused = jeanne.request.post(
        f"/carte/delegue-a-moi/{delegation_id}/code",
        headers={"X-CSRF-Token": jeanne.evaluate(
            "() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")},
        data={"credential": {"id": "x"}},
    )  # fmt: skip
    assert refused.status == 409
    assert refused.json()["message"]
    # A stranger's delegation id cannot be withdrawn.
    gone = jeanne.goto("/carte/delegations/999999/retirer")
    assert gone is not None
    assert gone.status == 404


# -- history, suspension ------------------------------------------------------------------------


def test_the_history_is_paginated(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    jeanne_card: PasskeyCard,
    app_client: TestClient,
    gp_headers: dict[str, str],
) -> None:
    page = signed_in_page(new_context, settings, base_url, jeanne_card)
    page.goto("/carte/historique")
    expect(page.locator("#historique")).to_have_count(0)
    assert axe_violations(page) == []
    for _ in range(11):  # two beneficiaries a reading: 22 readings
        read_card(app_client, gp_headers, passkey_code(app_client, settings, jeanne_card.device)
                  .json()["code"])  # fmt: skip
    page.goto("/carte/historique")
    expect(page.locator("#historique > li")).to_have_count(20)
    page.locator("#lectures-anciennes").click()
    expect(page).to_have_url(re.compile(r"/carte/historique\?avant=\d+$"))
    expect(page.locator("#historique > li")).to_have_count(2)
    expect(page.locator("#lectures-anciennes")).to_have_count(0)
    assert axe_violations(page) == []
    assert page.goto("/carte/historique?avant=abc") is not None
    expect(page.locator("#historique > li")).to_have_count(20)


@pytest.mark.parametrize("locale", LOCALES)
def test_suspend_the_card_from_the_web(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    jeanne_card: PasskeyCard,
    app_client: TestClient,
    locale: str,
) -> None:
    page = signed_in_page(new_context, settings, base_url, jeanne_card, locale)
    page.goto("/carte/ma-carte")
    page.locator("a[href='/carte/suspendre']").click()
    expect(page.locator("#confirmer-suspension")).to_be_visible()
    assert axe_violations(page) == []
    page.locator("#confirmer-suspension").click()
    expect(page.locator(".fr-alert--success")).to_be_visible()
    assert axe_violations(page) == []
    # The card no longer presents: neither the page's code nor a passkey code.
    page.goto("/carte/ma-carte")
    expect(page.locator("#carte-qr svg")).to_have_count(0)
    expect(page.locator("#carte-qr.fr-alert--error")).to_be_visible()
    assert axe_violations(page) == []
    refused = passkey_code(app_client, settings, jeanne_card.device)
    assert refused.json()["error"]["code"] == "card_suspended"
    page.goto("/carte/suspendre")
    expect(page.locator("#confirmer-suspension")).to_have_count(0)
    # Delegations cannot be given with a suspended card.
    page.goto("/carte/delegations")
    expect(page.locator("#form-delegation")).to_have_count(0)
    assert axe_violations(page) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_a_lost_phone_suspends_the_card_after_an_email_code(
    new_context: ContextFactory,
    holder_mail: MailSink,
    settings: Settings,
    family: Family,
    jeanne_card: PasskeyCard,
    app_client: TestClient,
    locale: str,
) -> None:
    page = new_context(locale=locale, viewport={"width": 390, "height": 900}).new_page()
    page.goto("/carte")
    page.locator("a[href='/carte/perte']").click()
    assert axe_violations(page) == []
    # Another address than the account's: the generic refusal.
    fill_identity(page, family.jeanne, unique_email("other"))
    expect(page.locator("#erreur")).to_be_visible()
    assert axe_violations(page) == []
    fill_identity(page, family.jeanne, jeanne_card.email)
    expect(page.locator("#code")).to_be_visible()
    assert axe_violations(page) == []
    page.locator("#code").fill(code_from(holder_mail, jeanne_card.email))
    page.locator("form button[type=submit]").click()
    expect(page.locator(".fr-alert--success")).to_be_visible()
    assert axe_violations(page) == []
    refused = passkey_code(app_client, settings, jeanne_card.device)
    assert refused.json()["error"]["code"] == "card_suspended"


# -- every signed-in page state, in French and English -------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_signed_in_pages_have_no_serious_violation(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    family: Family,
    jeanne_card: PasskeyCard,
    marc_card: PasskeyCard,
    locale: str,
) -> None:
    jeanne = signed_in_page(new_context, settings, base_url, jeanne_card, locale)
    for path in ["/carte/ma-carte", "/carte/delegue-a-moi", "/carte/delegations",
                 "/carte/historique", "/carte/suspendre"]:  # fmt: skip
        response = jeanne.goto(path)
        assert response is not None
        assert response.status == 200, path
        expect(jeanne.locator("nav.carnet-holder-nav a[href='/espace-sante']")).to_be_visible()
        assert axe_violations(jeanne) == [], path
    # A delegation given and received: both lists, the revoke confirmation, a code shown.
    jeanne.goto("/carte/delegations")
    until = (datetime.now(PARIS).date() + timedelta(days=3)).isoformat()
    jeanne.locator("#delegate_nir").fill(family.marc.matricule)
    jeanne.locator("#end").fill(until)
    jeanne.locator("#form-delegation button[type=submit]").click()
    expect(jeanne.locator("#delegations-donnees li")).to_have_count(1)
    assert axe_violations(jeanne) == []
    marc = signed_in_page(new_context, settings, base_url, marc_card, locale, with_passkey=True)
    marc.goto("/carte/delegue-a-moi")
    expect(marc.locator("#delegations-recues > li")).to_have_count(1)
    assert axe_violations(marc) == []
    marc.locator("#delegations-recues button[data-passkey-button]").click()
    expect(marc.locator("#code-delegue svg")).to_be_visible()
    assert axe_violations(marc) == []
    marc.locator("#delegations-recues a[href$='/retirer']").click()
    expect(marc.locator("#confirmer-retrait")).to_be_visible()
    assert axe_violations(marc) == []
    marc.locator("#confirmer-retrait").click()
    expect(marc).to_have_url(re.compile(r"/carte/delegue-a-moi\?fait=retiree$"))
    expect(marc.locator(".fr-alert--success")).to_be_visible()
    assert axe_violations(marc) == []


def test_holder_pages_need_a_signed_in_holder(page: Page) -> None:
    for path in ["/carte/delegue-a-moi", "/carte/delegations", "/carte/historique",
                 "/carte/suspendre"]:  # fmt: skip
        page.goto(path)
        expect(page).to_have_url(re.compile("/carte/connexion$"))
