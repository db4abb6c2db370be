"""Professionals signing in to the portal in a real browser: OpenID Connect against an
in-process provider issuing Pro Santé Connect claims, passkey enrolment from an invitation and
passkey sign-in (Chromium's virtual authenticator), the account page, sign-out, refusals, and
axe-core on every page of the sign-in in French and English."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.proauth.models import ProPasskey
from carnet.proauth.service import proauth_service
from carnet.web.pro_session import ProSession, session_identity
from tests.proauth.conftest import RPPS_MOREL, RPPS_NEW, Professionals
from tests.proauth.oidc_provider import OidcProvider, psc_claims
from tests.web.authenticator import UnknownPasskey, virtual_authenticator
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.sessions import sign_in_as

LOCALES = ["fr-FR", "en-GB"]


def invite(db: Database, settings: Settings, *, hours_ago: int = 0) -> str:
    with db.session() as s:
        invitation = proauth_service.invite(
            s, settings, RPPS_MOREL, utcnow() - timedelta(hours=hours_ago)
        )
    return f"/pro/enrolement/{invitation.token}"


def audit_actions(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.action.like("proauth.%"))
            .order_by(AuditEvent.id)
        ).all()
    return [(r.action, r.outcome) for r in rows]


def signed_in_as(page: Page, name: str) -> None:
    expect(page).to_have_url(re.compile(r"/pro$"))
    expect(page.locator("#pro-connecte")).to_have_text(name)


def sign_out(page: Page) -> None:
    page.locator("#pro-deconnexion").click()
    expect(page).to_have_url(re.compile("/pro/connexion$"))
    expect(page.locator("#pro-connecte")).to_have_count(0)


# -- OpenID Connect -------------------------------------------------------------------------------


def test_oidc_sign_in_of_a_directory_professional(
    page: Page, professionals: Professionals, oidc_provider: OidcProvider, db: Database
) -> None:
    oidc_provider.sign_in_as(
        psc_claims("8" + RPPS_MOREL, "CLAIRE", "MOREL", siret="90000001900019")
    )
    page.goto("/pro/connexion")
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    signed_in_as(page, "Claire Morel")
    page.goto("/pro/compte")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte professionnel")
    expect(page.locator("#aucune-cle")).to_be_visible()
    sign_out(page)
    assert ("proauth.sign_in", "success") in audit_actions(db)


def test_oidc_unknown_or_inactive_professional_is_refused(
    page: Page, professionals: Professionals, oidc_provider: OidcProvider, db: Database
) -> None:
    for idnat in ("8" + RPPS_NEW, "810100000420"):  # unknown; Paul Durand, no longer active
        oidc_provider.sign_in_as(psc_claims(idnat, "JEAN", "NOUVEAU"))
        page.goto("/pro/connexion")
        page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion refusée")
        expect(page.locator("#connexion-refusee")).to_contain_text(
            "Vous n’êtes pas un professionnel de santé actif de l’annuaire"
        )
        page.goto("/pro/connexion")
        expect(page.locator("#pro-connecte")).to_have_count(0)
    assert audit_actions(db).count(("proauth.sign_in", "failure")) == 2


def test_oidc_wrong_state_and_replayed_callback_are_refused(
    page: Page, professionals: Professionals, oidc_provider: OidcProvider
) -> None:
    oidc_provider.sign_in_as(psc_claims("8" + RPPS_MOREL, "CLAIRE", "MOREL"))
    # The flow starts (the pending login is kept), but the answer carries another state.
    oidc_provider.hold = True
    try:
        page.goto("/pro/connexion")
        page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
        expect(page.get_by_text("Validez sur votre e-CPS")).to_be_visible()
    finally:
        oidc_provider.hold = False
    page.goto("/pro/connexion/oidc/retour?code=forged&state=not-the-one")
    expect(page.locator("#connexion-refusee")).to_contain_text("Pro Santé Connect n’a pas abouti")
    # A real sign-in, whose callback is then replayed.
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oidc/retour?" in r.url else None)
    page.goto("/pro/connexion")
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    signed_in_as(page, "Claire Morel")
    sign_out(page)
    assert len(callbacks) == 1
    page.goto(callbacks[0])
    expect(page.locator("#connexion-refusee")).to_contain_text("Pro Santé Connect n’a pas abouti")
    page.goto("/pro/connexion")
    expect(page.locator("#pro-connecte")).to_have_count(0)


# -- passkeys -------------------------------------------------------------------------------------


def test_passkey_enrolment_sign_out_and_passkey_sign_in(
    new_context: ContextFactory, professionals: Professionals, pro_settings: Settings, db: Database
) -> None:
    link = invite(db, pro_settings)
    context = new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    virtual_authenticator(context, page)
    page.goto(link)
    expect(page.locator(".fr-text--lead")).to_contain_text("Claire Morel")
    page.get_by_label("Nom de la clé (facultatif)").fill("Ordinateur du cabinet")
    page.get_by_role("button", name="Créer ma clé d’accès").click()
    signed_in_as(page, "Claire Morel")
    sign_out(page)
    page.get_by_role("button", name="Se connecter avec une clé d’accès").click()
    signed_in_as(page, "Claire Morel")
    page.goto("/pro/compte")
    rows = page.locator("#cles tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ordinateur du cabinet")
    # The link served once.
    page.goto(link)
    expect(page.locator("#enrolement-invalide")).to_contain_text("n’est plus valable")
    with db.session() as s:
        passkey = s.scalars(select(ProPasskey)).one()
        assert passkey.professional_id == professionals.morel_id
        assert passkey.last_used_at is not None
    actions = audit_actions(db)
    assert [a for a, _ in actions] == [
        "proauth.invite",
        "proauth.enrol",
        "proauth.sign_in",
    ]
    assert problems == []


def test_signed_in_professional_adds_and_removes_a_passkey(
    new_context: ContextFactory,
    professionals: Professionals,
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.sign_in_as(psc_claims("8" + RPPS_MOREL, "CLAIRE", "MOREL"))
    context = new_context()
    page = context.new_page()
    virtual_authenticator(context, page)
    page.goto("/pro/connexion")
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    signed_in_as(page, "Claire Morel")
    page.goto("/pro/compte")
    page.get_by_role("button", name="Ajouter une clé d’accès").click()
    expect(page.locator("#compte-message")).to_contain_text("est enregistrée")
    expect(page.locator("#cles tbody tr")).to_have_count(1)
    # The new passkey signs in.
    sign_out(page)
    page.get_by_role("button", name="Se connecter avec une clé d’accès").click()
    signed_in_as(page, "Claire Morel")
    page.goto("/pro/compte")
    page.locator("#cles tbody tr").first.get_by_role("button").click()
    expect(page.locator("#compte-message")).to_contain_text("est supprimée")
    expect(page.locator("#aucune-cle")).to_be_visible()


def test_expired_or_unknown_invitation_is_refused(
    page: Page, professionals: Professionals, pro_settings: Settings, db: Database
) -> None:
    expired = invite(db, pro_settings, hours_ago=pro_settings.pro_invite_ttl_hours + 1)
    for link in (expired, "/pro/enrolement/not-a-token"):
        response = page.goto(link)
        assert response is not None
        assert response.status == 410
        expect(page.locator("#enrolement-invalide")).to_contain_text("n’est plus valable")
        expect(page.get_by_role("button", name="Créer ma clé d’accès")).to_have_count(0)


def test_unknown_passkey_is_refused(
    new_context: ContextFactory, professionals: Professionals, db: Database
) -> None:
    context = new_context()
    page = context.new_page()
    virtual_authenticator(context, page, UnknownPasskey())
    page.goto("/pro/connexion")
    page.get_by_role("button", name="Se connecter avec une clé d’accès").click()
    expect(page.locator("#connexion-pro-message")).to_contain_text(
        "Utilisez une clé d’accès enregistrée pour votre compte professionnel"
    )
    expect(page.locator("#pro-connecte")).to_have_count(0)
    assert ("proauth.sign_in", "failure") in audit_actions(db)


# -- accessibility --------------------------------------------------------------------------------


def _signed_in_context(
    new_context: ContextFactory, settings: Settings, base_url: str, morel_id: int, locale: str
) -> BrowserContext:
    context = new_context(locale=locale)
    pro = ProSession(morel_id, RPPS_MOREL, "Claire Morel", "oidc", int(time.time()))
    sign_in_as(context, settings, base_url, session_identity(pro))
    return context


@pytest.mark.parametrize("locale", LOCALES)
def test_sign_in_pages_have_no_serious_violation(
    new_context: ContextFactory,
    professionals: Professionals,
    pro_settings: Settings,
    base_url: str,
    db: Database,
    locale: str,
) -> None:
    page = new_context(locale=locale).new_page()
    for path in ("/pro/connexion", invite(db, pro_settings), "/pro/enrolement/expired"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert axe_violations(page) == [], path
    page.goto("/pro/connexion/oidc/retour?code=x&state=y")
    expect(page.locator("#connexion-refusee")).to_be_visible()
    assert axe_violations(page) == []
    signed = _signed_in_context(
        new_context, pro_settings, base_url, professionals.morel_id, locale
    ).new_page()
    for path in ("/pro/compte", "/pro/connexion", "/pro"):
        signed.goto(path)
        signed.wait_for_load_state("networkidle")
        expect(signed.locator("#pro-connecte")).to_have_text("Claire Morel")
        assert axe_violations(signed) == [], path


def test_account_with_passkeys_has_no_serious_violation(
    new_context: ContextFactory, professionals: Professionals, pro_settings: Settings,
    base_url: str, db: Database,
) -> None:  # fmt: skip
    for locale in LOCALES:
        context = _signed_in_context(
            new_context, pro_settings, base_url, professionals.morel_id, locale
        )
        page = context.new_page()
        virtual_authenticator(context, page)
        page.goto("/pro/compte")
        page.get_by_role("button", name=re.compile("Ajouter une clé d’accès|Add a passkey")).click()
        expect(page.locator("#cles tbody tr")).to_have_count(1 if locale == "fr-FR" else 2)
        assert axe_violations(page) == []


def test_account_needs_a_signed_in_professional(page: Page) -> None:
    page.goto("/pro/compte")
    expect(page).to_have_url(re.compile("/pro/connexion$"))
