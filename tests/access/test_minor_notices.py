"""Access notices of a minor's space go to the parents (the insured persons the child is attached
to in the rights), never to the child; an adult child's go to herself (through the real SMTP
sink, the HTTP API and the emergency access)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carnet.cards.models import CardAccount
from carnet.config import Settings
from carnet.db import Database
from carnet.identity.models import Person
from carnet.mail.sink import MailSink

from ..factories import add_person
from .conftest import RPPS, SPACES, World, years_ago


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


def _email(person: Person) -> str:
    return f"{person.first_names.split()[0].lower()}.{person.id}@example.org"


def _card_accounts(db: Database, *persons: Person) -> None:
    with db.session() as s:
        for person in persons:
            s.add(
                CardAccount(
                    person_id=person.id, email=_email(person), confirmed_at=datetime.now(UTC)
                )
            )


def _recipients(mail_sink: MailSink, start: int) -> list[str]:
    return sorted(r.lower() for m in mail_sink.messages()[start:] for r in m.recipients)


def test_a_minors_emergency_access_is_notified_to_the_parent_not_the_child(
    world: World, db: Database, mail_sink: MailSink
) -> None:
    jeanne, lucas = world.people.jeanne, world.people.lucas
    _card_accounts(db, jeanne, lucas)
    world.open_space(lucas, as_person=jeanne)
    start = len(mail_sink.messages())
    response = world.emergency(lucas, "doctor")
    assert response.status_code == 201, response.text
    assert response.json()["notified"] is True
    message = mail_sink.wait_for(_email(jeanne))
    assert "LUCAS" in message.subject
    assert "urgence" in message.text
    assert _recipients(mail_sink, start) == [_email(jeanne)]  # never the child

    # The regulator too.
    start = len(mail_sink.messages())
    response = world.emergency(lucas, "regulator", "regulation")
    assert response.status_code == 201, response.text
    mail_sink.wait_for(_email(jeanne))
    assert _recipients(mail_sink, start) == [_email(jeanne)]


def test_a_minors_opted_in_notices_go_to_the_parent_and_not_for_her_own_access(
    world: World, db: Database, mail_sink: MailSink
) -> None:
    jeanne, lucas = world.people.jeanne, world.people.lucas
    _card_accounts(db, jeanne, lucas)
    world.open_space(lucas, as_person=jeanne)
    response = world.client.put(
        f"{SPACES}/{lucas.id}/privacy",
        json={"emergency_access_refused": False, "notify_by_email": True},
        headers=world.holder(jeanne.id),
    )
    assert response.status_code == 200, response.text
    response = world.client.post(
        f"{SPACES}/{lucas.id}/consents",
        json={"rpps": RPPS["doctor"]},
        headers=world.holder(jeanne.id),
    )
    assert response.status_code == 201, response.text
    start = len(mail_sink.messages())
    # The parent's own access (a representative's) is not notified to herself.
    listing = world.client.get(f"{SPACES}/{lucas.id}/documents", headers=world.holder(jeanne.id))
    assert listing.status_code == 200, listing.text
    read = world.client.get(f"{SPACES}/{lucas.id}/documents", headers=world.pro("doctor"))
    assert read.status_code == 200, read.text
    mail_sink.wait_for(_email(jeanne))
    assert _recipients(mail_sink, start) == [_email(jeanne)]


def test_an_adult_child_gets_her_own_notices_and_a_child_without_parent_none(
    world: World, db: Database, mail_sink: MailSink
) -> None:
    jeanne, emma = world.people.jeanne, world.people.emma
    _card_accounts(db, jeanne, emma)
    world.open_space(emma)  # 18 today: her own space
    start = len(mail_sink.messages())
    response = world.emergency(emma, "doctor")
    assert response.status_code == 201, response.text
    mail_sink.wait_for(_email(emma))
    assert _recipients(mail_sink, start) == [_email(emma)]

    # A child the rights attach to nobody: the notice goes to no one, not to the child.
    with db.session() as s:
        alone = add_person(
            s, birth_name="SEUL", first_names="NOE", sex="M", birth_date=years_ago(12)
        )
    _card_accounts(db, alone)
    world.open_space(alone)
    start = len(mail_sink.messages())
    response = world.emergency(alone, "doctor")
    assert response.status_code == 201, response.text
    assert response.json()["notified"] is False
    assert _recipients(mail_sink, start) == []
