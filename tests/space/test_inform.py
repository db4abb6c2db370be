"""Creation and information (job space.inform, `carnet space inform`): a pending space for every
living register person; an e-mail to the card account's confirmed address, else a recorded
letter; a child's information goes to the parent, never to the child; letters exported for the
print shop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.cards.models import CardAccount
from carnet.db import Database
from carnet.identity.models import Person
from carnet.mail.sink import MailSink
from carnet.space.models import Space, SpaceLetter
from carnet.space.service import is_minor

from ..factories import add_person
from .conftest import Family, RunCli, cover


def _spaces(db: Database) -> dict[int, Space]:
    with db.session() as s:
        return {space.person_id: space for space in s.scalars(select(Space)).all()}


def _letters(db: Database) -> list[SpaceLetter]:
    with db.session() as s:
        return list(s.scalars(select(SpaceLetter).order_by(SpaceLetter.id)).all())


def _smtp(sink: MailSink) -> dict[str, str]:
    return {"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_PORT": str(sink.port)}


def test_inform_creates_pending_spaces_and_sends_email_or_letter(
    cli: RunCli, family: Family, db: Database, mail_sink: MailSink
) -> None:
    run = cli("space", "inform", "--now", "2027-01-04T09:00:00+01:00", env=_smtp(mail_sink))
    assert run.exit_code == 0, run.stderr
    # Jeanne (e-mail) informs herself and, for Lucas, by e-mail; Paul and Awa (unconfirmed
    # address) by letter; the deceased person gets no space.
    assert run.json() == {
        "created": 4,
        "informed_by_email": 2,
        "informed_by_letter": 2,
        "deferred": 0,
    }
    spaces = _spaces(db)
    assert set(spaces) == {family.jeanne.id, family.lucas.id, family.paul.id, family.awa.id}
    assert all(space.state == "pending" for space in spaces.values())
    assert spaces[family.jeanne.id].channel == "email"
    assert spaces[family.lucas.id].channel == "email"
    assert spaces[family.paul.id].channel == "letter"
    assert spaces[family.awa.id].channel == "letter"
    deadline = spaces[family.paul.id].objection_deadline
    assert deadline == datetime(2027, 2, 15, 8, 0, tzinfo=UTC)  # 6 weeks later

    own = [m for m in mail_sink.messages() if "votre enfant" not in m.subject]
    child = [m for m in mail_sink.messages() if "votre enfant" in m.subject]
    assert [m.to for m in own] == [family.jeanne_email]
    assert [m.to for m in child] == [family.jeanne_email]  # to the parent
    assert all(m.to != family.lucas_email for m in mail_sink.messages())
    text = own[0].text
    assert "Madame Jeanne DUPONT" in text
    assert "15 février 2027" in text
    assert "POST /api/v1/spaces/me/objection" in text
    assert f"carnet space object {family.jeanne.id}" in text
    assert "archivées" in text
    assert "10 ans" in text
    assert "3 mois" in text
    assert "Lucas DUPONT" in child[0].subject
    assert f"/api/v1/spaces/{family.lucas.id}/objection" in child[0].text

    letters = _letters(db)
    assert {(x.person_id, x.recipient_person_id, x.kind) for x in letters} == {
        (family.paul.id, family.paul.id, "information"),
        (family.awa.id, family.awa.id, "information"),
    }
    paul = next(x for x in letters if x.person_id == family.paul.id)
    assert paul.text.startswith("LETTRE RECOMMANDÉE — Monsieur Paul BERNARD")
    assert "15 février 2027" in paul.text
    with db.session() as s:
        informed = s.scalars(
            select(AuditEvent.person_id).where(AuditEvent.action == "space.inform")
        ).all()
    assert sorted(p for p in informed if p is not None) == sorted(spaces)

    # A second run finds nothing to do; a new person of the register is picked up.
    again = cli("space", "inform", env=_smtp(mail_sink))
    assert again.json() == {
        "created": 0,
        "informed_by_email": 0,
        "informed_by_letter": 0,
        "deferred": 0,
    }
    with db.session() as s:
        newcomer = add_person(
            s, birth_name="PETIT", first_names="ZOE", sex="F", birth_date="1999-03-03"
        )
    third = cli("space", "inform", env=_smtp(mail_sink))
    assert third.json()["created"] == 1
    assert _spaces(db)[newcomer.id].channel == "letter"


def test_child_without_known_representative_is_deferred_never_informed_directly(
    cli: RunCli, db: Database, mail_sink: MailSink
) -> None:
    with db.session() as s:
        baby = add_person(s, birth_name="ROUX", first_names="LEA", sex="F", birth_date="2026-10-01")
    first = cli("space", "inform", "--now", "2026-11-23T10:00:00+00:00", env=_smtp(mail_sink))
    assert first.json()["created"] == 1
    assert first.json()["deferred"] == 1
    space = _spaces(db)[baby.id]
    assert (space.state, space.information_sent_at) == ("pending", None)
    assert _letters(db) == []
    # Once attached to a parent in the rights, the parent is informed by letter.
    with db.session() as s:
        mother = add_person(
            s, birth_name="ROUX", first_names="EMMA", sex="F", birth_date="1992-06-06"
        )
        cover(s, mother, mother)
        cover(s, s.get_one(Person, baby.id), mother)
    second = cli("space", "inform", "--now", "2026-11-24T10:00:00+00:00", env=_smtp(mail_sink))
    assert second.json()["informed_by_letter"] == 2  # the mother's own space and the baby's
    [letter] = [x for x in _letters(db) if x.person_id == baby.id]
    assert letter.recipient_person_id == mother.id
    assert letter.kind == "information_representative"
    assert "Madame Emma ROUX" in letter.text
    assert "Lea ROUX" in letter.text


def test_without_a_mail_server_emails_are_deferred_and_letters_still_go(
    cli: RunCli, family: Family, db: Database
) -> None:
    run = cli("space", "inform")  # test settings: no SMTP server
    assert run.json() == {
        "created": 4,
        "informed_by_email": 0,
        "informed_by_letter": 2,
        "deferred": 2,
    }
    spaces = _spaces(db)
    assert spaces[family.jeanne.id].information_sent_at is None
    assert spaces[family.jeanne.id].objection_deadline is None


def test_a_refused_address_falls_back_to_a_letter(
    cli: RunCli, db: Database, mail_sink: MailSink
) -> None:
    with db.session() as s:
        person = add_person(
            s, birth_name="NOEL", first_names="ANNE", sex="F", birth_date="1970-12-25"
        )
        # An address the platform itself refuses to send to (not a valid address any more).
        s.add(CardAccount(person_id=person.id, email="anne@", confirmed_at=datetime.now(UTC)))
    run = cli("space", "inform", env=_smtp(mail_sink))
    assert run.json()["informed_by_letter"] == 1
    assert _spaces(db)[person.id].channel == "letter"


def test_limit_bounds_one_run(cli: RunCli, db: Database) -> None:
    with db.session() as s:
        for order in range(1, 8):
            add_person(
                s,
                birth_name="LEROY",
                first_names="JEAN",
                sex="M",
                birth_date="1960-01-01",
                order=order,
            )
    first = cli("space", "inform", "--limit", "3")
    assert first.json()["created"] == 3
    assert first.json()["informed_by_letter"] == 3
    rest = cli("space", "inform")
    assert rest.json()["created"] == 4
    assert rest.json()["informed_by_letter"] == 4
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Space)) == 7


def test_a_space_created_ahead_on_demand_does_not_make_the_creation_skip_anyone(
    cli: RunCli, db: Database
) -> None:
    with db.session() as s:
        first = add_person(
            s, birth_name="BLANC", first_names="LOUIS", sex="M", birth_date="1950-02-02"
        )
        second = add_person(
            s, birth_name="BLANC", first_names="ROSE", sex="F", birth_date="1951-03-03"
        )
        third = add_person(
            s, birth_name="BLANC", first_names="JULES", sex="M", birth_date="1952-04-04"
        )
    first_run = cli("space", "inform", "--limit", "1")
    assert first_run.json()["created"] == 1  # the first person's space, by the creation
    # The third person objects before the creation reaches them: a space far ahead of it.
    cli("space", "object", str(third.matricule))
    plain = cli("space", "inform")
    assert plain.json()["created"] == 1  # the second person, not skipped
    spaces = _spaces(db)
    assert {spaces[p.id].state for p in (first, second)} == {"pending"}
    assert spaces[third.id].state == "objected"
    again = cli("space", "inform")
    assert again.json()["created"] == 0  # resumes after what the creation made: nothing left
    rescan = cli("space", "inform", "--rescan")
    assert rescan.json()["created"] == 0  # the full re-scan finds the same: no one missing


def test_letters_export_writes_jsonl_once(
    cli: RunCli, family: Family, db: Database, tmp_path: Path
) -> None:
    cli("space", "inform")
    out = cli("space", "letters", "export", str(tmp_path / "print"))
    assert out.exit_code == 0, out.stderr
    summary = out.json()
    assert summary["exported"] == 2
    lines = [json.loads(x) for x in Path(summary["file"]).read_text().splitlines()]
    assert {x["person_id"] for x in lines} == {family.paul.id, family.awa.id}
    assert all(x["text"].startswith("LETTRE RECOMMANDÉE") for x in lines)
    assert all(x.exported_at is not None for x in _letters(db))
    again = cli("space", "letters", "export", str(tmp_path / "print"))
    assert again.json() == {"exported": 0, "file": None}


def test_operator_show_and_requests(cli: RunCli, family: Family) -> None:
    cli("space", "inform")
    shown = cli("space", "show", family.paul.matricule)
    assert shown.exit_code == 0, shown.stderr
    body = shown.json()
    assert body["state"] == "pending"
    assert [x["kind"] for x in body["letters"]] == ["information"]
    assert cli("space", "show", str(family.paul.id)).json()["person_id"] == family.paul.id
    objected = cli("space", "object", str(family.paul.id))
    assert objected.json()["state"] == "objected"
    refused = cli("space", "close", str(family.paul.id))
    assert refused.exit_code == 1
    assert "nothing to close" in refused.stderr
    unknown = cli("space", "show", "999999999")
    assert unknown.exit_code == 1
    assert "no health space" in unknown.stderr


def test_is_minor_with_partial_dates() -> None:
    day = datetime(2026, 6, 1, tzinfo=UTC).date()
    assert is_minor("2010-06-02", day)
    assert not is_minor("2008-06-01", day)
    assert not is_minor("2008-00-00", day)  # unknown month and day: 1 January
    assert is_minor("2009-00-00", day)
