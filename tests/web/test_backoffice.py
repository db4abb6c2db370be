"""The back office (/gestion) in a real browser and over HTTP: an operator enrols a passkey from
their link and signs in (Chromium's virtual authenticator), every route refuses the roles that
lack its permission, a card is suspended then reactivated (and the card API follows), the audit
page detects a tampered trail, the dashboard's figures match what the APIs did, admins manage
operators; axe-core on every page state, in French and English."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import func, select, text

from carnet.audit.models import AuditEvent
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.mail.sink import MailSink
from carnet.operators.roles import ROLES, Permission, allows
from carnet.operators.schemas import OperatorOut
from carnet.operators.service import operators_service
from carnet.web.backoffice import session_identity
from carnet.web.sessions import SessionCodec, WebSession, cookie_name
from tests.apcv.conftest import (  # noqa: F401 - fixtures
    CONTEXTS,
    SECRET,
    Activate,
    Family,
    activate,
    family,
    gp_headers,
    gp_ref,
    professionals,
)
from tests.conftest import HolderHeaders
from tests.factories import add_person
from tests.web.authenticator import UnknownPasskey, virtual_authenticator
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.sessions import sign_in_as

LOCALES = ["fr-FR", "en-GB"]


@pytest.fixture
def settings(web_settings: Settings, mail_sink: MailSink) -> Settings:
    """The live server's settings (same secret, passkey origin and cookie), with the mail sink
    for the API calls of these tests (card activations)."""
    return web_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})


def make_operator(db: Database, role: str, name: str | None = None) -> OperatorOut:
    with db.session() as s:
        invitation = operators_service.create(
            s,
            name=name or f"Agent {role.title()}",
            email=f"{role}.{time.monotonic_ns()}@caisse.fr",
            role=role,
            now=utcnow(),
        )
    return invitation.operator


def operator_page(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    operator: OperatorOut,
    locale: str = "fr-FR",
) -> Page:
    context = new_context(locale=locale, viewport={"width": 1280, "height": 900})
    sign_in_as(context, settings, base_url, session_identity(operator, int(time.time())))
    return context.new_page()


def no_violation(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


# -- enrolment and sign-in ------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_an_operator_enrols_a_passkey_then_signs_in_and_out(
    db: Database, new_context: ContextFactory, locale: str
) -> None:
    with db.session() as s:
        invitation = operators_service.create(
            s, name="Alice Martin", email="alice@caisse.fr", role="support", now=utcnow()
        )
    context = new_context(locale=locale)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    virtual_authenticator(context, page)

    page.goto(invitation.path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("alice@caisse.fr")
    no_violation(page)
    page.locator("#bouton-enrolement").click()
    expect(page).to_have_url(re.compile(r"/gestion/connexion\?enrole=1$"))
    expect(page.locator("#enrolement-fait")).to_be_visible()
    no_violation(page)

    # The link served once.
    page.goto(invitation.path)
    expect(page.locator("#enrolement-erreur")).to_be_visible()
    no_violation(page)

    page.goto("/gestion/connexion")
    page.locator("#bouton-connexion").click()
    expect(page).to_have_url(re.compile("/gestion$"))
    expect(page.locator("#agent-connecte")).to_contain_text("Alice Martin")
    no_violation(page)
    page.goto("/gestion/connexion")  # signed in: says so
    expect(page.locator(".fr-alert--success")).to_contain_text("Alice Martin")
    no_violation(page)

    page.locator("#agent-connecte + form button").click()
    expect(page).to_have_url(re.compile("/gestion$"))
    expect(page.locator("#agent-connecte")).to_have_count(0)
    page.goto("/gestion/personnes")
    expect(page).to_have_url(re.compile("/gestion/connexion$"))
    # No CSP violation, no script error (the used link's page answers 404 on purpose).
    assert [p for p in problems if "status of 404" not in p] == []
    with db.session() as s:
        actions = set(
            s.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.actor == f"operator:{invitation.operator.id}"
                )
            )
        )
    assert {"operator.enrol", "operator.sign_in", "operator.sign_out"} <= actions


def test_an_unknown_passkey_is_refused_with_a_message(
    db: Database, new_context: ContextFactory
) -> None:
    make_operator(db, "admin")
    context = new_context()
    page = context.new_page()
    virtual_authenticator(context, page, UnknownPasskey())
    page.goto("/gestion/connexion")
    page.locator("#bouton-connexion").click()
    expect(page.locator("#connexion-message")).to_contain_text("La connexion n’a pas abouti")
    no_violation(page)
    page.goto("/gestion")
    expect(page.locator("#agent-connecte")).to_have_count(0)


# -- every route × every role (HTTP) ------------------------------------------------------------


def _session(settings: Settings, identity: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    session = WebSession.fresh(now)
    session.sign_in(identity, now)
    value = SessionCodec(settings).dump(session)
    return {"Cookie": f"{cookie_name(settings)}={value}", "X-CSRF-Token": session.csrf_token}


def test_every_route_refuses_the_roles_without_its_permission(
    db: Database, app_client: TestClient, settings: Settings
) -> None:
    with db.session() as s:
        person = add_person(
            s, birth_name="MARTIN", first_names="LOUISE", sex="F", birth_date="1970-02-03"
        )
    target = make_operator(db, "support", "Cible")
    reason = {"reason": "Demande de l’assuré", "confirm": "oui"}
    routes: list[tuple[str, str, Permission, dict[str, str] | None]] = [
        ("GET", "/gestion/personnes", Permission.SEARCH_PERSONS, None),
        ("POST", "/gestion/personnes", Permission.SEARCH_PERSONS, {"nir": person.matricule}),
        ("GET", f"/gestion/personnes/{person.id}", Permission.VIEW_CARDS, None),
        ("GET", f"/gestion/personnes/{person.id}/carte/suspend", Permission.CHANGE_CARDS, None),
        ("POST", f"/gestion/personnes/{person.id}/carte/suspend", Permission.CHANGE_CARDS, reason),
        ("GET", "/gestion/audit", Permission.VERIFY_AUDIT, None),
        ("POST", "/gestion/audit", Permission.VERIFY_AUDIT, {}),
        ("GET", "/gestion/tableau-de-bord", Permission.VIEW_DASHBOARD, None),
        ("GET", "/gestion/agents", Permission.MANAGE_OPERATORS, None),
        (
            "POST",
            "/gestion/agents",
            Permission.MANAGE_OPERATORS,
            {"name": "N", "email": f"n{time.monotonic_ns()}@caisse.fr", "role": "audit"},
        ),
        ("POST", f"/gestion/agents/{target.id}/role", Permission.MANAGE_OPERATORS,
         {"role": "audit"}),
        ("POST", f"/gestion/agents/{target.id}/invitation", Permission.MANAGE_OPERATORS, {}),
    ]  # fmt: skip
    operators = {role: make_operator(db, role) for role in ROLES}
    for method, path, permission, data in routes:
        # Not signed in: to the sign-in page (a POST without a session's token: CSRF refusal).
        anonymous = app_client.request(method, path, data=data, follow_redirects=False)
        if method == "GET":
            assert anonymous.status_code == 303, path
            assert anonymous.headers["location"] == "/gestion/connexion"
        else:
            assert anonymous.status_code == 403, path
        for role, operator in operators.items():
            headers = _session(settings, session_identity(operator, int(time.time())))
            if data is not None and "email" in data:
                data = {**data, "email": f"n{time.monotonic_ns()}@caisse.fr"}
            response = app_client.request(
                method, path, data=data, headers=headers, follow_redirects=False
            )
            if allows(role, permission):
                assert response.status_code in (200, 303, 409), (path, role, response.text)
                assert response.headers.get("location") != "/gestion/connexion", (path, role)
            else:
                assert response.status_code == 403, (path, role)
                assert "Accès refusé" in response.text, (path, role)
    # The disabled: signed out at their next page.
    with db.session() as s:
        operators_service.disable(s, operators["admin"].id, utcnow())
    headers = _session(settings, session_identity(operators["admin"], int(time.time())))
    gone = app_client.get("/gestion/agents", headers=headers, follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (303, "/gestion/connexion")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_role_without_the_permission_sees_a_403_page(
    db: Database, new_context: ContextFactory, settings: Settings, base_url: str, locale: str
) -> None:
    page = operator_page(new_context, settings, base_url, make_operator(db, "support"), locale)
    page.goto("/gestion")
    # The landing offers only what the role may do.
    expect(page.locator(".fr-tile")).to_have_count(1)
    no_violation(page)
    response = page.goto("/gestion/audit")
    assert response is not None
    assert response.status == 403
    expect(page.locator("#acces-refuse")).to_be_visible()
    no_violation(page)


# -- persons and cards ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_search_a_person_then_suspend_and_reactivate_the_card(
    db: Database,
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    app_client: TestClient,
    activate: Activate,  # noqa: F811
    family: Family,  # noqa: F811
    locale: str,
) -> None:
    wallet = activate(family.jeanne)
    agent = make_operator(db, "cards", "Gaëlle Carte")
    page = operator_page(new_context, settings, base_url, agent, locale)
    page.goto("/gestion/personnes")
    no_violation(page)

    page.locator("#nir").fill("123")
    page.locator("#recherche-nir button").click()
    expect(page.locator("#recherche-erreur")).to_be_visible()
    no_violation(page)

    # By traits (INSi-like search: one answer).
    page.locator("#birth_name").fill("dupont")
    page.locator("#first_name").fill("Jeanne")
    page.locator("#sex").select_option("F")
    page.locator("#birth_date").fill("1985-04-12")
    page.locator("#recherche-traits button").click()
    expect(page.locator("#resultats tbody tr")).to_have_count(1)
    expect(page.locator("#resultats")).to_contain_text(family.jeanne.matricule)
    no_violation(page)

    page.locator("#nir").fill(family.jeanne.matricule)
    page.locator("#recherche-nir button").click()
    expect(page.locator("#resultats tbody tr")).to_have_count(1)
    page.locator("#resultats a").click()
    expect(page).to_have_url(re.compile(f"/gestion/personnes/{family.jeanne.id}$"))
    expect(page.locator("#etat-carte")).to_contain_text(str(wallet.card_number))
    expect(page.locator("#etat-carte .fr-badge")).to_have_class(re.compile("success"))
    no_violation(page)

    page.locator("a[href$='/carte/suspend']").click()
    expect(page.locator("#formulaire-action")).to_be_visible()
    no_violation(page)
    # The server checks the reason and the confirmation too (the browser's checks aside).
    csrf = page.evaluate(
        "() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
    )
    refused = page.request.post(
        f"/gestion/personnes/{family.jeanne.id}/carte/suspend",
        form={"csrf_token": csrf, "reason": "x", "confirm": "oui"},
    )
    assert refused.status == 422
    assert "300" in refused.text()
    page.goto(f"/gestion/personnes/{family.jeanne.id}/carte/suspend")
    page.locator("#motif").fill("Téléphone perdu, appel de l’assurée")
    page.evaluate("() => document.querySelector('#confirmation').removeAttribute('required')")
    page.locator("#formulaire-action button[type=submit]").click()
    expect(page.locator("#action-erreur")).to_be_visible()  # not confirmed
    no_violation(page)
    page.locator("#confirmation").check(force=True)
    page.locator("#formulaire-action button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/gestion/personnes/{family.jeanne.id}\?fait=suspend$"))
    expect(page.locator("#operation-faite")).to_be_visible()
    expect(page.locator("#etat-carte .fr-badge")).to_have_class(re.compile("warning"))
    no_violation(page)

    # The card's API refuses the suspended card at once.
    refused_card = app_client.post(
        "/api/v1/card/sessions", json={"code": wallet.present(SECRET, purpose=2)}
    )
    assert refused_card.json()["error"]["code"] == "card_suspended"

    page.locator("a[href$='/carte/resume']").click()
    page.locator("#motif").fill("Téléphone retrouvé")
    page.locator("#confirmation").check(force=True)
    page.locator("#formulaire-action button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"\?fait=resume$"))
    expect(page.locator("#etat-carte .fr-badge")).to_have_class(re.compile("success"))
    wallet.session(app_client, SECRET)  # accepted again

    with db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.actor == f"operator:{agent.id}",
                AuditEvent.action.in_(["card.suspend", "card.resume"]),
            )
        ).all()
    assert [e.action for e in sorted(events, key=lambda e: e.id)] == ["card.suspend", "card.resume"]
    assert events[0].person_id == family.jeanne.id
    assert "Téléphone perdu" in (sorted(events, key=lambda e: e.id)[0].detail or "")


def test_a_support_agent_sees_the_card_but_cannot_change_it(
    db: Database,
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    activate: Activate,  # noqa: F811
    family: Family,  # noqa: F811
) -> None:
    activate(family.jeanne)
    page = operator_page(new_context, settings, base_url, make_operator(db, "support"))
    page.goto(f"/gestion/personnes/{family.jeanne.id}")
    expect(page.locator("#etat-carte")).to_be_visible()
    expect(page.locator("#actions-carte")).to_have_count(0)
    response = page.goto(f"/gestion/personnes/{family.jeanne.id}/carte/revoke")
    assert response is not None
    assert response.status == 403
    response = page.goto("/gestion/personnes/999999")
    assert response is not None
    assert response.status == 404
    no_violation(page)


# -- audit chain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_the_audit_page_verifies_the_chain_and_reports_tampering(
    db: Database, new_context: ContextFactory, settings: Settings, base_url: str, locale: str
) -> None:
    agent = make_operator(db, "audit")
    page = operator_page(new_context, settings, base_url, agent, locale)
    page.goto("/gestion/audit")
    no_violation(page)
    page.locator("#bouton-verifier").click()
    expect(page.locator("#verification-resultat")).to_have_class(re.compile("success"))
    no_violation(page)

    # Someone with database access rewrites an entry: the chain no longer matches.
    with db.engine.begin() as connection:
        first = connection.execute(select(func.min(AuditEvent.id))).scalar_one()
        connection.execute(
            text("UPDATE audit_events SET detail = 'rewritten' WHERE id = :id"), {"id": first}
        )
    page.locator("#bouton-verifier").click()
    expect(page.locator("#verification-resultat")).to_have_class(re.compile("error"))
    expect(page.locator("#anomalies")).to_contain_text(f"(id {first}) was altered")
    no_violation(page)


# -- dashboard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_the_dashboard_counts_what_the_apis_did(
    db: Database,
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    app_client: TestClient,
    activate: Activate,  # noqa: F811
    family: Family,  # noqa: F811
    gp_headers: dict[str, str],  # noqa: F811
    holder_headers: HolderHeaders,
    locale: str,
) -> None:
    jeanne = activate(family.jeanne)
    activate(family.marc)
    # Dr Morel reads Jeanne's card: both beneficiaries (Jeanne and her son).
    context = app_client.post(
        CONTEXTS,
        json={"qr": jeanne.present(SECRET, purpose=1), "professional": gp_ref()},
        headers=gp_headers,
    )
    assert context.status_code == 201, context.text
    for beneficiary in context.json()["beneficiaries"]:
        read = app_client.get(
            f"{CONTEXTS}/{context.json()['context_id']}",
            params={"beneficiary": beneficiary["ref"]},
            headers=gp_headers,
        )
        assert read.status_code == 200, read.text
    # Jeanne opens her health space and deposits a document.
    me = holder_headers(family.jeanne.id)
    opened = app_client.post(f"/api/v1/spaces/{family.jeanne.id}/opening", headers=me)
    assert opened.status_code == 200, opened.text
    from tests.documents import samples

    uploaded = app_client.post(
        "/api/v1/spaces/me/documents",
        files={"file": ("bilan.pdf", samples.pdf(), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "Bilan sanguin"},
        headers=me,
    )
    assert uploaded.status_code == 201, uploaded.text

    page = operator_page(new_context, settings, base_url, make_operator(db, "audit"), locale)
    page.goto("/gestion/tableau-de-bord")
    expect(page.locator("#total-activations")).to_have_text("2")
    expect(page.locator("#total-readings")).to_have_text("2")
    expect(page.locator("#total-documents")).to_have_text("1")
    expect(page.locator("#recent-readings")).to_have_text("2")
    today = utcnow().date().isoformat()
    expect(page.locator(f"#par-jour tr[data-day='{today}'] td")).to_have_text(["2", "2", "1"])
    expect(page.locator("#par-jour tbody tr")).to_have_count(30)
    no_violation(page)


# -- operators (admin) -------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_an_admin_creates_changes_and_disables_operators(
    db: Database, new_context: ContextFactory, settings: Settings, base_url: str, locale: str
) -> None:
    admin = make_operator(db, "admin", "Hélène Admin")
    page = operator_page(new_context, settings, base_url, admin, locale)
    page.goto("/gestion")
    expect(page.locator(".fr-tile")).to_have_count(4)
    no_violation(page)
    page.goto("/gestion/agents")
    expect(page.locator(f"#agent-{admin.id}")).to_be_visible()
    no_violation(page)

    page.locator("#nom").fill("Ivan Nouveau")
    page.locator("#courriel").fill("ivan@caisse.fr")
    page.locator("#role-nouveau-cards").check(force=True)
    page.locator("#creer-agent button[type=submit]").click()
    expect(page.locator("#lien")).to_contain_text("/gestion/enrolement/")
    no_violation(page)
    with db.session() as s:
        ivan = next(o for o in operators_service.list(s) if o.email == "ivan@caisse.fr")
    assert ivan.role == "cards"

    # The same address again: a clear message.
    page.locator("#nom").fill("Ivan Bis")
    page.locator("#courriel").fill("ivan@caisse.fr")
    page.locator("#creer-agent button[type=submit]").click()
    expect(page.locator("#agents-erreur")).to_be_visible()
    no_violation(page)

    page.locator(f"#role-{ivan.id}").select_option("audit")
    page.locator(f"#agent-{ivan.id} form[action$='/role'] button").click()
    expect(page.locator("#agents-fait")).to_be_visible()
    page.locator(f"#agent-{ivan.id} form[action$='/invitation'] button").click()
    expect(page.locator("#lien")).to_contain_text("/gestion/enrolement/")
    page.locator(f"#agent-{ivan.id} form[action$='/desactivation'] button").click()
    expect(page.locator(f"#agent-{ivan.id}")).to_contain_text(
        "Désactivé" if locale == "fr-FR" else "Disabled"
    )
    no_violation(page)
    with db.session() as s:
        ivan_now = operators_service.get(s, ivan.id)
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == f"operator:{admin.id}")
        ).all()
    assert (ivan_now.role, ivan_now.active) == ("audit", False)
    assert {"operator.create", "operator.role", "operator.invite", "operator.disable"} <= set(
        actions
    )
