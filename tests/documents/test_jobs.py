"""The R1111-53 announcement job and the space purge (called by the jobs domain)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from carnet.cards.models import CardAccount
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.service import documents_service
from carnet.mail.sink import MailSink

from ..space.conftest import RunCli, cli
from . import samples
from .conftest import SPACES, World

__all__ = ["cli"]  # the fixture


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


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _still_due(db: Database, public_id: object) -> bool:
    with db.engine.connect() as c:
        return (
            c.execute(
                text("SELECT announcement_notified_at FROM documents WHERE public_id = :p"),
                {"p": public_id},
            ).scalar_one()
            is None
        )


def test_announcement_job_sends_after_commit_and_a_failing_server_leaves_it_due(
    world: World, db: Database, settings: Settings, mail_sink: MailSink, cli: RunCli
) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    with db.session() as s:
        s.add(
            CardAccount(
                person_id=jeanne.id, email="jeanne@example.org", confirmed_at=datetime.now(UTC)
            )
        )
    hidden = _hidden_upload(world)
    when = (datetime.now(UTC) + timedelta(days=14, minutes=1)).isoformat()
    job = ("jobs", "run", "--only", "documents.announcements", "--now", when)

    # The mail server is down: the transaction marked the document, the failed sending (after
    # the commit) un-marked it in a second transaction, audited.
    down = cli(*job, env={"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_PORT": str(_closed_port())})
    assert down.exit_code == 0, down.stderr
    assert down.lines()[-1] == {
        "job": "documents.announcements",
        "status": "success",
        "notified": 0,
        "without_email": 0,
        "failed": 1,
    }
    assert _still_due(db, hidden["id"])
    with db.engine.connect() as c:
        details = (
            c.execute(
                text(
                    "SELECT detail FROM audit_events WHERE action = 'space.documents.announcement' "
                    "ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert details == ["notified", "mail_failed"]

    # A unit of work that fails after the job's work sends nothing and marks nothing.
    def failing_unit_of_work() -> None:
        with db.session() as s:
            report = documents_service.announcement_due(s, datetime.fromisoformat(when), settings)
            assert report.notified == 1
            raise RuntimeError("the commit fails")

    with pytest.raises(RuntimeError, match="commit fails"):
        failing_unit_of_work()
    assert mail_sink.messages() == []
    assert _still_due(db, hidden["id"])

    # The server is back: the next run notifies, once.
    up = cli(*job, env={"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_PORT": str(mail_sink.port)})
    assert up.lines()[-1]["notified"] == 1
    assert "consultation d'annonce" in mail_sink.wait_for("jeanne@example.org").text
    assert not _still_due(db, hidden["id"])
    again = cli(
        *job, env={"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_PORT": str(mail_sink.port)}
    )
    assert again.lines()[-1]["notified"] == 0
    assert len(mail_sink.messages()) == 1
