"""Fixtures of the access tests: a family with rights, relatives, professionals of several
professions and their software, and open health spaces (opened by their holders through the
API)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.rights.importer import HEADER as RIGHTS_HEADER
from carnet.rights.importer import import_rights

from ..conftest import HolderHeaders, TokenFactory
from ..factories import add_person

SPACES = "/api/v1/spaces"
SIRET_CABINET = "90000001900019"
RPPS = {
    "doctor": "10100000412",
    "podiatrist": "10100000420",
    "dentist": "10100000438",
    "blocked": "10100000446",
    "regulator": "10100000453",
    "nurse": "10100000461",
    "psychologist": "10100000479",
    "inactive": "10100000487",
}
PROFESSION = {
    "doctor": "10",
    "podiatrist": "80",
    "dentist": "40",
    "blocked": "10",
    "regulator": "10",
    "nurse": "60",
    "psychologist": "93",
    "inactive": "10",
}


def today() -> date:
    return datetime.now(UTC).date()


def years_ago(years: int, days: int = 0) -> str:
    t = today()
    day = (
        t.replace(year=t.year - years)
        if not (t.month == 2 and t.day == 29)
        else t.replace(year=t.year - years, day=28)
    )
    return date.fromordinal(day.toordinal() + days).isoformat()


@dataclass(frozen=True)
class People:
    """Jeanne (insured) with her son Lucas (10) and her daughter Emma (18 today: no longer a
    minor) attached to her; Marc (Jeanne's father, a relative she may let in); Paul (a stranger,
    holder of his own space); Nadia (in the register, no space)."""

    jeanne: Person
    lucas: Person
    emma: Person
    marc: Person
    paul: Person
    nadia: Person


@pytest.fixture
def people(db: Database) -> People:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date=years_ago(10)
        )
        emma = add_person(
            s, birth_name="DUPONT", first_names="EMMA", sex="F", birth_date=years_ago(18)
        )
        marc = add_person(
            s, birth_name="DUPONT", first_names="MARC", sex="M", birth_date="1952-01-20"
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
        nadia = add_person(
            s, birth_name="HADDAD", first_names="NADIA", sex="F", birth_date="1970-02-02"
        )
    found = People(jeanne, lucas, emma, marc, paul, nadia)

    def line(person: Person, insured: Person | None, quality: str, rank: str = "1") -> str:
        insured_nir = insured.matricule if insured is not None else ""
        return (
            f"{person.matricule},{person.birth_date},{rank},{insured_nir},{quality},01,351,0001,"
            "2020-01-01,,"
        )

    text = "\n".join(
        [
            ",".join(RIGHTS_HEADER),
            line(jeanne, None, "00"),
            line(lucas, jeanne, "06", "1"),
            line(emma, jeanne, "06", "2"),
            line(marc, None, "00"),
            line(paul, None, "00"),
        ]
    )
    report = import_rights(db, io.StringIO(text + "\n", newline=""))
    assert report.committed, report.errors
    return found


@pytest.fixture
def professionals(db: Database) -> dict[str, int]:
    """Directory keys by role name (see ``RPPS``)."""

    def line(rpps: str, family_name: str, profession: str, place: str, active: str = "1") -> str:
        return ",".join(
            [
                rpps,
                "8" + rpps,
                family_name,
                "Alex",
                profession,
                "",
                place,
                "Cabinet",
                "Rennes",
                active,
            ]
        )

    lines = [",".join(DIRECTORY_HEADER)]
    for role, rpps in RPPS.items():
        lines.append(line(rpps, role.capitalize(), PROFESSION[role], SIRET_CABINET))
    report = import_directory(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        keys = {
            role: directory_service.professional_id_for_binding(s, rpps)
            for role, rpps in RPPS.items()
        }
    # The "inactive" professional leaves the directory afterwards (a new import marks them so).
    lines = [
        ",".join(DIRECTORY_HEADER),
        line(RPPS["inactive"], "Inactive", "10", SIRET_CABINET, "0"),
    ]
    report = import_directory(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    return keys


Headers = dict[str, str]


@dataclass
class World:
    """Everything the access tests need: people, professionals, and a way to call as each."""

    client: TestClient
    people: People
    pros: dict[str, int]
    holder: HolderHeaders
    client_for: Callable[..., Headers]

    def pro(self, role: str, *scopes: str) -> Headers:
        """The software of a professional, bound to them (scope dmp by default)."""
        return self.client_for(*(scopes or ("dmp",)), professional_id=self.pros[role])

    def open_space(self, person: Person, as_person: Person | None = None) -> None:
        response = self.client.post(
            f"{SPACES}/{person.id}/opening", headers=self.holder((as_person or person).id)
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "open", response.text

    def consent(self, person: Person, role: str, **body: Any) -> None:
        response = self.client.post(
            f"{SPACES}/{person.id}/consents",
            json={"rpps": RPPS[role], **body},
            headers=self.holder(person.id),
        )
        assert response.status_code == 201, response.text

    def block(self, person: Person, role: str) -> None:
        response = self.client.post(
            f"{SPACES}/{person.id}/blocks",
            json={"rpps": RPPS[role]},
            headers=self.holder(person.id),
        )
        assert response.status_code == 201, response.text

    def aidant(self, person: Person, relative: Person, scope: str, **body: Any) -> int:
        response = self.client.post(
            f"{SPACES}/{person.id}/aidants",
            json={"person": relative.matricule, "scope": scope, **body},
            headers=self.holder(person.id),
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def emergency(self, person: Person, role: str, kind: str = "emergency", *scopes: str) -> Any:
        headers = self.pro(
            role, *(scopes or (("dmp",) if kind == "emergency" else ("dmp.regulation",)))
        )
        return self.client.post(
            f"{SPACES}/{person.id}/emergency-access",
            json={"reason": "patient inconscient aux urgences", "kind": kind},
            headers=headers,
        )


@pytest.fixture
def world(
    app_client: TestClient,
    people: People,
    professionals: dict[str, int],
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
) -> World:
    return World(app_client, people, professionals, holder_headers, auth_headers)
