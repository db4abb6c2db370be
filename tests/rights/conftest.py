"""Fixtures of the rights tests: a family in the register and helpers to import rights files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pytest

from carnet.db import Database
from carnet.rights.importer import HEADER, ImportReport, import_rights

from ..factories import add_person, make_nir


@dataclass(frozen=True)
class Member:
    person_id: int
    nir: str
    birth_date: str


@dataclass(frozen=True)
class Family:
    """Paul is insured; Marie (spouse), the twins Léa and Zoé, and Hugo are his dependants.
    Awa, born abroad with an unknown day and month of birth, holds a NIA and is insured herself.
    Nina is in the register with no rights at all."""

    paul: Member
    marie: Member
    lea: Member
    zoe: Member
    hugo: Member
    awa: Member
    nina: Member


def _member(db: Database, **traits: str | int) -> Member:
    with db.session() as s:
        person = add_person(s, **traits)  # type: ignore[arg-type]
        return Member(person.id, person.matricule, person.birth_date)


@pytest.fixture
def family(db: Database) -> Family:
    return Family(
        paul=_member(db, birth_name="MOREAU", first_names="PAUL", sex="M", birth_date="1980-03-12"),
        marie=_member(
            db, birth_name="LEROY", first_names="MARIE ANNE", sex="F", birth_date="1982-07-04"
        ),
        # Twins: same birth date and place, consecutive order numbers.
        lea=_member(
            db,
            birth_name="MOREAU",
            first_names="LEA",
            sex="F",
            birth_date="2015-06-01",
            birth_place="69123",
            order=101,
        ),
        zoe=_member(
            db,
            birth_name="MOREAU",
            first_names="ZOE",
            sex="F",
            birth_date="2015-06-01",
            birth_place="69123",
            order=102,
        ),
        hugo=_member(db, birth_name="MOREAU", first_names="HUGO", sex="M", birth_date="2018-09-10"),
        awa=_member(
            db,
            birth_name="DIALLO",
            first_names="AWA",
            sex="F",
            birth_date="1962-00-00",
            birth_place="99341",
            kind="NIA",
        ),
        nina=_member(db, birth_name="PETIT", first_names="NINA", sex="F", birth_date="1999-01-20"),
    )


def line(
    member: Member,
    *,
    insured: Member | None = None,
    quality: str = "",
    rank: str = "",
    regime: str = "01",
    fund: str = "751",
    centre: str = "0012",
    start: str = "2026-01-01",
    end: str = "",
    situations: str = "",
    birth_date: str | None = None,
) -> list[str]:
    """One line of a rights file (HEADER order)."""
    return [
        member.nir,
        member.birth_date if birth_date is None else birth_date,
        rank,
        insured.nir if insured is not None else "",
        quality,
        regime,
        fund,
        centre,
        start,
        end,
        situations,
    ]


def rights_csv(*rows: list[str], header: str = ",".join(HEADER)) -> str:
    out = io.StringIO()
    out.write(header + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def load(db: Database, *rows: list[str], skip_invalid: bool = False) -> ImportReport:
    return import_rights(db, io.StringIO(rights_csv(*rows), newline=""), skip_invalid=skip_invalid)


def family_rights(f: Family) -> list[list[str]]:
    """Paul insured at fund 751 until 30 June 2026, then at fund 691 (open); his dependants
    follow him; Paul has an ALD in the first period and C2S with participation in the second."""
    first: dict[str, Any] = {
        "start": "2026-01-01",
        "end": "2026-06-30",
        "fund": "751",
        "centre": "0012",
    }
    second: dict[str, Any] = {"start": "2026-07-01", "fund": "691", "centre": "0040"}
    rows = [
        line(f.paul, **first, situations="ALD/15:2026-02-01:2026-03-31"),
        line(f.paul, **second, situations="C2S/P:2026-07-01:"),
    ]
    for member, quality, rank in (
        (f.marie, "conjoint", ""),
        (f.lea, "06", "1"),
        (f.zoe, "enfant", "2"),
        (f.hugo, "06", ""),
    ):
        rows.append(line(member, insured=f.paul, quality=quality, rank=rank, **first))
        rows.append(line(member, insured=f.paul, quality=quality, rank=rank, **second))
    rows.append(line(f.awa, regime="02", fund="131", centre="0001", start="2020-01-01"))
    return rows


__all__ = ["Family", "Member", "family_rights", "line", "load", "make_nir", "rights_csv"]
