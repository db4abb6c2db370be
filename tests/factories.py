"""Synthetic register persons for tests (valid NIR keys, consistent traits)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from carnet.db import Database
from carnet.identity.models import InsHistory, Person


def nir_key(first13: str) -> str:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{97 - number % 97:02d}"


def make_nir(
    sex: str, birth_date: str, place: str, order: int = 1, *, provisional: bool = False
) -> str:
    """A NIR consistent with the traits (place: INSEE commune code or 99xxx country)."""
    year, month, _day = birth_date.split("-")
    digit = {"M": "1", "F": "2"}[sex] if not provisional else {"M": "7", "F": "8"}[sex]
    month_code = month if month != "00" else "20"
    first13 = f"{digit}{year[2:]}{month_code}{place}{order:03d}"
    assert len(first13) == 13, first13
    return first13 + nir_key(first13)


def add_person(
    session: Session,
    *,
    birth_name: str,
    first_names: str,
    sex: str,
    birth_date: str,
    birth_place: str = "75056",
    order: int = 1,
    kind: str = "NIR",
    used_name: str | None = None,
    previous: list[str] | None = None,
) -> Person:
    person = Person(
        matricule=make_nir(sex, birth_date, birth_place, order, provisional=kind == "NIA"),
        kind=kind,
        birth_name=birth_name,
        first_names=first_names,
        sex=sex,
        birth_date=birth_date,
        birth_place=birth_place,
        used_name=used_name,
    )
    session.add(person)
    session.flush()
    for old in previous or []:
        session.add(InsHistory(person_id=person.id, matricule=old, kind="NIA"))
    session.flush()
    return person


@dataclass(frozen=True)
class Cast:
    """Register persons shared by the search tests (REST and FHIR)."""

    claire_lyon: Person
    claire_marseille: Person
    awa: Person
    karim: Person
    karim_nia: str


def add_cast(session: Session) -> Cast:
    """Homonyms told apart by the birth place, a NIA with an unknown day and month of birth, and a
    NIR that replaced a NIA (the NIA in the history)."""
    # Homonyms: same birth name, first name, sex and birth date, born in Lyon and Marseille.
    claire_lyon = add_person(
        session,
        birth_name="MARTIN",
        first_names="CLAIRE",
        sex="F",
        birth_date="1975-06-01",
        birth_place="69123",
    )
    claire_marseille = add_person(
        session,
        birth_name="MARTIN",
        first_names="CLAIRE ANNE",
        sex="F",
        birth_date="1975-06-01",
        birth_place="13055",
    )
    # A NIA, born abroad, day and month of birth unknown.
    awa = add_person(
        session,
        birth_name="N'DIAYE",
        first_names="AWA",
        sex="F",
        birth_date="1962-00-00",
        birth_place="99341",
        kind="NIA",
    )
    # A NIA replaced by a NIR.
    karim_nia = make_nir("M", "1990-05-05", "99352", 7, provisional=True)
    karim = add_person(
        session,
        birth_name="BENALI",
        first_names="KARIM",
        sex="M",
        birth_date="1990-05-05",
        birth_place="99352",
        previous=[karim_nia],
    )
    return Cast(claire_lyon, claire_marseille, awa, karim, karim_nia)


def add_professional(
    db: Database,
    rpps: str,
    *,
    family_name: str = "Morel",
    given_name: str = "Claire",
    profession: str = "10",
    specialty: str = "",
    structure_identifier: str = "90000001900019",
    structure_name: str = "Cabinet médical des Tilleuls",
) -> int:
    """A professional of the directory (through the real importer); returns the directory key.

    ``profession`` is a TRE_G15 code (10 doctor, 21 pharmacist, 40 dental surgeon, 50 midwife,
    60 nurse, 70 physiotherapist, 80 podiatrist); ``rpps`` 11 digits.
    """
    from carnet.directory.importer import HEADER, import_directory
    from carnet.directory.service import directory_service

    line = [
        rpps,
        "8" + rpps,
        family_name,
        given_name,
        profession,
        specialty,
        structure_identifier,
        structure_name,
        "Rennes",
        "1",
    ]
    text = ",".join(HEADER) + "\n" + ",".join(line) + "\n"
    report = import_directory(db, io.StringIO(text, newline=""))
    assert report.committed, report.errors
    with db.session() as session:
        return directory_service.professional_id_for_binding(session, rpps)
