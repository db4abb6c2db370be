"""Professionals and relatives: who sees which document (MASQUE_PS, INVISIBLE_PATIENT with the
R1111-53 month, INVISIBLE_REPRESENTANTS_LEGAUX, the access matrix), authorship rules for versions
and deletion, and 404 for what one may not see. These need ``access.service.authorize``'s
professional and representative rules (consent, care relationship, matrix)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carnet.auth.principal import Principal
from carnet.db import Database
from carnet.documents import schemas
from carnet.documents.service import documents_service

from . import samples
from .conftest import SPACES, World


def _pro_upload(world: World, role: str, **fields: object) -> dict[str, object]:
    space = str(world.family.jeanne.id)
    return world.uploaded(world.pro(role), space=space, **fields)


def test_a_professional_with_consent_feeds_and_reads_the_space(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    doc = _pro_upload(world, "author", title="CR de consultation")
    assert doc["author"]["professional_id"] == world.pros["author"]
    assert "Author" in str(doc["author"]["label"])
    # The holder sees it, and so does the author.
    assert world.listing(world.me()) == [doc["id"]]
    assert world.listing(world.pro("author"), space=str(jeanne.id)) == [doc["id"]]
    content = world.client.get(
        f"{SPACES}/{jeanne.id}/documents/{doc['id']}/content", headers=world.pro("author")
    )
    assert content.status_code == 200
    assert content.content == samples.pdf()


def test_without_consent_a_professional_is_refused(world: World) -> None:
    response = world.upload(world.pro("doctor"), space=str(world.family.jeanne.id))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_care_relationship"


def test_hidden_from_professionals_except_the_author(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    world.consent(jeanne, "doctor")
    theirs = _pro_upload(world, "author", title="CR de l'auteur")
    mine = world.uploaded(world.me(), title="Mon document masqué", hidden_from_professionals=True)
    # The holder hides the professional's document too.
    hide = world.client.patch(
        f"{SPACES}/me/documents/{theirs['id']}/visibility",
        json={"hidden_from_professionals": True},
        headers=world.me(),
    )
    assert hide.status_code == 200
    space = str(jeanne.id)
    assert world.listing(world.pro("doctor"), space=space) == []
    assert world.listing(world.pro("author"), space=space) == [theirs["id"]]
    for doc in (theirs, mine):
        response = world.client.get(
            f"{SPACES}/{space}/documents/{doc['id']}", headers=world.pro("doctor")
        )
        assert response.status_code == 404  # not "forbidden": its existence is not told
    # The professional may not change the holder's choice.
    response = world.client.patch(
        f"{SPACES}/{space}/documents/{theirs['id']}/visibility",
        json={"hidden_from_professionals": False},
        headers=world.pro("author"),
    )
    assert response.status_code == 403


def test_invisible_to_the_patient_until_a_month_has_passed(world: World, db: Database) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    doc = _pro_upload(world, "author", title="Résultat à annoncer", invisible_to_patient=True)
    visibility = doc["visibility"]
    assert isinstance(visibility, dict)
    assert visibility["invisible_to_patient"] is True
    assert world.listing(world.me()) == []
    hidden = world.client.get(f"{SPACES}/me/documents/{doc['id']}", headers=world.me())
    assert hidden.status_code == 404
    assert world.listing(world.pro("author"), space=str(jeanne.id)) == [doc["id"]]
    # One month later the patient sees it without any job (the rule reads the date).
    holder = Principal(client_id="card:0", scopes=frozenset({"holder"}), person_id=jeanne.id)
    later = datetime.now(UTC) + timedelta(days=31)
    with db.session() as s:
        page = documents_service.search(s, holder, "me", schemas.DocumentQuery(), now=later)
    assert [d.id for d in page.items] == [doc["id"]]
    # The author ends the wait after the announcement consultation.
    response = world.client.patch(
        f"{SPACES}/{jeanne.id}/documents/{doc['id']}/visibility",
        json={"invisible_to_patient": False},
        headers=world.pro("author"),
    )
    assert response.status_code == 200, response.text
    assert world.listing(world.me()) == [doc["id"]]


def test_versions_and_deletion_by_the_author_or_the_holder_only(world: World) -> None:
    jeanne = world.family.jeanne
    space = str(jeanne.id)
    world.consent(jeanne, "author")
    world.consent(jeanne, "doctor")
    doc = _pro_upload(world, "author")
    others = world.client.delete(
        f"{SPACES}/{space}/documents/{doc['id']}", headers=world.pro("doctor")
    )
    assert others.status_code == 403
    assert others.json()["error"]["code"] == "not_document_author"
    version = world.client.post(
        f"{SPACES}/{space}/documents/{doc['id']}/versions",
        files={"file": ("v2.pdf", samples.pdf(2), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "v2"},
        headers=world.pro("author"),
    )
    assert version.status_code == 201, version.text
    gone = world.client.delete(
        f"{SPACES}/{space}/documents/{version.json()['id']}", headers=world.pro("author")
    )
    assert gone.status_code == 204
    assert world.listing(world.me()) == []


def test_the_access_matrix_filters_document_types(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "podiatrist")
    advance = world.uploaded(
        world.me(), class_code="90", type_code="EXPPAT_3", title="Directives anticipées"
    )
    podiatrist = world.pro("podiatrist")
    listed = world.listing(podiatrist, space=str(jeanne.id))
    readable = world.client.get(
        f"{SPACES}/{jeanne.id}/documents/{advance['id']}", headers=podiatrist
    )
    # Whatever the matrix says for this type, the listing and a read agree.
    assert (advance["id"] in listed) == (readable.status_code == 200)


def test_hidden_from_legal_representatives(world: World) -> None:
    lucas = world.family.lucas
    jeanne = world.family.jeanne
    world.open_space(lucas, as_person=jeanne)
    space = str(lucas.id)
    # Lucas's mother manages his space; a document hidden from representatives escapes her.
    shown = world.uploaded(world.me(jeanne), space=space, title="Vaccins")
    world.consent_as(lucas, jeanne, "author")
    secret = world.uploaded(
        world.pro("author"),
        space=space,
        title="Consultation confidentielle",
        hidden_from_legal_representatives=True,
    )
    assert world.listing(world.me(jeanne), space=space) == [shown["id"]]
    response = world.client.get(
        f"{SPACES}/{space}/documents/{secret['id']}", headers=world.me(jeanne)
    )
    assert response.status_code == 404
    # A representative may not set that flag.
    refused = world.upload(world.me(jeanne), space=space, hidden_from_legal_representatives=True)
    assert refused.status_code == 403
