"""Health-space fixtures: register persons (adults, a family, a deceased person), card accounts
with confirmed e-mails, and the `carnet` command line run in-process against the test database.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from carnet.cards.models import CardAccount
from carnet.config import get_settings
from carnet.db import Database
from carnet.identity.models import Person
from carnet.rights.models import Coverage

from ..factories import add_person


def cover(session: Session, person: Person, insured: Person) -> None:
    """Rights from 2020 on: ``person`` covered as ``insured`` (self) or as their child."""
    session.add(
        Coverage(
            person_id=person.id,
            insured_person_id=insured.id,
            quality="00" if person.id == insured.id else "06",
            rank=1,
            regime="01",
            fund="751",
            centre="0001",
            start_date=date(2020, 1, 1),
        )
    )
    session.flush()


def give_email(session: Session, person: Person, *, confirmed: bool = True) -> str:
    """A card account for ``person`` (what a card activation leaves behind)."""
    email = f"{person.first_names.split()[0].lower()}.{person.id}@exemple.fr"
    session.add(
        CardAccount(
            person_id=person.id,
            email=email,
            confirmed_at=datetime.now(UTC) if confirmed else None,
        )
    )
    session.flush()
    return email


@dataclass(frozen=True)
class Family:
    """Jeanne (e-mail) and her son Lucas (7, attached to her, with an e-mail of his own that must
    never be used); Paul (no e-mail), Awa (unconfirmed e-mail), a deceased person."""

    jeanne: Person
    lucas: Person
    paul: Person
    awa: Person
    deceased: Person
    jeanne_email: str
    lucas_email: str
    awa_email: str


@pytest.fixture
def family(db: Database) -> Family:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2019-09-03"
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
        awa = add_person(
            s, birth_name="DIALLO", first_names="AWA", sex="F", birth_date="1978-02-01", order=2
        )
        deceased = add_person(
            s, birth_name="MARTIN", first_names="ANDRE", sex="M", birth_date="1931-05-05"
        )
        deceased.death_date = "2024-01-10"
        for person in (jeanne, paul, awa):
            cover(s, person, person)
        cover(s, lucas, jeanne)
        jeanne_email = give_email(s, jeanne)
        lucas_email = give_email(s, lucas)
        awa_email = give_email(s, awa, confirmed=False)
    return Family(jeanne, lucas, paul, awa, deceased, jeanne_email, lucas_email, awa_email)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The last JSON document printed (log lines of the in-process run are skipped)."""
        decoder = json.JSONDecoder()
        found: Any = None
        offset = 0
        for line in self.stdout.splitlines(keepends=True):
            if line.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    found, _end = decoder.raw_decode(self.stdout[offset:])
            offset += len(line)
        assert found is not None, self.stdout
        return found

    def lines(self) -> list[Any]:
        """The JSON lines printed (one object per line)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


RunCli = Callable[..., CliResult]


@pytest.fixture
def cli(database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``carnet ARGS...`` in-process (Typer runner) against the test database; ``env``
    adds CARNET_* variables (e.g. the SMTP sink's port)."""
    from carnet.cli import app

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        with monkeypatch.context() as patch:
            patch.setenv("CARNET_DATABASE_URL", database_url)
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            try:
                result = CliRunner().invoke(app, list(args), catch_exceptions=False)
            finally:
                get_settings.cache_clear()
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
