"""`make screenshots`: the main pages of the three portals in var/screenshots/*.png, French and
English (Chromium through Playwright, against a throw-away local server and database).

Public pages at mobile and desktop width; then the signed-in states, reached through the pages
themselves: an insured person activates her card on the web (the e-mailed code from a local
mail sink, a passkey from Chromium's virtual authenticator) and opens her health space — her
pages at mobile width —; a doctor enrols a passkey from an invitation, reads her card and
uploads a report — desktop —; an operator (role admin) searches her in the back office —
desktop. The English screenshots reuse each signed-in session in an English-speaking browser."""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from carnet import migrate
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.mail.sink import MailSink
from carnet.operators.service import operators_service
from carnet.proauth.service import proauth_service
from carnet.web.backoffice import session_identity
from tests.cards.conftest import cover
from tests.documents import samples
from tests.factories import add_person, add_professional
from tests.web.browser import free_port, launch, live_server
from tests.web.sessions import sign_in_as
from tests.web.test_card_journey import virtual_authenticator

PAGES = {
    "home": "/",
    "card": "/carte",
    "card-sign-in": "/carte/connexion",
    "pro": "/pro",
    "pro-sign-in": "/pro/connexion",
    "backoffice": "/gestion",
    "not-found": "/page-inexistante",
}
SIZES = {"mobile": (375, 812), "desktop": (1280, 900)}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
RPPS = "10100000412"


class Shots:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0

    def take(self, page: Page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(self.out / f"{name}.png"), full_page=True)
        self.count += 1


def _context(browser: Browser, base: str, size: str, locale: str) -> BrowserContext:
    width, height = SIZES[size]
    context = browser.new_context(
        base_url=base,
        locale=locale,
        viewport={"width": width, "height": height},
        is_mobile=size == "mobile",
        device_scale_factor=2 if size == "mobile" else 1,
    )
    context.set_default_timeout(15_000)
    return context


def _seed(database: Database) -> dict[str, Any]:
    """The national data: a mother and her son with rights, a GP in the directory."""
    with database.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        cover(s, jeanne, jeanne)
        cover(s, lucas, jeanne)
        seeded = {"nir": jeanne.matricule, "birth_date": jeanne.birth_date, "id": jeanne.id}
    add_professional(database, RPPS)
    return seeded


def _public_pages(browser: Browser, base: str, shots: Shots) -> None:
    for lang, locale in LOCALES.items():
        for size in SIZES:
            context = _context(browser, base, size, locale)
            page = context.new_page()
            for name, path in PAGES.items():
                page.goto(path)
                shots.take(page, f"{name}-{size}-{lang}")
            # The card-reading form showing a validation message.
            page.goto("/pro")
            page.locator("#code-carte").fill("CV1:NOT-A-CARD")
            page.locator("#lecture-carte button[type=submit]").click()
            page.locator("#code-carte-erreur").wait_for()
            shots.take(page, f"pro-error-{size}-{lang}")
            context.close()


def _activate(page: Page, person: dict[str, Any], sink: MailSink, shots: Shots) -> None:
    """The web activation, each step photographed (French, mobile)."""
    email = "jeanne.dupont@exemple.fr"
    year, month, day = person["birth_date"].split("-")
    page.goto("/carte/activer")
    shots.take(page, "card-activate-1-identity-mobile-fr")
    page.locator("#nir").fill(person["nir"])
    page.locator("#day").fill(day)
    page.locator("#month").fill(month)
    page.locator("#year").fill(year)
    page.locator("#email").fill(email)
    page.locator("#form-identite button[type=submit]").click()
    page.locator("#code").wait_for()
    shots.take(page, "card-activate-2-code-mobile-fr")
    match = re.search(r"\b(\d{6})\b", sink.wait_for(email).text)
    assert match, "no code in the activation e-mail"
    page.locator("#code").fill(match.group(1))
    page.locator("form button[type=submit]").click()
    page.locator("#bouton-cle").wait_for()
    shots.take(page, "card-activate-3-passkey-mobile-fr")
    page.locator("#bouton-cle").click()
    page.wait_for_url(re.compile("/carte/ma-carte$"))


def _holder_setup(page: Page, tmp: Path) -> None:
    """Her space opened, a document and an allergy of her own."""
    page.goto("/espace-sante")
    page.get_by_role("link", name="Ouvrir l’espace santé maintenant").click()
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    page.locator("#etat-espace").wait_for()
    page.goto("/espace-sante/documents")
    pdf = tmp / "bilan.pdf"
    pdf.write_bytes(samples.pdf())
    page.locator("#fichier").set_input_files(str(pdf))
    page.locator("#titre").fill("Bilan sanguin")
    page.locator("#type").select_option("DOCPAT05")
    page.locator("#date-acte").fill("2026-10-02")
    page.locator("#fichier").evaluate("e => e.form.requestSubmit()")
    page.locator("#message-fait").wait_for()
    page.goto("/espace-sante/profil")
    page.get_by_role("link", name="Ajouter une allergie").click()
    page.get_by_label("Substance ou produit").fill("Pénicilline")
    page.get_by_label("Gravité").select_option("high")
    page.get_by_label("Réaction (facultatif)").fill("Urticaire")
    page.get_by_role("button", name="Enregistrer").click()
    page.locator("#message-fait").wait_for()


def _scan(page: Page) -> str:
    page.goto("/carte/ma-carte")
    picture = Image.open(io.BytesIO(page.locator(".carnet-qr__image").screenshot()))
    return str(zxingcpp.read_barcodes(picture)[0].text)


HOLDER_PAGES = {
    "my-card": "/carte/ma-carte",
    "card-delegations": "/carte/delegations",
    "card-delegated": "/carte/delegue-a-moi",
    "card-history": "/carte/historique",
    "space": "/espace-sante",
    "space-documents": "/espace-sante/documents",
    "space-profile": "/espace-sante/profil",
    "space-history": "/espace-sante/historique",
    "space-privacy": "/espace-sante/confidentialite",
}


def _in_both_languages(
    browser: Browser, base: str, signed_in: BrowserContext, size: str,
    pages: dict[str, str], shots: Shots,
) -> None:  # fmt: skip
    """Each page in French and English, in contexts holding the signed-in session."""
    cookies = signed_in.cookies()
    for lang, locale in LOCALES.items():
        context = _context(browser, base, size, locale)
        context.add_cookies(cookies)  # type: ignore[arg-type]
        page = context.new_page()
        for name, path in pages.items():
            page.goto(path)
            shots.take(page, f"{name}-{size}-{lang}")
        context.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="carnet-screenshots-"))
    port = free_port()
    with MailSink(workdir / "mail", "127.0.0.1", 0) as sink:
        settings = Settings(
            env="test",
            database_url=f"sqlite:///{workdir / 'carnet.db'}",
            data_dir=workdir,
            secret_key=os.environ.get("CARNET_SECRET_KEY", "screenshots-only-" + "x" * 32),
            log_level="WARNING",
            card_webauthn_rp_id="localhost",
            card_webauthn_origin=f"http://localhost:{port}",
            web_cookie_secure=True,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
        )
        migrate.upgrade(settings.database_url)
        database = Database(settings.database_url)
        person = _seed(database)
        shots = Shots(out)
        with live_server(settings, database, port) as base, sync_playwright() as playwright:
            browser = launch(playwright)
            _public_pages(browser, base, shots)

            # The insured person (mobile).
            holder = _context(browser, base, "mobile", "fr-FR")
            holder_page = holder.new_page()
            virtual_authenticator(holder, holder_page)
            _activate(holder_page, person, sink, shots)
            _holder_setup(holder_page, workdir)

            # The doctor (desktop): enrolment, then the card read and a report uploaded.
            with database.session() as s:
                invitation = proauth_service.invite(s, settings, RPPS, utcnow())
            doctor = _context(browser, base, "desktop", "fr-FR")
            doctor_page = doctor.new_page()
            virtual_authenticator(doctor, doctor_page)
            doctor_page.goto(f"/pro/enrolement/{invitation.token}")
            shots.take(doctor_page, "pro-enrol-desktop-fr")
            doctor_page.get_by_role("button", name="Créer ma clé d’accès").click()
            doctor_page.wait_for_url(re.compile(r"/pro$"))
            doctor_page.locator("#code-carte").fill(_scan(holder_page))
            doctor_page.get_by_role("button", name="Lire la carte").click()
            doctor_page.wait_for_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
            pro_pages = {"pro-signed-in": "/pro", "pro-account": "/pro/compte"}
            pro_pages["pro-beneficiaries"] = doctor_page.url
            doctor_page.locator("#choix-beneficiaire a").first.click()
            doctor_page.locator("#ins-matricule").wait_for()
            pro_pages["pro-patient"] = doctor_page.url
            doctor_page.get_by_role("link", name="Documents de l’espace santé").click()
            report = workdir / "compte-rendu.pdf"
            report.write_bytes(samples.pdf(note="Consultation"))
            doctor_page.locator("#depot-titre").fill("Compte rendu de consultation")
            doctor_page.locator("#depot-type").select_option("11490-0")
            doctor_page.locator("#depot-date").fill("2026-11-20")
            doctor_page.locator("#depot-fichier").set_input_files(str(report))
            doctor_page.get_by_role("button", name="Déposer le document").click()
            doctor_page.locator("#message-documents").wait_for()
            pro_pages["pro-documents"] = doctor_page.url
            _in_both_languages(browser, base, doctor, "desktop", pro_pages, shots)

            _in_both_languages(browser, base, holder, "mobile", HOLDER_PAGES, shots)

            # The back office (desktop): an admin.
            with database.session() as s:
                operator = operators_service.create(
                    s, name="Agnès Leroy", email="agnes.leroy@caisse.fr", role="admin",
                    now=utcnow(),
                ).operator  # fmt: skip
            for lang, locale in LOCALES.items():
                context = _context(browser, base, "desktop", locale)
                sign_in_as(
                    context, settings, base, session_identity(operator, int(utcnow().timestamp()))
                )
                page = context.new_page()
                page.goto("/gestion/personnes")
                page.locator("#nir").fill(person["nir"])
                page.locator("#recherche-nir button[type=submit]").click()
                page.wait_for_load_state("networkidle")
                shots.take(page, f"backoffice-search-desktop-{lang}")
                page.goto(f"/gestion/personnes/{person['id']}")
                shots.take(page, f"backoffice-person-desktop-{lang}")
                page.goto("/gestion/tableau-de-bord")
                shots.take(page, f"backoffice-dashboard-desktop-{lang}")
                page.goto("/gestion/audit")
                page.locator("#bouton-verifier").click()
                page.wait_for_load_state("networkidle")
                shots.take(page, f"backoffice-audit-desktop-{lang}")
                page.goto("/gestion/agents")
                shots.take(page, f"backoffice-operators-desktop-{lang}")
                context.close()
            for context in (holder, doctor):
                context.close()
            browser.close()
        database.dispose()
    print(f"{shots.count} screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/screenshots"))
