"""The whole journey of the web portals in one real browser session (the proof of issue 5).

An insured person activates their card on the web (identity, the e-mailed code read from the
development mail sink, a passkey created by Chromium's virtual authenticator) and shows its QR
code on "Ma carte"; a doctor of the directory, in a second browser context with an authenticator
of their own, enrols a passkey from a one-time invitation, signs out and signs in with it, reads
the card by typing the code as a handheld scanner does (the text decoded from the holder's screen
with zxing-cpp), sees the patient's identity, INS and rights, and uploads a PDF report; back in
their browser the holder finds the report in their health space, the doctor in their access
history, and the reading in their card's history.

Only web pages are used, except the mail sink (the e-mailed code) and the set-up of the register,
rights and directory (the national data the platform is loaded with)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.identity.places import get_places
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from carnet.proauth.service import proauth_service
from tests.cards.conftest import cover
from tests.documents import samples
from tests.factories import add_person, add_professional
from tests.web.browser import free_port, live_server
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.test_card_journey import virtual_authenticator
from tests.web.test_holder_card import code_from, fill_identity, unique_email, watch_errors

RPPS = "10100000412"


@pytest.fixture(scope="module")
def journey_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    with MailSink(tmp_path_factory.mktemp("journey-mail"), "127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture(scope="module")
def journey_settings(web_settings: Settings, journey_mail: MailSink) -> Settings:
    """The shared web settings, with mail reaching the sink and passkeys bound to this server."""
    port = free_port()
    return web_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": journey_mail.port,
            "card_webauthn_origin": f"http://localhost:{port}",
        }
    )


@pytest.fixture(scope="module")
def base_url(journey_settings: Settings, database: Database) -> Iterator[str]:
    port = int(journey_settings.card_webauthn_origin.rsplit(":", 1)[1])
    with live_server(journey_settings, database, port) as url:
        yield url


def decode_qr(page: Page) -> str:
    """The on-screen QR code decoded from a screenshot (what a handheld scanner reads)."""
    picture = Image.open(io.BytesIO(page.locator(".carnet-qr__image").screenshot()))
    found = zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, "no QR code, or more than one, on the holder's screen"
    return str(found[0].text)


def test_activation_to_a_doctors_report_seen_by_the_holder(
    new_context: ContextFactory,
    db: Database,
    journey_settings: Settings,
    journey_mail: MailSink,
    tmp_path: Path,
) -> None:
    get_places()  # the birth places registry, loaded once per process (the patient page uses it)
    # -- the national data: the register, rights (a mother and her son), the directory ----------
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        cover(s, jeanne, jeanne)
        cover(s, lucas, jeanne)
    add_professional(db, RPPS)  # Dr Claire Morel, GP (profession 10), Cabinet médical des Tilleuls

    # -- 1. the insured person activates their card on the web ------------------------------------
    holder_context = new_context(viewport={"width": 390, "height": 900})
    holder = holder_context.new_page()
    holder_problems = watch_errors(holder)
    virtual_authenticator(holder_context, holder)  # empty: the card's passkey is created here
    holder.goto("/carte")
    holder.locator("a[href='/carte/activer']").first.click()
    expect(holder).to_have_url(re.compile("/carte/activer$"))
    email = unique_email("jeanne")
    fill_identity(holder, jeanne, email)
    expect(holder).to_have_url(re.compile(r"/carte/activer/[A-Za-z0-9_-]{24}$"))
    holder.locator("#code").fill(code_from(journey_mail, email))
    holder.locator("form button[type=submit]").click()
    holder.locator("#bouton-cle").click()

    # -- 2. Ma carte shows the QR code, the son listed ---------------------------------------------
    expect(holder).to_have_url(re.compile("/carte/ma-carte$"))
    expect(holder.get_by_role("heading", level=1)).to_have_text("Ma carte")
    expect(holder.locator("#beneficiaires li")).to_have_count(2)
    expect(holder.locator("#carte-qr svg")).to_be_visible()
    assert axe_violations(holder) == []

    # Her health space is opened (an information period would otherwise come first).
    holder.goto("/espace-sante")
    holder.get_by_role("link", name="Ouvrir l’espace santé maintenant").click()
    holder.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(holder.locator("#etat-espace")).to_contain_text("Ouvert")

    # -- 3. a doctor enrols a passkey from an invitation, then signs in with it --------------------
    with db.session() as s:
        invitation = proauth_service.invite(s, journey_settings, RPPS, utcnow())
    doctor_context = new_context(viewport={"width": 1280, "height": 1000})
    doctor = doctor_context.new_page()
    doctor_problems = watch_errors(doctor)
    virtual_authenticator(doctor_context, doctor)
    doctor.goto(f"/pro/enrolement/{invitation.token}")
    expect(doctor.locator(".fr-text--lead")).to_contain_text("Claire Morel")
    doctor.get_by_label("Nom de la clé (facultatif)").fill("Poste du cabinet")
    doctor.get_by_role("button", name="Créer ma clé d’accès").click()
    expect(doctor).to_have_url(re.compile(r"/pro$"))
    expect(doctor.locator("#pro-connecte")).to_have_text("Claire Morel")
    doctor.locator("#pro-deconnexion").click()
    expect(doctor).to_have_url(re.compile("/pro/connexion$"))
    expect(doctor.locator("#pro-connecte")).to_have_count(0)
    doctor.get_by_role("button", name="Se connecter avec une clé d’accès").click()
    expect(doctor).to_have_url(re.compile(r"/pro$"))
    expect(doctor.locator("#pro-connecte")).to_have_text("Claire Morel")

    # -- 4. the doctor reads the card: the scanner types the text of the QR code on her screen ----
    holder.goto("/carte/ma-carte")
    code = decode_qr(holder)
    parsed = card_qr.parse(code)  # a real card code: a presentation code, signed, short-lived
    assert parsed.token.purpose == card_qr.PURPOSE_PRESENTATION
    assert parsed.token.expires_at - parsed.token.issued_at == 120
    doctor.locator("#code-carte").fill(code)
    doctor.get_by_role("button", name="Lire la carte").click()
    expect(doctor).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
    choices = doctor.locator("#choix-beneficiaire a")
    expect(choices).to_have_count(2)
    doctor.locator("#choix-beneficiaire").get_by_role(
        "link", name=re.compile("Jeanne DUPONT")
    ).click()

    # -- 5. the context: identity, INS, rights ----------------------------------------------------
    expect(doctor.get_by_role("heading", level=1)).to_have_text("Jeanne DUPONT")
    expect(doctor.locator("#ins-matricule")).to_have_text(jeanne.matricule)
    expect(doctor.locator("#ins-oid")).to_have_text("1.2.250.1.213.1.4.8")
    main = doctor.locator("main")
    expect(main).to_contain_text("JEANNE MARIE")
    expect(main).to_contain_text("12/04/1985")
    expect(main).to_contain_text("Féminin")
    expect(doctor.locator("#droits-ouverts")).to_contain_text("751")
    assert axe_violations(doctor) == []

    # -- 6. the doctor uploads a PDF report -------------------------------------------------------
    doctor.get_by_role("link", name="Documents de l’espace santé").click()
    report = tmp_path / "compte-rendu.pdf"
    report.write_bytes(samples.pdf(note="Consultation du 20 novembre"))
    doctor.locator("#depot-titre").fill("Compte rendu de consultation")
    doctor.locator("#depot-type").select_option("11490-0")
    doctor.locator("#depot-date").fill("2026-11-20")
    doctor.locator("#depot-fichier").set_input_files(str(report))
    doctor.get_by_role("button", name="Déposer le document").click()
    expect(doctor.locator("#message-documents")).to_contain_text("déposé")
    expect(doctor.locator("#liste-documents tbody")).to_contain_text("Compte rendu de consultation")
    assert axe_violations(doctor) == []

    # -- 7. the holder sees the report, the doctor in her access history, the card reading --------
    holder.goto("/espace-sante/documents")
    documents = holder.locator("#documents > li")
    expect(documents).to_have_count(1)
    expect(documents.first).to_contain_text("Compte rendu de consultation")
    assert axe_violations(holder) == []
    title = documents.first.get_by_role("link", name="Compte rendu de consultation", exact=True)
    href = title.get_attribute("href")
    assert href is not None
    opened = holder.request.get(href)
    assert opened.status == 200
    assert opened.headers["content-type"] == "application/pdf"
    assert opened.body() == report.read_bytes()

    holder.goto("/espace-sante/historique")
    accesses = holder.locator("#historique tbody tr")
    expect(accesses.first).to_be_visible()
    doctor_rows = accesses.filter(has_text="Claire Morel")
    expect(doctor_rows.first).to_be_visible()
    expect(holder.locator("#historique")).to_contain_text(RPPS)
    assert axe_violations(holder) == []

    holder.goto("/carte/historique")
    readings = holder.locator("#historique > li")
    expect(readings).to_have_count(1)
    expect(readings.first).to_contain_text("Claire Morel")
    expect(readings.first).to_contain_text("Cabinet médical des Tilleuls")
    expect(readings.first).to_contain_text("Jeanne Dupont")
    assert axe_violations(holder) == []

    assert holder_problems == []
    assert doctor_problems == []
