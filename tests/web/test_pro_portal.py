"""The professional portal in a real browser, signed in as a doctor of the directory: read a real
card (activated through the API by the reference wallet) with the scanner field or a photo of
its QR code, choose the beneficiary, see identity, INS and rights; the patient's documents
(listed, opened, a PDF report uploaded and deleted, a document hidden from professionals left
out), and break-glass when the holder withdrew the care relationship."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import segno
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from carnet.apcv.models import ApcvContext
from carnet.config import Settings
from carnet.db import Database
from carnet.identity.models import Person
from carnet.identity.places import get_places
from carnet.mail.sink import MailSink
from carnet.wallet import Wallet
from carnet.web.pro import decode_card_photo
from carnet.web.pro_session import ProSession, session_identity
from tests.cards.conftest import cover
from tests.conftest import HolderHeaders
from tests.documents import samples
from tests.factories import add_person, add_professional
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.sessions import sign_in_as

SECRET = "2580"
RPPS = "10100000412"
SPACES = "/api/v1/spaces"


@pytest.fixture
def settings(web_settings: Settings, mail_sink: MailSink) -> Settings:
    """The live server's settings with the mail sink, for the API calls of the set-up."""
    return web_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})


@dataclass(frozen=True)
class Setup:
    jeanne: Person
    lucas: Person  # her son, attached to her
    wallet: Wallet
    pro: ProSession
    holder: HolderHeaders
    client: TestClient

    def code(self) -> str:
        return self.wallet.present(SECRET)


@pytest.fixture
def setup(
    db: Database,
    app_client: TestClient,
    mail_sink: MailSink,
    holder_headers: HolderHeaders,
    tmp_path: Path,
) -> Setup:
    get_places()  # the birth places registry, loaded once per process (seconds on a cold cache)
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        cover(s, jeanne, jeanne)
        cover(s, lucas, jeanne)
    wallet = Wallet.open(tmp_path / "wallet")
    email = f"jeanne.{jeanne.id}@exemple.fr"
    wallet.start_activation(app_client, jeanne.matricule, jeanne.birth_date, email)
    otp = re.search(r"\b(\d{6})\b", mail_sink.wait_for(email).text)
    assert otp
    wallet.confirm_email(app_client, otp.group(1))
    wallet.complete_activation(app_client, SECRET)
    # Both health spaces open (the child's by his mother).
    for person in (jeanne, lucas):
        opened = app_client.post(f"{SPACES}/{person.id}/opening", headers=holder_headers(jeanne.id))
        assert opened.status_code == 200, opened.text
    professional_id = add_professional(db, RPPS)
    pro = ProSession(
        professional_id=professional_id,
        rpps=RPPS,
        display_name="Dr Claire Morel",
        method="passkey",
        signed_in_at=int(time.time()),
    )
    return Setup(jeanne, lucas, wallet, pro, holder_headers, app_client)


def signed_in_page(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup,
    locale: str = "fr-FR",
) -> Page:  # fmt: skip
    context = new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    sign_in_as(context, web_settings, base_url, session_identity(setup.pro))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def holder_upload(setup: Setup, title: str, *, hidden: bool = False) -> str:
    response = setup.client.post(
        f"{SPACES}/me/documents",
        files={"file": ("bilan.pdf", samples.pdf(), "application/pdf")},
        data={
            "class_code": "10",
            "type_code": "11502-2",
            "title": title,
            "hidden_from_professionals": str(hidden).lower(),
        },
        headers=setup.holder(setup.jeanne.id),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def read_with_scanner(page: Page, code: str) -> None:
    page.goto("/pro")
    expect(page.locator("#pro-lecteur")).to_contain_text("Dr Claire Morel")
    page.locator("#code-carte").fill(code)
    page.get_by_role("button", name="Lire la carte").click()
    expect(page).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))


def choose(page: Page, name: str) -> None:
    page.locator("#choix-beneficiaire").get_by_role("link", name=re.compile(name)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_scanner_text_opens_the_patient_with_identity_ins_and_rights(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup
) -> None:
    page = signed_in_page(new_context, web_settings, base_url, setup)
    page.goto("/pro")
    assert axe_violations(page) == []
    read_with_scanner(page, setup.code())
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisir le bénéficiaire")
    choices = page.locator("#choix-beneficiaire a")
    expect(choices).to_have_count(2)
    assert axe_violations(page) == []
    choose(page, "Jeanne DUPONT")
    expect(page.locator("#ins-matricule")).to_have_text(setup.jeanne.matricule)
    expect(page.locator("#ins-oid")).to_have_text("1.2.250.1.213.1.4.8")
    main = page.locator("main")
    expect(main).to_contain_text("JEANNE MARIE")
    expect(main).to_contain_text("12/04/1985")
    expect(main).to_contain_text("Féminin")
    expect(page.locator("#droits-ouverts")).to_contain_text("751")
    assert axe_violations(page) == []
    # The child: his own identity, his rights through his mother.
    page.locator("#beneficiaires").get_by_role("link", name=re.compile("Lucas")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lucas DUPONT")
    expect(page.locator("#ins-matricule")).to_have_text(setup.lucas.matricule)
    expect(page.locator("#droits-ouverts")).to_contain_text(setup.jeanne.matricule)
    assert axe_violations(page) == []


def test_a_refused_card_says_why(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup
) -> None:
    page = signed_in_page(new_context, web_settings, base_url, setup)
    code = setup.code()
    read_with_scanner(page, code)
    # The same code again: a code is read once.
    page.goto("/pro")
    page.locator("#code-carte").fill(code)
    page.get_by_role("button", name="Lire la carte").click()
    expect(page.locator("#code-carte-erreur")).to_contain_text("déjà été lu")
    assert axe_violations(page) == []


def test_photo_of_the_qr_code_and_an_image_without_one(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup,
    tmp_path: Path,
) -> None:  # fmt: skip
    page = signed_in_page(new_context, web_settings, base_url, setup)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(blank)
    page.goto("/pro")
    page.locator("#photo-carte").set_input_files(str(blank))
    page.get_by_role("button", name="Lire la photo").click()
    expect(page.locator("#photo-carte-erreur")).to_contain_text("Aucun code QR")
    assert axe_violations(page) == []
    not_image = tmp_path / "note.png"
    not_image.write_bytes(b"not an image at all")
    page.locator("#photo-carte").set_input_files(str(not_image))
    page.get_by_role("button", name="Lire la photo").click()
    expect(page.locator("#photo-carte-erreur")).to_contain_text("n’est pas une image")

    # Too large: refused before any decoding.
    token = page.locator("#formulaire-photo input[name=csrf_token]").input_value()
    big = b"\x89PNG" + bytes(12 * 1024 * 1024)
    too_big = page.request.post(
        "/pro/lire-photo",
        multipart={
            "csrf_token": token,
            "photo": {"name": "big.png", "mimeType": "image/png", "buffer": big},
        },
    )
    assert too_big.status == 413
    assert "trop lourde" in too_big.text()

    photo = tmp_path / "qr.png"
    segno.make(setup.code(), error="q", micro=False).save(str(photo), scale=6, border=4)
    page.locator("#photo-carte").set_input_files(str(photo))
    page.get_by_role("button", name="Lire la photo").click()
    expect(page).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
    choose(page, "Jeanne DUPONT")
    expect(page.locator("#ins-matricule")).to_have_text(setup.jeanne.matricule)


def test_photo_decoding_limits() -> None:
    big = io.BytesIO()
    Image.new("L", (100, 100), 255).save(big, "PNG")
    with pytest.raises(Exception, match="code QR"):
        decode_card_photo(big.getvalue())
    other = io.BytesIO()
    segno.make("https://exemple.fr", micro=False).save(other, kind="png", scale=5)
    with pytest.raises(Exception, match="carte Carnet"):
        decode_card_photo(other.getvalue())


def test_documents_list_open_upload_and_delete(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup,
    tmp_path: Path,
) -> None:  # fmt: skip
    holder_upload(setup, "Bilan sanguin")
    holder_upload(setup, "Note personnelle masquée", hidden=True)
    page = signed_in_page(new_context, web_settings, base_url, setup)
    read_with_scanner(page, setup.code())
    choose(page, "Jeanne DUPONT")
    page.get_by_role("link", name="Documents de l’espace santé").click()
    listing = page.locator("#liste-documents tbody")
    expect(listing).to_contain_text("Bilan sanguin")
    expect(listing).not_to_contain_text("Note personnelle masquée")
    expect(listing.locator("tr")).to_have_count(1)
    assert axe_violations(page) == []

    # Open it: the PDF, as a download that no cache keeps.
    href = listing.get_by_role("link", name=re.compile("Ouvrir")).get_attribute("href")
    assert href is not None
    opened = page.request.get(href)
    assert opened.status == 200
    assert opened.headers["content-type"] == "application/pdf"
    assert opened.headers["content-disposition"].startswith("attachment;")
    assert opened.headers["cache-control"] == "no-store"
    assert opened.body().startswith(b"%PDF")

    # Upload a report: missing fields first, then a real PDF.
    report = tmp_path / "compte-rendu.pdf"
    report.write_bytes(samples.pdf(note="Consultation"))
    page.locator("#depot-fichier").set_input_files(str(report))
    page.get_by_role("button", name="Déposer le document").click()
    expect(page.locator("#erreur-depot")).to_be_visible()
    assert axe_violations(page) == []
    page.locator("#depot-titre").fill("Compte rendu de consultation")
    page.locator("#depot-type").select_option("11490-0")
    page.locator("#depot-date").fill("2026-11-20")
    page.locator("#depot-fichier").set_input_files(str(report))
    page.get_by_role("button", name="Déposer le document").click()
    expect(page.locator("#message-documents")).to_contain_text("déposé")
    expect(listing.locator("tr")).to_have_count(2)
    mine = listing.locator("tr", has_text="Compte rendu de consultation")
    expect(mine).to_contain_text("20/11/2026")
    # Only what they authored can be deleted.
    expect(listing.locator("tr", has_text="Bilan sanguin").get_by_role("button")).to_have_count(0)
    assert axe_violations(page) == []
    mine.get_by_role("button", name=re.compile("Supprimer")).click()
    expect(page.locator("#message-documents")).to_contain_text("supprimé")
    expect(listing.locator("tr")).to_have_count(1)
    # The holder sees the professional's report was deleted, their own document kept.
    mine_api = setup.client.get(f"{SPACES}/me/documents", headers=setup.holder(setup.jeanne.id))
    titles = sorted(d["title"] for d in mine_api.json()["items"])
    assert titles == ["Bilan sanguin", "Note personnelle masquée"]


def test_break_glass_needs_a_reason(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup
) -> None:
    holder_upload(setup, "Bilan sanguin")
    page = signed_in_page(new_context, web_settings, base_url, setup)
    read_with_scanner(page, setup.code())
    choose(page, "Jeanne DUPONT")
    # The holder withdraws the care relationship the reading created.
    withdrawn = setup.client.delete(
        f"{SPACES}/me/consents/{RPPS}", headers=setup.holder(setup.jeanne.id)
    )
    assert withdrawn.status_code in (200, 204), withdrawn.text
    page.get_by_role("link", name="Documents de l’espace santé").click()
    expect(page.locator("#acces-refuse")).to_contain_text("relation de soins")
    expect(page.locator("#liste-documents")).to_have_count(0)
    assert axe_violations(page) == []
    page.get_by_role("button", name="Accéder en urgence").click()
    expect(page.locator("#motif-urgence-erreur")).to_contain_text("obligatoire")
    assert axe_violations(page) == []
    page.locator("#motif-urgence").fill("Patiente inconsciente aux urgences, allergies ?")
    page.get_by_role("button", name="Accéder en urgence").click()
    expect(page.locator("#message-documents")).to_contain_text("urgence")
    expect(page.locator("#liste-documents tbody")).to_contain_text("Bilan sanguin")
    # The holder's access history names the emergency access and its reason.
    history = setup.client.get(f"{SPACES}/me/history", headers=setup.holder(setup.jeanne.id))
    assert "inconsciente" in history.text


@pytest.mark.parametrize("locale", ["fr-FR", "en-GB"])
def test_signed_in_pages_have_no_serious_violation(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup,
    locale: str,
) -> None:  # fmt: skip
    holder_upload(setup, "Bilan sanguin")
    page = signed_in_page(new_context, web_settings, base_url, setup, locale)
    page.goto("/pro")
    assert axe_violations(page) == []
    page.locator("#code-carte").fill(setup.code())
    page.locator("#lecture-carte button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
    context_url = page.url
    assert axe_violations(page) == []  # /pro/patient/{context_id}
    page.locator("#choix-beneficiaire a").first.click()
    expect(page.locator("#ins-matricule")).to_be_visible()
    assert axe_violations(page) == []  # /pro/patient/{context_id}/{ref}
    page.goto(page.url + "/documents")
    expect(page.locator("#liste-documents")).to_be_visible()
    assert axe_violations(page) == []  # /pro/patient/{context_id}/{ref}/documents
    # A context that does not exist (or expired): a clear page.
    page.goto(context_url[:-5] + "AAAAA")
    expect(page.locator("#lecture-expiree")).to_be_visible()
    assert axe_violations(page) == []


def test_not_signed_in_the_card_form_says_to_sign_in(page: Page) -> None:
    from tests.web.conftest import card_code

    page.goto("/pro")
    expect(page.locator("#connexion-pro").get_by_role("link")).to_have_attribute(
        "href", "/pro/connexion"
    )
    page.locator("#code-carte").fill(card_code(1, 120))
    page.get_by_role("button", name="Lire la carte").click()
    expect(page.locator("#resultat-lecture")).to_contain_text("Connectez-vous")
    expect(page.locator("#resultat-lecture").get_by_role("link")).to_have_attribute(
        "href", "/pro/connexion"
    )
    assert axe_violations(page) == []
    page.goto("/pro/patient/" + "A" * 43)
    expect(page).to_have_url(re.compile("/pro$"))


def _y4m(path: Path, picture: Image.Image, frames: int = 5) -> None:
    """A short Y4M video (4:2:0) of a grey picture: Chromium's fake camera plays it in a loop."""
    grey = picture.convert("L")
    width, height = grey.size
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + grey.tobytes() + chroma + chroma)


def test_webcam_capture_reads_the_card(
    browser: Browser, web_settings: Settings, base_url: str, setup: Setup, tmp_path: Path
) -> None:
    """Desktop webcam: Chromium's fake camera films the card's QR code; the frame is captured
    on a canvas, uploaded as the photo, decoded on the server."""
    qr = io.BytesIO()
    segno.make(setup.code(), error="q", micro=False).save(qr, kind="png", scale=5, border=4)
    code_image = Image.open(qr).convert("L")
    frame = Image.new("L", (640, 480), 255)
    frame.paste(code_image, ((640 - code_image.width) // 2, (480 - code_image.height) // 2))
    video = tmp_path / "camera.y4m"
    _y4m(video, frame)
    filmed = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = filmed.new_context(base_url=base_url, locale="fr-FR")
        context.set_default_timeout(15_000)
        sign_in_as(context, web_settings, base_url, session_identity(setup.pro))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/pro")
        webcam = page.locator("#webcam")
        expect(webcam).to_be_visible()
        assert axe_violations(page) == []
        page.get_by_role("button", name="Démarrer la caméra").click()
        capture = page.get_by_role("button", name="Capturer et lire")
        expect(capture).to_be_enabled()
        page.wait_for_function("() => document.getElementById('webcam-video').videoWidth > 0")
        page.wait_for_timeout(500)  # a few frames: the picture is settled
        capture.click()
        expect(page).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
        choose(page, "Jeanne DUPONT")
        assert errors == []
    finally:
        filmed.close()


def test_without_a_camera_only_the_file_input_shows(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup
) -> None:
    page = signed_in_page(new_context, web_settings, base_url, setup)
    page.goto("/pro")
    expect(page.locator("#photo-carte")).to_be_visible()
    expect(page.locator("#photo-carte")).to_have_attribute("capture", "environment")
    expect(page.locator("#photo-carte")).to_have_attribute("accept", "image/*")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#webcam")).to_be_hidden()


@pytest.mark.parametrize(("locale", "title"), [("fr-FR", "Lecture expirée"), ("en-GB", None)])
def test_an_expired_reading_says_to_read_the_card_again(
    new_context: ContextFactory, web_settings: Settings, base_url: str, setup: Setup, db: Database,
    locale: str, title: str | None,
) -> None:  # fmt: skip
    page = signed_in_page(new_context, web_settings, base_url, setup, locale)
    page.goto("/pro")
    page.locator("#code-carte").fill(setup.code())
    page.locator("#lecture-carte button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/pro/patient/[A-Za-z0-9_-]{43}$"))
    context_url = page.url
    page.locator("#choix-beneficiaire a").first.click()
    expect(page.locator("#ins-matricule")).to_be_visible()
    patient_url = page.url
    # Time passes: the context reaches its stored expiry (CARNET_APCV_CONTEXT_TTL_SECONDS).
    public_id = context_url.rsplit("/", 1)[1]
    with db.session() as s:
        s.execute(
            update(ApcvContext)
            .where(ApcvContext.public_id == public_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    for url in (context_url, patient_url, patient_url + "/documents"):
        response = page.goto(url)
        assert response is not None
        assert response.status == 410, url
        expect(page.locator("#lecture-expiree")).to_be_visible()
        if title is not None:
            expect(page.get_by_role("heading", level=1)).to_have_text(title)
            expect(page.locator("#lecture-expiree")).to_contain_text("Lisez à nouveau sa carte")
        # Nothing of the patient is shown any more.
        expect(page.locator("#ins-matricule")).to_have_count(0)
        expect(page.locator("main")).not_to_contain_text("DUPONT")
        assert axe_violations(page) == []
    # "Read a card" leads back to the reading form.
    page.locator("main").get_by_role("link").last.click()
    expect(page).to_have_url(re.compile("/pro$"))
    expect(page.locator("#code-carte")).to_be_visible()
