"""Bulk import of rights: ``carnet rights import`` and ``import_rights``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.exceptions import BadRequest
from carnet.rights.importer import HEADER, import_rights
from carnet.rights.models import Coverage, Situation
from carnet.rights.service import rights_service

from ..factories import add_person
from .conftest import Family, family_rights, line, load, rights_csv

ROOT = Path(__file__).resolve().parents[2]


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Coverage)) or 0),
            int(s.scalar(select(func.count()).select_from(Situation)) or 0),
        )


def summary(report: Any) -> dict[str, int]:
    return {k: v for k, v in report.summary().items() if k != "seconds"}


def import_audits(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "rights.import").order_by(AuditEvent.id)
        ).all()
        return [(e.outcome, json.loads(e.detail or "{}")) for e in events]


def test_valid_file_is_imported_with_situations(db: Database, family: Family) -> None:
    report = load(db, *family_rights(family))
    assert report.committed, report.errors
    assert summary(report) == {
        "read": 11,
        "inserted": 11,
        "updated": 0,
        "unchanged": 0,
        "invalid": 0,
    }
    assert counts(db) == (11, 2)
    with db.session() as s:
        paul = rights_service.rights_at(s, family.paul.person_id, date(2026, 3, 1))
        zoe = rights_service.rights_at(s, family.zoe.person_id, date(2026, 8, 1))
        awa = rights_service.rights_at(s, family.awa.person_id, date(2026, 8, 1))
    assert paul is not None
    assert (paul.fund, paul.centre, paul.quality) == ("751", "0012", "00")
    assert [(x.code, x.ald_number) for x in paul.situations] == [("ALD", 15)]
    # Words and codes are both accepted for the quality; the rank is kept.
    assert zoe is not None
    assert (zoe.quality, zoe.rank, zoe.fund) == ("06", 2, "691")
    assert zoe.insured_person_id == family.paul.person_id
    assert awa is not None
    assert (awa.regime, awa.regime_label) == ("02", "Régime agricole (MSA)")
    assert import_audits(db)[-1][0] == "success"


def test_reimport_is_idempotent_and_updates_in_place(db: Database, family: Family) -> None:
    rows = family_rights(family)
    assert load(db, *rows).committed
    with db.session() as s:
        ids_before = sorted(s.scalars(select(Situation.id)).all())
    again = load(db, *rows)
    assert summary(again) == {
        "read": 11,
        "inserted": 0,
        "updated": 0,
        "unchanged": 11,
        "invalid": 0,
    }
    assert counts(db) == (11, 2)
    with db.session() as s:
        # Unchanged situations are kept as they are, not deleted and re-inserted.
        assert sorted(s.scalars(select(Situation.id)).all()) == ids_before
    # The same period (same beneficiary and start) with another ALD end and centre: updated.
    changed = line(
        family.paul,
        start="2026-01-01",
        end="2026-06-30",
        centre="0099",
        situations="ALD/15:2026-02-01:2026-05-31",
    )
    report = load(db, changed)
    assert summary(report) == {"read": 1, "inserted": 0, "updated": 1, "unchanged": 0, "invalid": 0}
    assert counts(db) == (11, 2)
    with db.session() as s:
        view = rights_service.rights_at(s, family.paul.person_id, date(2026, 5, 15))
    assert view is not None
    assert view.centre == "0099"
    assert [x.end for x in view.situations] == [date(2026, 5, 31)]
    # Removing the situations of a period.
    report = load(db, line(family.paul, start="2026-01-01", end="2026-06-30", centre="0099"))
    assert (report.updated, counts(db)) == (1, (11, 1))


def test_change_of_fund_closes_the_registered_period(db: Database, family: Family) -> None:
    assert load(db, line(family.nina, start="2025-01-01")).committed
    # A new fund from 2026-04-01 while the registered period is open: refused...
    report = load(db, line(family.nina, fund="131", start="2026-04-01"))
    assert not report.committed
    assert report.errors == [
        (
            2,
            "start/end: overlaps the registered period 2025-01-01..open of this beneficiary "
            "(close it by repeating its line with an end, or fix the dates)",
        )
    ]
    # ... accepted when the file closes the registered period at the same time.
    report = load(
        db,
        line(family.nina, start="2025-01-01", end="2026-03-31"),
        line(family.nina, fund="131", start="2026-04-01"),
    )
    assert report.committed, report.errors
    assert (report.updated, report.inserted) == (1, 1)
    with db.session() as s:
        before = rights_service.rights_at(s, family.nina.person_id, date(2026, 3, 31))
        after = rights_service.rights_at(s, family.nina.person_id, date(2026, 4, 1))
    assert before is not None
    assert before.fund == "751"
    assert after is not None
    assert after.fund == "131"


def test_invalid_lines_are_all_listed_and_nothing_is_imported(db: Database, family: Family) -> None:
    unknown = family.paul.nir[:10] + "999"
    unknown += f"{97 - int(unknown) % 97:02d}"
    rows = [
        line(family.paul, end="2026-12-31"),  # 2: valid
        [family.paul.nir[:-2] + "00", *line(family.paul)[1:]],  # 3: bad key
        line(family.marie, birth_date="1982-07-05", insured=family.paul, quality="02"),  # 4
        [unknown, "1980-03-12", *line(family.paul)[2:]],  # 5: nobody holds it
        line(family.hugo, regime="42", insured=family.paul, quality="06"),  # 6
        line(family.hugo, fund="75", insured=family.paul, quality="06"),  # 7
        line(family.nina, start="2026-05-01", end="2026-04-30"),  # 8
        line(family.nina, end="2026-06-30", situations="ALD:2026-06-01:"),  # 9
        line(family.nina, situations="XYZ:2026-01-01:"),  # 10
        line(family.hugo, insured=family.paul),  # 11: no quality for a dependant
        line(family.lea, insured=family.paul, quality="06", rank="1"),  # 12: twins, both rank 1
        line(family.zoe, insured=family.paul, quality="06", rank="1"),  # 13
        line(family.marie, quality="02"),  # 14: a dependant of herself
        line(family.awa, start="2026-01-01"),  # 15: duplicate of 16
        line(family.awa, start="2026-01-01", fund="131"),  # 16
        line(family.awa, start="2025-01-01", end="2026-02-01"),  # 17: overlaps 15/16
        line(family.paul, insured=family.marie, quality="00", start="2027-01-01"),  # 18
        line(family.hugo, insured=family.paul, quality="06", situations="C2S/X:2026-01-01:"),  # 19
    ]
    report = load(db, *rows)
    assert not report.committed
    assert report.invalid == 17
    errors = dict(report.errors)
    assert 2 not in errors
    assert "key" in errors[3]
    assert errors[3].startswith("nir:")
    assert errors[4] == "birth_date: differs from the register's birth date of this person"
    assert errors[5] == "nir: no person of the register holds this matricule"
    assert errors[6].startswith("regime: unknown scheme code '42'")
    assert errors[7] == "fund: '75' is not a fund code (3 digits)"
    assert errors[8] == "end: before start"
    assert errors[9] == "situations #1 (ALD): outside the coverage period"
    assert errors[10].startswith("situations #1: unknown code 'XYZ'")
    assert errors[11].startswith("quality: required for a dependant")
    assert errors[12].startswith("rank: line 13 attaches another beneficiary")
    assert errors[13].startswith("rank: line 12 attaches another beneficiary")
    assert errors[14].startswith("quality: 02 is a dependant's quality")
    # Every problem of a line is listed, duplicates overlapping another line included.
    overlap = "start/end: overlaps the period of the same beneficiary on line"
    assert errors[15] == f"start: the same beneficiary and start are also on line 16; {overlap} 17"
    assert errors[16] == f"start: the same beneficiary and start are also on line 15; {overlap} 17"
    assert errors[17] == f"{overlap} 15"
    assert errors[18] == "quality: 00 (insured person) but insured_nir names another person"
    assert (
        errors[19]
        == "situations #1 (C2S): the only qualifier is P (with a financial participation)"
    )
    # No matricule in any message.
    assert not any(m.nir in message for message in errors.values() for m in vars(family).values())
    assert counts(db) == (0, 0)
    assert import_audits(db) == [
        (
            "refused",
            {
                "file": "<stream>",
                "read": 18,
                "inserted": 0,
                "updated": 0,
                "unchanged": 0,
                "invalid": 17,
            },
        )
    ]


def test_skip_invalid_imports_the_valid_lines(db: Database, family: Family) -> None:
    assert load(db, line(family.nina, start="2025-01-01")).committed
    report = load(
        db,
        line(family.paul),
        line(family.hugo, insured=family.paul, quality="06", fund="7"),  # invalid
        # Closing Nina's registered period, but refused (a twin line overlaps it)...
        line(family.nina, start="2025-01-01", end="2026-03-31"),
        line(family.nina, start="2025-06-01", end="2025-06-30"),
        # ... so this one, valid with the closing line, now overlaps the open period.
        line(family.nina, fund="131", start="2026-04-01"),
        skip_invalid=True,
    )
    assert report.committed
    assert summary(report) == {"read": 5, "inserted": 1, "updated": 0, "unchanged": 0, "invalid": 4}
    assert [n for n, _ in report.errors] == [3, 4, 5, 6]
    assert report.errors[-1][1].startswith("start/end: overlaps the registered period")
    with db.session() as s:
        nina = rights_service.rights_at(s, family.nina.person_id, date(2026, 6, 1))
        assert rights_service.rights_at(s, family.paul.person_id, date(2026, 6, 1)) is not None
        assert rights_service.rights_at(s, family.hugo.person_id, date(2026, 6, 1)) is None
    assert nina is not None
    assert (nina.start, nina.end, nina.fund) == (date(2025, 1, 1), None, "751")
    assert import_audits(db)[-1][0] == "partial"


def test_beneficiary_resolved_by_a_previous_matricule(db: Database) -> None:
    nia = "8" + "9005" + "99352" + "007"
    nia += f"{97 - int(nia) % 97:02d}"
    with db.session() as s:
        person = add_person(
            s,
            birth_name="BENALI",
            first_names="KARIM",
            sex="M",
            birth_date="1990-05-05",
            birth_place="99352",
            previous=[nia],
        )
        person_id = person.id
    report = load(db, [nia, "1990-05-05", "", "", "", "01", "751", "0012", "2026-01-01", "", ""])
    assert report.committed, report.errors
    with db.session() as s:
        view = rights_service.rights_at(s, person_id, date(2026, 1, 1))
    assert view is not None
    assert view.matricule != nia


def test_header_and_format_errors(db: Database, family: Family) -> None:
    with pytest.raises(BadRequest) as wrong:
        import_rights(db, io.StringIO("nir;birth_date\n", newline=""))
    assert wrong.value.code == "invalid_header"
    assert "separator must be a comma" in wrong.value.message
    with pytest.raises(BadRequest, match="is the header line missing"):
        import_rights(
            db, io.StringIO(rights_csv(line(family.paul), header=",".join(line(family.paul))))
        )
    report = load(db, line(family.paul)[:5], line(family.paul, situations="ALD/15:2026-01-01"))
    assert [m for _, m in report.errors] == [
        "expected 11 comma-separated fields, found 5",
        "situations #1: expected CODE[/QUALIFIER]:START:END (END empty for an open situation), "
        "found 'ALD/15:2026-01-01'",
    ]


# -- the command line ------------------------------------------------------------------------------


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "rights", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )


def test_cli_import(db: Database, database_url: str, family: Family, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(rights_csv(line(family.paul), line(family.hugo, fund="x")), encoding="utf-8")
    result = cli(database_url, "import", str(bad))
    assert result.returncode == 1
    assert "line 3: fund: 'x' is not a fund code (3 digits)" in result.stderr
    assert "nothing was imported" in result.stderr
    assert counts(db) == (0, 0)

    result = cli(database_url, "import", "--skip-invalid", str(bad))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert (body["inserted"], body["invalid"]) == (1, 1)

    good = tmp_path / "good.csv"
    good.write_text(rights_csv(*family_rights(family)), encoding="utf-8")
    result = cli(database_url, "import", str(good))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.strip().splitlines()[-1])
    # Paul's first period was imported by the previous run: updated (it now has an end).
    assert (body["read"], body["inserted"], body["updated"]) == (11, 10, 1)
    assert family.paul.nir not in result.stdout + result.stderr

    assert cli(database_url, "import", str(tmp_path / "missing.csv")).returncode == 1


def test_cli_help_documents_the_columns_and_codes_lists_them() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "carnet", "rights", "import", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ | {"COLUMNS": "200"},
    ).stdout
    assert ",".join(HEADER) in help_text
    assert "ALD/15:2026-01-01:2030-12-31" in help_text
    listing = subprocess.run(
        [sys.executable, "-m", "carnet", "rights", "codes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "02   Régime agricole (MSA)" in listing
    assert "06   Enfant" in listing


def test_documented_sample_imports(db: Database) -> None:
    """docs/samples/rights.csv imports once its persons are in the register."""
    sample = ROOT / "docs" / "samples" / "rights.csv"
    with db.session() as s:
        for traits in SAMPLE_PERSONS:
            add_person(s, **traits)  # type: ignore[arg-type]
    report = import_rights(db, sample)
    assert report.committed, report.errors
    assert report.inserted == report.read > 0


# The register persons docs/samples/rights.csv names (its NIRs are make_nir of these traits).
SAMPLE_PERSONS: list[dict[str, str | int]] = [
    {
        "birth_name": "DURAND",
        "first_names": "JEAN",
        "sex": "M",
        "birth_date": "1975-04-18",
        "birth_place": "75056",
        "order": 11,
    },
    {
        "birth_name": "BLANC",
        "first_names": "CAMILLE",
        "sex": "F",
        "birth_date": "1977-11-02",
        "birth_place": "69123",
        "order": 12,
    },
    {
        "birth_name": "DURAND",
        "first_names": "ARTHUR",
        "sex": "M",
        "birth_date": "2016-05-20",
        "birth_place": "75056",
        "order": 201,
    },
    {
        "birth_name": "DURAND",
        "first_names": "LOUIS",
        "sex": "M",
        "birth_date": "2016-05-20",
        "birth_place": "75056",
        "order": 202,
    },
    {
        "birth_name": "FAURE",
        "first_names": "SOPHIE",
        "sex": "F",
        "birth_date": "1988-02-29",
        "birth_place": "13055",
        "order": 31,
    },
    {
        "birth_name": "KONE",
        "first_names": "ISSA",
        "sex": "M",
        "birth_date": "1970-00-00",
        "birth_place": "99341",
        "order": 41,
    },
]


def test_swapped_situations_between_two_people_are_both_updated(
    db: Database, family: Family
) -> None:
    """A re-import compares each period's situations with that period's own, never with other
    people's: Paul and Awa exchanging identical situations must update both."""
    ald, c2s = "ALD/15:2026-02-01:2026-05-31", "C2S:2026-02-01:2026-05-31"
    paul = {"start": "2026-01-01", "end": "2026-06-30"}
    awa = {"start": "2026-01-01", "end": "2026-06-30", "insured": family.awa, "quality": "00"}
    assert load(
        db, line(family.paul, **paul, situations=ald), line(family.awa, **awa, situations=c2s)
    ).committed
    swapped = load(
        db, line(family.paul, **paul, situations=c2s), line(family.awa, **awa, situations=ald)
    )
    assert (swapped.updated, swapped.unchanged) == (2, 0)
    with db.session() as s:
        on = date(2026, 3, 1)
        paul_view = rights_service.rights_at(s, family.paul.person_id, on)
        awa_view = rights_service.rights_at(s, family.awa.person_id, on)
    assert paul_view is not None
    assert awa_view is not None
    assert [x.code for x in paul_view.situations] == ["C2S"]
    assert [x.code for x in awa_view.situations] == ["ALD"]
