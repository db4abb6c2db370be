"""The R1111-53 announcement job and the space purge (called by the jobs domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from carnet.cards.models import CardAccount
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.service import documents_service
from carnet.mail.sink import MailSink

from . import samples
from .conftest import SPACES, World


@pytest.fixture
def settings(settings: Settings, mail_sink: MailSink) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})


def _hidden_upload(world: World) -> dict[str, object]:
    jeanne = world.family.jeanne
    return world.uploaded(
        world.pro("author"), space=str(jeanne.id), title="À annoncer", invisible_to_patient=True
    )


def test_announcement_notifies_the_holder_after_two_weeks_once(
    world: World, db: Database, settings: Settings, mail_sink: MailSink
) -> None:
    jeanne, paul = world.family.jeanne, world.family.paul
    world.consent(jeanne, "author")
    world.consent(paul, "author")
    with db.session() as s:
        s.add(
            CardAccount(
                person_id=jeanne.id, email="jeanne@example.org", confirmed_at=datetime.now(UTC)
            )
        )
    first = _hidden_upload(world)
    second = _hidden_upload(world)
    world.uploaded(world.pro("author"), space=str(jeanne.id), title="Visible")
    no_mail = world.uploaded(world.pro("author"), space=str(paul.id), invisible_to_patient=True)
    now = datetime.now(UTC)
    with db.session() as s:
        early = documents_service.announcement_due(s, now + timedelta(days=13), settings)
    assert early.notified == 0
    assert not mail_sink.messages()
    with db.session() as s:
        report = documents_service.announcement_due(
            s, now + timedelta(days=14, minutes=1), settings
        )
    assert report.notified == 2
    assert report.without_email == 1
    assert report.failed == 0
    assert set(report.documents) == {first["id"], second["id"], no_mail["id"]}
    message = mail_sink.wait_for("jeanne@example.org")
    assert "2 documents" in message.subject
    assert "consultation d'annonce" in message.text
    assert len(mail_sink.messages()) == 1  # one message per holder
    with db.session() as s:
        again = documents_service.announcement_due(s, now + timedelta(days=20), settings)
    assert again.notified == 0
    assert again.without_email == 0
    # Still hidden from the patient until the month is over.
    assert world.listing(world.me()) != []
    assert first["id"] not in world.listing(world.me())
    with db.engine.connect() as c:
        audited = c.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'space.documents.announcement'")
        ).scalar_one()
    assert audited == 3


def test_purge_deletes_documents_blobs_and_key(
    world: World, db: Database, settings: Settings
) -> None:
    jeanne, paul = world.family.jeanne, world.family.paul
    mine = world.uploaded(world.me(), samples.pdf())
    theirs = world.uploaded(world.me(paul), samples.png(), "image/png")
    with db.session() as s:
        report = documents_service.purge_person(s, jeanne.id, settings)
    assert report.documents == 1
    assert report.key_destroyed
    assert not (world.blob_dir / str(jeanne.id)).exists()
    assert (world.blob_dir / str(paul.id) / theirs["id"]).is_file()
    with db.engine.connect() as c:
        rows = c.execute(
            text("SELECT count(*) FROM documents WHERE person_id = :p"), {"p": jeanne.id}
        ).scalar_one()
        keys = c.execute(
            text("SELECT count(*) FROM space_data_keys WHERE person_id = :p"), {"p": jeanne.id}
        ).scalar_one()
    assert rows == 0
    assert keys == 0
    gone = world.client.get(f"{SPACES}/me/documents/{mine['id']}", headers=world.me())
    assert gone.status_code == 404


def test_a_failed_transaction_leaves_no_blob(
    world: World, db: Database, settings: Settings
) -> None:
    from carnet.auth.principal import Principal
    from carnet.documents import schemas

    holder = Principal(
        client_id="card:0", scopes=frozenset({"holder"}), person_id=world.family.jeanne.id
    )
    meta = schemas.DocumentMetadata(class_code="10", type_code="11502-2", title="Annulé")

    def failing_request() -> None:
        with db.session() as s:
            documents_service.create(
                s,
                settings,
                holder,
                "me",
                meta,
                samples.pdf(),
                "application/pdf",
                "a.pdf",
                now=datetime.now(UTC),
            )
            assert [p for p in world.blob_dir.rglob("*") if p.is_file()]
            raise RuntimeError("the request fails after the upload")

    with pytest.raises(RuntimeError, match="fails after the upload"):
        failing_request()
    assert not [p for p in world.blob_dir.rglob("*") if p.is_file()]
    assert world.listing(world.me()) == []
