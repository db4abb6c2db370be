"""Synthetic register persons for tests (valid NIR keys, consistent traits)."""

from __future__ import annotations

from sqlalchemy.orm import Session

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
