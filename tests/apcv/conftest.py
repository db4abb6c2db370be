"""apCV fixtures: a family with rights, a professional in the directory, software bound to them,
and cards activated through the public API by the reference wallet (e-mail codes read from the
real SMTP sink)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.mail.sink import MailSink
from carnet.rights.importer import HEADER as RIGHTS_HEADER
from carnet.rights.importer import import_rights
from carnet.wallet import Wallet

from ..conftest import TokenFactory
from ..factories import add_person

SECRET = "2580"
DELEGATE_SECRET = "7391"
# Synthetic directory entries (11-digit RPPS; a SIRET with a valid key).
RPPS_GP = "10100000412"
RPPS_PHARMACIST = "10100000420"
RPPS_UNKNOWN = "10199999990"
SIRET_CABINET = "90000001900019"
CONTEXTS = "/api/v1/apcv/contexts"


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


@dataclass(frozen=True)
class Family:
    """Jeanne (insured) and her son Lucas (attached to her), Marc (Lucas's grandfather, insured
    on his own: the trusted person), Paul (nobody to them)."""

    jeanne: Person
    lucas: Person
    marc: Person
    paul: Person

    @staticmethod
    def email(person: Person) -> str:
        return f"{person.first_names.split()[0].lower()}.{person.id}@exemple.fr"


def _rights_csv(family: Family) -> str:
    def line(person: Person, insured: Person | None, quality: str) -> str:
        insured_nir = insured.matricule if insured is not None else ""
        return (
            f"{person.matricule},{person.birth_date},1,{insured_nir},{quality},01,351,0001,"
            "2020-01-01,,"
        )

    lines = [
        ",".join(RIGHTS_HEADER),
        line(family.jeanne, None, "00"),
        line(family.lucas, family.jeanne, "06"),
        line(family.marc, None, "00"),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def family(db: Database) -> Family:
    with db.session() as s:
        jeanne = add_person(
            s,
            birth_name="DUPONT",
            first_names="JEANNE MARIE",
            sex="F",
            birth_date="1985-04-12",
            used_name="LEROY",
        )
        lucas = add_person(
            s, birth_name="LEROY", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        marc = add_person(
            s, birth_name="DUPONT", first_names="MARC ANDRE", sex="M", birth_date="1952-01-20"
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
    family = Family(jeanne, lucas, marc, paul)
    # Paul has no rights at all: a card can be read, the rights say "not covered".
    report = import_rights(db, io.StringIO(_rights_csv(family)))
    assert report.committed, report.errors
    return family


@dataclass(frozen=True)
class Professionals:
    gp_id: int
    pharmacist_id: int


@pytest.fixture
def professionals(db: Database) -> Professionals:
    def line(rpps: str, family_name: str, given: str, profession: str, place: str) -> str:
        return ",".join(
            [
                rpps,
                "8" + rpps,
                family_name,
                given,
                profession,
                "",
                SIRET_CABINET,
                place,
                "Rennes",
                "1",
            ]
        )

    text = "\n".join(
        [
            ",".join(DIRECTORY_HEADER),
            line(RPPS_GP, "Morel", "Claire", "10", "Cabinet médical des Tilleuls"),
            line(RPPS_PHARMACIST, "Lefèvre", "Julien", "21", "Cabinet médical des Tilleuls"),
        ]
    )
    report = import_directory(db, io.StringIO(text + "\n", newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        return Professionals(
            gp_id=directory_service.professional_id_for_binding(s, RPPS_GP),
            pharmacist_id=directory_service.professional_id_for_binding(s, RPPS_PHARMACIST),
        )


@pytest.fixture
def gp_headers(auth_headers: TokenFactory, professionals: Professionals) -> dict[str, str]:
    """The GP's software: scope apcv, bound to Dr Morel."""
    return auth_headers("apcv", professional_id=professionals.gp_id)


def gp_ref(**extra: Any) -> dict[str, Any]:
    return {"rpps": RPPS_GP, **extra}


def otp_from(mail_sink: MailSink, email: str) -> str:
    match = re.search(r"\b(\d{6})\b", mail_sink.wait_for(email).text)
    assert match, "no 6-digit code in the message"
    return match.group(1)


Activate = Callable[..., Wallet]


@pytest.fixture
def activate(app_client: TestClient, mail_sink: MailSink, tmp_path: Path) -> Activate:
    """Activate a card for ``person`` on a new wallet, through the API, and return the wallet."""
    counter = iter(range(1000))

    def make(person: Person, *, secret: str = SECRET) -> Wallet:
        wallet = Wallet.open(tmp_path / f"wallet-{person.id}-{next(counter)}")
        email = Family.email(person)
        wallet.start_activation(app_client, person.matricule, person.birth_date, email)
        wallet.confirm_email(app_client, otp_from(mail_sink, email))
        wallet.complete_activation(app_client, secret)
        return wallet

    return make


def now() -> datetime:
    return datetime.now(UTC)
