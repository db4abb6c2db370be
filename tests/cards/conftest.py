"""Card fixtures: register persons, the mail sink wired into the app, and activated wallets.

Activation goes through the public API exactly as a device does (``carnet.wallet.Wallet``),
reading the e-mailed one-time code from the real SMTP sink.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from carnet.config import Settings
from carnet.db import Database
from carnet.identity.models import Person
from carnet.mail.sink import MailSink
from carnet.rights.models import Coverage
from carnet.wallet import Wallet

from ..factories import add_person

SECRET = "2580"
OTHER_SECRET = "7391"


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


@dataclass(frozen=True)
class People:
    """Register persons: the holder, her child, a trusted person and a stranger."""

    jeanne: Person
    lucas: Person  # Jeanne's son (attached to her when the rights say so)
    marc: Person  # a trusted person (a grandparent)
    paul: Person  # nobody to Jeanne

    @staticmethod
    def email(person: Person) -> str:
        return f"{person.first_names.split()[0].lower()}.{person.id}@exemple.fr"


@pytest.fixture
def people(db: Database) -> People:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE MARIE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        marc = add_person(
            s, birth_name="MARTIN", first_names="MARC", sex="M", birth_date="1952-01-20"
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
        for person in (jeanne, marc, paul):
            cover(s, person, person)
        cover(s, lucas, jeanne)
    return People(jeanne, lucas, marc, paul)


def cover(session: Session, person: Person, insured: Person, *, end: date | None = None) -> None:
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
            end_date=end,
        )
    )
    session.flush()


def otp_from(mail_sink: MailSink, email: str) -> str:
    match = re.search(r"\b(\d{6})\b", mail_sink.wait_for(email).text)
    assert match, "no 6-digit code in the message"
    return match.group(1)


Activate = Callable[..., Wallet]


@pytest.fixture
def activate(app_client: TestClient, mail_sink: MailSink, tmp_path: Path) -> Activate:
    """Activate a card for ``person`` on a new wallet (or on ``wallet``) and return the wallet."""
    counter = iter(range(1000))

    def make(person: Person, *, secret: str = SECRET, wallet: Wallet | None = None) -> Wallet:
        wallet = wallet or Wallet.open(tmp_path / f"wallet-{person.id}-{next(counter)}")
        email = People.email(person)
        wallet.start_activation(app_client, person.matricule, person.birth_date, email)
        wallet.confirm_email(app_client, otp_from(mail_sink, email))
        wallet.complete_activation(app_client, secret)
        return wallet

    return make
