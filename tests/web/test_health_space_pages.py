"""The insured person's health-space pages (``/espace-sante``) in a real browser.

Jeanne has a real passkey card (activated through the API) and a son, Lucas (10), attached to
her in the rights; a GP and a nurse are in the directory, each with their software (scope
``dmp``). Each test signs Jeanne in (``sessions.sign_in_as``) and drives the pages; what a
professional sees afterwards is checked through the REST API, as their software would.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfWriter
from sqlalchemy import select

from carnet.cards.models import Card
from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.mail.sink import MailSink
from tests.cards.conftest import cover
from tests.cards.test_passkey import VerifyingAuthenticator, proofed_activation, register
from tests.conftest import HolderHeaders, TokenFactory
from tests.factories import add_person
from tests.web.conftest import ContextFactory, axe_violations
from tests.web.sessions import sign_in_as

SPACES = "/api/v1/spaces"
CABINET = "90000001900019"
RPPS_GP = "10100000438"
RPPS_NURSE = "10100000446"
LOCALES = ["fr-FR", "en-GB"]


@pytest.fixture
def settings(web_settings: Settings, mail_sink: MailSink) -> Settings:
    """The live server's settings (same secret, passkey origin, blob store), with the mail sink
    for the card activation made through ``app_client``."""
    return web_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})


def years_ago(years: int) -> str:
    today = datetime.now(UTC).date()
    return today.replace(year=today.year - years, day=min(today.day, 28)).isoformat()


@dataclass(frozen=True)
class World:
    client: TestClient
    jeanne: Person
    lucas: Person  # her son (10), attached to her
    paul: Person  # a stranger
    card_id: int
    pros: dict[str, int]
    holder: HolderHeaders
    client_for: TokenFactory

    def identity(self) -> dict[str, int]:
        now = int(datetime.now(UTC).timestamp())
        return {"person_id": self.jeanne.id, "card_id": self.card_id, "signed_in_at": now}

    def pro(self, rpps: str = RPPS_GP) -> dict[str, str]:
        return self.client_for("dmp", professional_id=self.pros[rpps])

    def open_space(self, person: Person | None = None) -> None:
        person = person or self.jeanne
        response = self.client.post(
            f"{SPACES}/{person.id}/opening", headers=self.holder(self.jeanne.id)
        )
        assert response.status_code == 200, response.text

    def pro_documents(self, rpps: str = RPPS_GP, person: Person | None = None) -> Any:
        person = person or self.jeanne
        return self.client.get(f"{SPACES}/{person.id}/documents", headers=self.pro(rpps))


@pytest.fixture
def world(
    app_client: TestClient,
    db: Database,
    mail_sink: MailSink,
    settings: Settings,
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
) -> World:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date=years_ago(10)
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
        cover(s, jeanne, jeanne)
        cover(s, lucas, jeanne)
        cover(s, paul, paul)
    # Jeanne's real card: activation (identity + e-mail code) and a passkey, through the API.
    activation_id = proofed_activation(app_client, mail_sink, jeanne)
    registered = register(app_client, settings, activation_id, VerifyingAuthenticator())
    assert registered.status_code == 201, registered.text
    with db.session() as s:
        card_id = s.scalar(select(Card.id).where(Card.person_id == jeanne.id))
    assert card_id is not None
    lines = [",".join(DIRECTORY_HEADER)]
    for rpps, family, profession in ((RPPS_GP, "Morel", "10"), (RPPS_NURSE, "Roux", "60")):
        lines.append(
            ",".join(
                [
                    rpps,
                    "8" + rpps,
                    family,
                    "Claire",
                    profession,
                    "",
                    CABINET,
                    "Cabinet",
                    "Rennes",
                    "1",
                ]
            )
        )
    report = import_directory(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        pros = {
            r: directory_service.professional_id_for_binding(s, r) for r in (RPPS_GP, RPPS_NURSE)
        }
    return World(app_client, jeanne, lucas, paul, int(card_id), pros, holder_headers, auth_headers)


def signed_in(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World,
    locale: str = "fr-FR",
) -> Page:  # fmt: skip
    context = new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    sign_in_as(context, settings, base_url, world.identity())
    return context.new_page()


def no_violation(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "ordonnance.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path, format="PNG")
    return path


def pdf_file(tmp_path: Path) -> Path:
    path = tmp_path / "bilan.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with path.open("wb") as out:
        writer.write(out)
    return path


# -- lifecycle -----------------------------------------------------------------------------------


def test_objection_early_opening_closure_and_reopening(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon espace santé")
    expect(page.locator("#espace-de")).to_contain_text("Espace santé de Jeanne DUPONT")
    expect(page.locator("#etat-espace")).to_contain_text("Pas encore créé")
    # The holder's navigation links here; the children's spaces are offered.
    expect(page.get_by_role("link", name="Mon espace santé").first).to_be_visible()
    expect(page.locator("#enfants")).to_contain_text("Lucas DUPONT")
    no_violation(page)

    # Objection (before opening), with its consequences shown first.
    page.get_by_role("link", name="M’opposer à l’ouverture").click()
    expect(page.locator("#consequences")).to_contain_text("Vous refusez l’ouverture")
    no_violation(page)
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(page.locator("#message-fait")).to_contain_text("Votre opposition est enregistrée")
    expect(page.locator("#etat-espace")).to_contain_text("Opposition enregistrée")
    no_violation(page)
    # Professionals cannot learn the space exists.
    assert world.pro_documents().status_code == 404

    # Opening after the objection.
    page.get_by_role("link", name="Ouvrir l’espace santé maintenant").click()
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(page.locator("#etat-espace")).to_contain_text("Ouvert")
    no_violation(page)

    # Closure: the consequences, and a box to tick (the server checks it too).
    page.get_by_role("link", name="Fermer l’espace santé").click()
    expect(page.locator("#consequences")).to_contain_text("conservées dix ans")
    no_violation(page)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post("/espace-sante/action/closure", form={"csrf_token": csrf or ""})
    assert refused.status == 422
    assert "Cochez la case" in refused.text()
    page.get_by_label("J’ai compris les conséquences de cette action.").check(force=True)
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(page.locator("#etat-espace")).to_contain_text("Fermé (archivé)")
    no_violation(page)
    # A closed space: its documents are out of reach, with a message saying why.
    page.goto("/espace-sante/documents")
    expect(page.locator("#espace-indisponible")).to_contain_text("n’est pas ouvert")
    no_violation(page)

    page.goto("/espace-sante")
    page.get_by_role("link", name="Rouvrir l’espace santé").click()
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(page.locator("#etat-espace")).to_contain_text("Ouvert")
    status = world.client.get(f"{SPACES}/me", headers=world.holder(world.jeanne.id)).json()
    assert status["state"] == "open"


def test_an_impossible_action_is_a_message_not_an_error(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/action/reopening")
    page.get_by_role("button", name=re.compile("^Confirmer")).click()
    expect(page.locator("#erreur-action")).to_contain_text("pas possible")
    no_violation(page)
    page.goto("/espace-sante/action/nimporte-quoi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page non trouvée")


@pytest.mark.parametrize("locale", LOCALES)
def test_each_state_passes_axe_in_both_languages(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World, locale: str
) -> None:
    page = signed_in(new_context, settings, base_url, world, locale)
    for path in ["/espace-sante", "/espace-sante/documents", "/espace-sante/profil",
                 "/espace-sante/historique", "/espace-sante/confidentialite",
                 "/espace-sante/action/objection"]:  # fmt: skip
        page.goto(path)  # no space yet
        no_violation(page)
    world.open_space()
    for path in ["/espace-sante", "/espace-sante/documents", "/espace-sante/profil",
                 "/espace-sante/profil/allergie/nouveau", "/espace-sante/profil/mesure/nouveau",
                 "/espace-sante/profil/directives/nouveau", "/espace-sante/action/closure",
                 "/espace-sante/action/deletion-request"]:  # fmt: skip
        page.goto(path)
        no_violation(page)
    if locale == "en-GB":
        page.goto("/espace-sante")
        expect(page.get_by_role("heading", level=1)).to_have_text("My health space")


# -- documents -----------------------------------------------------------------------------------


def test_upload_view_filter_hide_and_delete_documents(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    world: World,
    tmp_path: Path,
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    # Jeanne lets her GP in (a consent, from the privacy page).
    page.goto("/espace-sante/confidentialite")
    page.locator("#acces-rpps").fill(RPPS_GP)
    page.get_by_role("button", name="Donner l’accès", exact=True).click()
    expect(page.locator("#acces-pro")).to_contain_text("Claire Morel")

    page.goto("/espace-sante/documents")
    expect(page.locator("#aucun-document")).to_be_visible()
    # A photo from the phone's camera (the capture input) …
    expect(page.locator("#photo")).to_have_attribute("capture", "environment")
    expect(page.locator("#photo")).to_have_attribute("accept", "image/*,application/pdf")
    page.locator("#photo").set_input_files(str(png_file(tmp_path)))
    page.locator("#titre").fill("Ordonnance du Dr Morel")
    page.locator("#type").select_option("DOCPAT02")
    page.get_by_role("button", name="Ajouter le document").click()
    expect(page.locator("#message-fait")).to_contain_text("Le document est ajouté")
    # … and a PDF from the files.
    page.locator("#fichier").set_input_files(str(pdf_file(tmp_path)))
    page.locator("#titre").fill("Bilan sanguin")
    page.locator("#type").select_option("DOCPAT05")
    page.locator("#date-acte").fill("2026-10-02")
    page.get_by_role("button", name="Ajouter le document").click()
    documents = page.locator("#documents > li")
    expect(documents).to_have_count(2)
    no_violation(page)

    # A file of another kind: the documents service's refusal, as a message.
    text_file = tmp_path / "notes.txt"
    text_file.write_text("pas un document médical")
    page.locator("#fichier").set_input_files(str(text_file))
    page.locator("#titre").fill("Notes")
    page.get_by_role("button", name="Ajouter le document").click()
    expect(page.locator("#erreur-ajout")).to_contain_text("n’est pas accepté")
    no_violation(page)

    # Filters: by type, by date.
    page.goto("/espace-sante/documents")
    page.locator("#filtre-type").select_option("DOCPAT05")
    page.get_by_role("button", name="Filtrer").click()
    expect(documents).to_have_count(1)
    expect(documents.first).to_contain_text("Bilan sanguin")
    page.goto("/espace-sante/documents?du=2026-10-01&au=2026-10-03")
    expect(documents).to_have_count(1)
    page.goto("/espace-sante/documents?auteur=personne-inconnue")
    expect(page.locator("#aucun-document")).to_be_visible()
    page.goto("/espace-sante/documents")

    # The GP sees both documents.
    listed = world.pro_documents()
    assert listed.status_code == 200, listed.text
    titles = {d["title"]: d["id"] for d in listed.json()["items"]}
    assert set(titles) == {"Ordonnance du Dr Morel", "Bilan sanguin"}

    # View: the PDF inline, never stored.
    pdf_row = documents.filter(has_text="Bilan sanguin")
    href = pdf_row.get_by_role("link", name="Bilan sanguin", exact=True).get_attribute("href")
    assert href is not None
    content = page.request.get(href)
    assert content.status == 200
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["cache-control"] == "no-store"
    assert content.headers["content-disposition"].startswith("inline")
    assert content.body().startswith(b"%PDF")

    # Hide the photo from professionals (htmx swaps the row): the GP no longer sees it.
    photo_row = documents.filter(has_text="Ordonnance du Dr Morel")
    photo_row.get_by_role("button", name=re.compile("^Masquer aux professionnels")).click()
    expect(photo_row).to_contain_text("Masqué aux professionnels")
    expect(photo_row.locator("[role=status]")).to_contain_text("masqué")
    no_violation(page)
    assert [d["title"] for d in world.pro_documents().json()["items"]] == ["Bilan sanguin"]
    gone = world.client.get(
        f"{SPACES}/{world.jeanne.id}/documents/{titles['Ordonnance du Dr Morel']}/content",
        headers=world.pro(),
    )
    assert gone.status_code == 404
    # Shown again (without htmx too: the plain form answers with the page).
    page.reload()
    photo_row.get_by_role("button", name=re.compile("^Rendre visible")).click()
    expect(photo_row).not_to_contain_text("Masqué aux professionnels")
    assert len(world.pro_documents().json()["items"]) == 2

    # Delete, after a confirmation page.
    pdf_row.get_by_role("link", name=re.compile("^Supprimer")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Supprimer un document")
    no_violation(page)
    page.get_by_role("button", name="Supprimer définitivement").click()
    expect(page.locator("#message-fait")).to_contain_text("Le document est supprimé")
    expect(documents).to_have_count(1)
    assert [d["title"] for d in world.pro_documents().json()["items"]] == ["Ordonnance du Dr Morel"]
    assert page.request.get(href).status == 404


def test_documents_pages_answer_wrong_input_with_messages(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/documents?du=pas-une-date&decalage=abc&categorie=zz")
    expect(page.locator("#filtres")).to_contain_text("La date indiquée n’est pas valide")
    page.locator("#titre").fill("Sans fichier")
    page.get_by_role("button", name="Ajouter le document").click()  # no file
    expect(page.locator("#erreur-ajout")).to_contain_text("Choisissez un fichier")
    missing = page.request.get("/espace-sante/documents/inconnu/contenu")
    assert missing.status == 404
    assert "Page non trouvée" in missing.text()
    # Odd addresses are 4xx pages, never errors.
    for path, status in [
        ("/espace-sante?espace=abc", 404),
        ("/espace-sante/documents?espace=99999999999999999999", 404),
        ("/espace-sante/historique?avant=123456789012345678901&qui=nobody", 200),
        ("/espace-sante/documents?decalage=99999999999", 200),
        ("/espace-sante/profil/allergie/inconnu", 404),
        ("/espace-sante/profil/inconnu/nouveau", 404),
        ("/espace-sante/documents/inconnu/suppression", 404),
    ]:
        assert page.request.get(path).status == status, path


# -- medical profile -----------------------------------------------------------------------------


def test_profile_items_added_edited_deleted_with_validation_errors(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/profil")
    expect(page.locator("#allergies-vide")).to_be_visible()
    no_violation(page)

    page.get_by_role("link", name="Ajouter une allergie").click()
    page.get_by_role("button", name="Enregistrer").click()  # nothing typed
    expect(page.locator("#substance-erreur")).to_contain_text("Ce champ est obligatoire")
    no_violation(page)
    page.get_by_label("Substance ou produit").fill("Pénicilline")
    page.get_by_label("Gravité").select_option("high")
    page.get_by_label("Réaction (facultatif)").fill("Urticaire")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#message-fait")).to_contain_text("ajoutée à votre profil")
    expect(page.locator("#allergies")).to_contain_text("Pénicilline")
    expect(page.locator("#allergies")).to_contain_text("Urticaire")

    # Edit it.
    page.locator("#allergies").get_by_role("link", name=re.compile("^Modifier")).click()
    expect(page.get_by_label("Substance ou produit")).to_have_value("Pénicilline")
    page.get_by_label("Substance ou produit").fill("Amoxicilline")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#allergies")).to_contain_text("Amoxicilline")
    expect(page.locator("#allergies")).not_to_contain_text("Pénicilline")

    # A treatment, a vaccination, advance directives.
    page.get_by_role("link", name="Ajouter un traitement").click()
    page.get_by_label("Médicament").fill("Ramipril 5 mg")
    page.get_by_label("Posologie (facultatif)").fill("1 comprimé le matin")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#traitements")).to_contain_text("Ramipril 5 mg")
    page.get_by_role("link", name="Ajouter une vaccination").click()
    page.locator("#vaccin").fill("Grippe saisonnière")
    page.get_by_label("Date de la vaccination").fill("2025-10-15")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#vaccinations")).to_contain_text("Grippe saisonnière")
    page.get_by_role("link", name="Ajouter des directives anticipées").click()
    page.get_by_label("Vos directives").fill("Je refuse tout acharnement thérapeutique.")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#directives")).to_contain_text("Je refuse tout acharnement")

    # A measurement the profile service refuses (implausible), then a good one.
    page.get_by_role("link", name="Ajouter une mesure").click()
    page.get_by_label("Mesure", exact=True).select_option("poids")
    page.get_by_label("Valeur").fill("7200")
    page.get_by_label("Date de la mesure").fill("2026-11-01")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#valeur-erreur")).to_contain_text("pas vraisemblable")
    no_violation(page)
    page.get_by_label("Valeur").fill("72,5")
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    page.get_by_label("Date de la mesure").fill(tomorrow)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#date-erreur")).to_contain_text("futur")
    page.get_by_label("Date de la mesure").fill("2026-11-01")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#mesures")).to_contain_text("72,5 kg")
    no_violation(page)

    # The profile the API serves (and a professional would read) is the same.
    summary = world.client.get(f"{SPACES}/me/profile", headers=world.holder(world.jeanne.id))
    body = summary.json()
    assert body["allergies"][0]["code"]["text"] == "Amoxicilline"
    assert body["measurements"][0]["value"] == 72.5

    # Delete the vaccination: a confirmation page first (as for documents); cancel, then confirm.
    page.locator("#vaccinations").get_by_role("link", name=re.compile("^Supprimer")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Supprimer une information du profil médical"
    )
    expect(page.locator("main")).to_contain_text("Grippe saisonnière")
    no_violation(page)
    page.get_by_role("link", name="Annuler").click()
    expect(page.locator("#vaccinations")).to_contain_text("Grippe saisonnière")
    page.locator("#vaccinations").get_by_role("link", name=re.compile("^Supprimer")).click()
    page.get_by_role("button", name="Supprimer définitivement").click()
    expect(page.locator("#message-fait")).to_contain_text("supprimée du profil")
    expect(page.locator("#vaccinations-vide")).to_be_visible()


# -- history and privacy -------------------------------------------------------------------------


def test_history_shows_accesses_and_blocking_a_professional_refuses_their_api_access(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    consent = world.client.post(
        f"{SPACES}/me/consents", json={"rpps": RPPS_GP}, headers=world.holder(world.jeanne.id)
    )
    assert consent.status_code == 201, consent.text
    assert world.pro_documents().status_code == 200  # the GP reads the space

    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/historique")
    rows = page.locator("#historique tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Claire Morel")
    expect(rows.first).to_contain_text("Documents : consultation")
    no_violation(page)
    page.goto("/espace-sante/historique?qui=emergency")
    expect(page.locator("#historique-vide")).to_be_visible()
    page.goto("/espace-sante/historique")

    # Block her from the history: her software is refused from then on.
    rows.first.get_by_role("button", name=re.compile("^Bloquer")).click()
    expect(page.locator("#message-fait")).to_contain_text("Le professionnel est bloqué")
    refused = world.pro_documents()
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "professional_blocked"

    page.goto("/espace-sante/confidentialite")
    expect(page.locator("#bloques")).to_contain_text("Claire Morel")
    no_violation(page)
    page.locator("#bloques").get_by_role("button", name=re.compile("^Débloquer")).click()
    expect(page.locator("#bloques-vide")).to_be_visible()
    assert world.pro_documents().status_code == 200

    # Block by a search on the name, then wrong RPPS numbers get messages.
    page.locator("#recherche").fill("Roux")
    page.get_by_role("button", name="Chercher").click()
    expect(page.locator("#resultats-pro")).to_contain_text("Claire Roux")
    page.locator("#resultats-pro").get_by_role("button", name=re.compile("^Bloquer")).click()
    expect(page.locator("#bloques")).to_contain_text("Claire Roux")
    page.locator("#bloquer-rpps").fill("123")
    page.get_by_role("button", name="Bloquer ce professionnel").click()
    expect(page.locator("#erreur-block")).to_contain_text("11 chiffres")
    page.locator("#bloquer-rpps").fill("10100000999")
    page.get_by_role("button", name="Bloquer ce professionnel").click()
    expect(page.locator("#erreur-block")).to_contain_text("Aucun professionnel")
    page.locator("#bloquer-rpps").fill(RPPS_NURSE)
    page.get_by_role("button", name="Bloquer ce professionnel").click()
    expect(page.locator("#erreur-block")).to_contain_text("déjà bloqué")
    no_violation(page)


def test_refusing_emergency_access_and_letting_a_relative_in(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World, db: Database
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/confidentialite")
    page.get_by_label("Je refuse l’accès d’urgence").check(force=True)
    page.get_by_label("Me prévenir par courriel de chaque accès à mon espace santé").check(
        force=True
    )
    page.locator("#parametres").get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#message-fait")).to_contain_text("paramètres de confidentialité")
    expect(page.get_by_label("Je refuse l’accès d’urgence")).to_be_checked()
    emergency = world.client.post(
        f"{SPACES}/{world.jeanne.id}/emergency-access",
        json={"reason": "Patiente inconsciente aux urgences", "kind": "emergency"},
        headers=world.pro(RPPS_NURSE),
    )
    assert emergency.status_code == 403
    assert emergency.json()["error"]["code"] == "emergency_access_refused"
    page.get_by_label("J’autorise l’accès d’urgence (professionnels et régulation médicale)").check(
        force=True
    )
    page.locator("#parametres").get_by_role("button", name="Enregistrer").click()
    allowed = world.client.post(
        f"{SPACES}/{world.jeanne.id}/emergency-access",
        json={"reason": "Patiente inconsciente aux urgences", "kind": "emergency"},
        headers=world.pro(RPPS_NURSE),
    )
    assert allowed.status_code == 201, allowed.text
    page.goto("/espace-sante/confidentialite")
    expect(page.locator("#acces-pro")).to_contain_text("Accès d’urgence")

    # A relative (Paul) with read access to the documents.
    page.locator("#proche-nir").fill("123")
    page.get_by_role("button", name="Donner l’accès à ce proche").click()
    expect(page.locator("#erreur-aidant")).to_contain_text("13 chiffres")
    page.locator("#proche-nir").fill(world.paul.matricule)
    page.get_by_role("button", name="Donner l’accès à ce proche").click()
    expect(page.locator("#proches")).to_contain_text("PAUL BERNARD")
    expect(page.locator("#proches")).to_contain_text("Consulter les documents")
    no_violation(page)
    as_paul = world.client.get(
        f"{SPACES}/{world.jeanne.id}/documents", headers=world.holder(world.paul.id)
    )
    assert as_paul.status_code == 200, as_paul.text
    page.locator("#proches").get_by_role("button", name=re.compile("^Retirer")).click()
    expect(page.locator("#proches-vide")).to_be_visible()
    as_paul = world.client.get(
        f"{SPACES}/{world.jeanne.id}/documents", headers=world.holder(world.paul.id)
    )
    assert as_paul.status_code == 403


# -- a child's space ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_a_parent_manages_a_childs_space(
    new_context: ContextFactory,
    settings: Settings,
    base_url: str,
    world: World,
    tmp_path: Path,
    locale: str,
) -> None:
    page = signed_in(new_context, settings, base_url, world, locale)
    page.goto("/espace-sante")
    page.locator("#enfants").get_by_role("link", name=re.compile("Lucas DUPONT")).click()
    expect(page).to_have_url(re.compile(rf"/espace-sante\?espace={world.lucas.id}$"))
    expect(page.locator("#espace-de")).to_contain_text("Lucas DUPONT")
    no_violation(page)
    open_label = "Ouvrir l’espace santé maintenant" if locale == "fr-FR" else re.compile("Open")
    page.get_by_role("link", name=open_label).first.click()
    page.locator("form button[type=submit]").first.click()
    state = world.client.get(f"{SPACES}/{world.lucas.id}", headers=world.holder(world.jeanne.id))
    assert state.json()["state"] == "open"
    assert state.json()["opened_how"] == "representative"

    # Every section stays in Lucas's space.
    page.locator("nav[aria-label] a[href^='/espace-sante/documents']").first.click()
    expect(page).to_have_url(re.compile(rf"/espace-sante/documents\?espace={world.lucas.id}$"))
    expect(page.locator("#espace-de")).to_contain_text("Lucas DUPONT")
    page.locator("#fichier").set_input_files(str(pdf_file(tmp_path)))
    page.locator("#titre").fill("Carnet de vaccination")
    page.locator("#ajout-document button[type=submit]").click()
    expect(page.locator("#documents > li")).to_have_count(1)
    no_violation(page)
    lucas_docs = world.client.get(
        f"{SPACES}/{world.lucas.id}/documents", headers=world.holder(world.jeanne.id)
    ).json()["items"]
    assert [d["title"] for d in lucas_docs] == ["Carnet de vaccination"]
    mine = world.client.get(f"{SPACES}/me/documents", headers=world.holder(world.jeanne.id))
    assert mine.status_code == 404  # Jeanne's own space does not exist yet: nothing went there

    for path in ["/espace-sante/profil", "/espace-sante/historique",
                 "/espace-sante/confidentialite"]:  # fmt: skip
        page.goto(f"{path}?espace={world.lucas.id}")
        expect(page.locator("#espace-de")).to_contain_text("Lucas DUPONT")
        no_violation(page)

    # A stranger's space: refused by the access service.
    paul = world.client.post(f"{SPACES}/me/opening", headers=world.holder(world.paul.id))
    assert paul.status_code == 200, paul.text
    refused = page.request.get(f"/espace-sante?espace={world.paul.id}")
    assert refused.status == 403
    refused = page.request.get(f"/espace-sante/documents?espace={world.paul.id}")
    assert refused.status == 403


def test_signed_out_visitors_go_to_the_sign_in_page(page: Page) -> None:
    for path in ["/espace-sante", "/espace-sante/documents", "/espace-sante/profil",
                 "/espace-sante/historique", "/espace-sante/confidentialite"]:  # fmt: skip
        page.goto(path)
        expect(page).to_have_url(re.compile("/carte/connexion$"))
    anonymous = page.request.post("/espace-sante/action/objection")
    assert anonymous.status == 403  # no CSRF token: refused before anything else


# -- history filter and the professional recorded; profile deletion confirmed ---------------------


def test_history_filter_pages_through_one_kind_and_blocks_by_the_recorded_rpps(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    consent = world.client.post(
        f"{SPACES}/me/consents", json={"rpps": RPPS_GP}, headers=world.holder(world.jeanne.id)
    )
    assert consent.status_code == 201, consent.text
    for _ in range(25):  # 25 readings by the GP…
        assert world.pro_documents().status_code == 200
    opened = world.client.post(  # …then 3 emergency accesses by the nurse, the newest.
        f"{SPACES}/{world.jeanne.id}/emergency-access",
        json={"reason": "Patiente inconsciente aux urgences", "kind": "emergency"},
        headers=world.pro(RPPS_NURSE),
    )
    assert opened.status_code == 201, opened.text
    for _ in range(2):
        assert world.pro_documents(RPPS_NURSE).status_code == 200

    # The REST history: the professional as recorded (directory id and RPPS), filtered in the
    # query so that each page is full and the cursor continues within the filter.
    holder = world.holder(world.jeanne.id)
    first = world.client.get(f"{SPACES}/me/history?actor_kind=professional", headers=holder)
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert len(items) == 20
    assert {(i["actor_kind"], i["professional_rpps"], i["professional_id"]) for i in items} == {
        ("professional", RPPS_GP, world.pros[RPPS_GP])
    }
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    rest = world.client.get(
        f"{SPACES}/me/history?actor_kind=professional&cursor={cursor}", headers=holder
    ).json()
    assert len(rest["items"]) == 5
    assert rest["next_cursor"] is None
    urgent = world.client.get(f"{SPACES}/me/history?actor_kind=emergency", headers=holder).json()
    assert [i["professional_rpps"] for i in urgent["items"]] == [RPPS_NURSE] * 3
    wrong = world.client.get(f"{SPACES}/me/history?actor_kind=nobody", headers=holder)
    assert wrong.status_code == 422

    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/historique?qui=professional")
    rows = page.locator("#historique tbody tr")
    expect(rows).to_have_count(20)
    expect(page.get_by_label("Qui a accédé")).to_have_value("professional")
    no_violation(page)
    page.get_by_role("link", name="Accès plus anciens").click()
    expect(rows).to_have_count(5)
    expect(page).to_have_url(re.compile(r"qui=professional"))
    expect(page.get_by_role("link", name="Accès plus anciens")).to_have_count(0)
    page.get_by_role("link", name="Accès les plus récents").click()
    expect(rows).to_have_count(20)

    # Blocking from an emergency row names the nurse by the RPPS the history recorded.
    page.get_by_label("Qui a accédé").select_option("emergency")
    page.get_by_role("button", name="Filtrer").click()
    expect(rows).to_have_count(3)
    expect(rows.first.locator("input[name=rpps]")).to_have_value(RPPS_NURSE)
    rows.first.get_by_role("button", name=re.compile("^Bloquer")).click()
    expect(page.locator("#message-fait")).to_contain_text("Le professionnel est bloqué")
    refused = world.pro_documents(RPPS_NURSE)
    assert refused.json()["error"]["code"] == "professional_blocked"
    assert world.pro_documents().status_code == 200  # the GP is not


def test_a_profile_item_changed_since_the_confirmation_is_not_deleted_unseen(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world)
    page.goto("/espace-sante/profil/allergie/nouveau")
    page.get_by_label("Substance ou produit").fill("Pénicilline")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#allergies")).to_contain_text("Pénicilline")
    page.locator("#allergies").get_by_role("link", name=re.compile("^Supprimer")).click()
    expect(page.locator("main")).to_contain_text("Pénicilline")

    # Meanwhile the allergy is changed elsewhere (the REST API, another device).
    holder = world.holder(world.jeanne.id)
    [allergy] = world.client.get(f"{SPACES}/me/profile", headers=holder).json()["allergies"]
    url = f"{SPACES}/me/profile/AllergyIntolerance/{allergy['id']}"
    current = world.client.get(url, headers=holder)
    changed = current.json() | {"code": {"text": "Amoxicilline"}}
    put = world.client.put(
        url, json=changed, headers=holder | {"If-Match": current.headers["ETag"]}
    )
    assert put.status_code == 200, put.text

    page.get_by_role("button", name="Supprimer définitivement").click()
    expect(page.locator("#erreur-suppression")).to_contain_text("modifiée entre-temps")
    expect(page.locator("main")).to_contain_text("Amoxicilline")
    no_violation(page)
    assert world.client.get(url, headers=holder).status_code == 200  # not deleted
    page.get_by_role("button", name="Supprimer définitivement").click()
    expect(page.locator("#message-fait")).to_contain_text("supprimée du profil")
    expect(page.locator("#allergies-vide")).to_be_visible()
    assert world.client.get(url, headers=holder).status_code == 410


@pytest.mark.parametrize("locale", LOCALES)
def test_the_profile_deletion_page_passes_axe(
    new_context: ContextFactory, settings: Settings, base_url: str, world: World, locale: str
) -> None:
    world.open_space()
    page = signed_in(new_context, settings, base_url, world, locale)
    page.goto("/espace-sante/profil/traitement/nouveau")
    page.locator("#medicament").fill("Ramipril 5 mg")
    page.locator("main form button[type=submit]").last.click()
    page.locator("#traitements a[href*=suppression]").click()
    expect(page.locator("main form button[type=submit]")).to_be_visible()
    no_violation(page)
    if locale == "en-GB":
        expect(page.get_by_role("heading", level=1)).not_to_have_text(
            "Supprimer une information du profil médical"
        )
