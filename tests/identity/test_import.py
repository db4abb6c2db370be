"""Bulk import of the INS register: ``carnet registry import`` and ``import_register``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.exceptions import BadRequest
from carnet.identity.importer import HEADER, ImportReport, import_register
from carnet.identity.models import InsHistory, Person
from carnet.identity.repository import RegisterImportRepository

from ..conftest import TokenFactory
from ..factories import nir_key


def nir(sex: int, yy: int, mm: int, place: str, order: int) -> str:
    """A matricule with its correct key (2A -> 19, 2B -> 18 for the computation)."""
    base = f"{sex}{yy:02d}{mm:02d}{place}{order:03d}"
    return base + nir_key(base)


DUPONT_NIR = nir(1, 84, 12, "75112", 451)
DUPONT_NIA = nir(7, 84, 12, "75112", 452)
ARTAGNAN_NIR = nir(2, 90, 3, "2A004", 12)
GARCIA_NIR = nir(2, 55, 1, "99134", 7)


def person(**values: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(values)
    return row


DUPONT = person(
    nir=DUPONT_NIR,
    kind="NIR",
    birth_name="Dupont-Lefèvre",
    first_names="Jean Pierre",
    sex="M",
    birth_date="1984-12-03",
    birth_place="75112",
    previous_nirs=DUPONT_NIA,
)
ARTAGNAN = person(
    nir=ARTAGNAN_NIR,
    kind="NIR",
    birth_name="d’Artagnan",
    first_names="Marie-Ève",
    sex="F",
    birth_date="1990-03-00",
    birth_place="2A004",
    used_name="Martin",
    used_first_name="Marie",
)
GARCIA = person(
    nir=GARCIA_NIR,
    kind="NIR",
    birth_name="GARCIA",
    first_names="LUCIA",
    sex="F",
    birth_date="1955-01-15",
    birth_place="99134",
    death_date="2020-05-01",
)


def csv_text(*rows: dict[str, str] | list[str], header: str = ",".join(HEADER)) -> str:
    out = io.StringIO()
    out.write(header + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(list(row.values()) if isinstance(row, dict) else row)
    return out.getvalue()


def write(tmp_path: Path, text: str, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "registry", "import", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert body.pop("seconds") >= 0
    return body


def counts(report: ImportReport) -> dict[str, int]:
    return {k: v for k, v in report.summary().items() if k != "seconds"}  # type: ignore[misc]


def persons_by_matricule(db: Database) -> dict[str, Person]:
    with db.session() as s:
        return {p.matricule: p for p in s.scalars(select(Person))}


def count(db: Database, model: type[Any], *where: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# -- a valid file --------------------------------------------------------------------------------


def test_cli_imports_a_file_that_is_then_found_by_the_insi_search(
    app_client: TestClient,
    auth_headers: TokenFactory,
    db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    path = write(tmp_path, csv_text(DUPONT, ARTAGNAN, GARCIA))
    result = cli(database_url, str(path))
    assert result.returncode == 0, result.stderr
    assert summary(result) == {
        "read": 3, "inserted": 3, "updated": 0, "unchanged": 0, "invalid": 0
    }  # fmt: skip

    # One audit event for the whole load, none per person.
    with db.session() as s:
        events = s.scalars(select(AuditEvent)).all()
    assert [(e.action, e.outcome, e.person_id) for e in events] == [
        ("registry.import", "success", None)
    ]
    detail = json.loads(events[0].detail or "{}")
    assert detail["file"] == str(path)
    assert (detail["inserted"], detail["history_added"]) == (3, 1)

    headers = auth_headers("ins.read")
    response = app_client.post(
        "/api/v1/ins/search",
        json={
            "birth_name": "DUPONT-LEFEVRE",
            "first_name": "PIERRE",
            "sex": "M",
            "birth_date": "1984-12-03",
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "00"
    identity = body["identity"]
    assert identity["ins"] == {
        "matricule": DUPONT_NIR, "kind": "NIR", "oid": "1.2.250.1.213.1.4.8"
    }  # fmt: skip
    assert identity["traits"]["first_names"] == ["JEAN", "PIERRE"]
    assert identity["traits"]["birth_place"] == "75112"
    # The provisional previous matricule (first digit 7) is recorded as the person's NIA.
    [previous] = identity["history"]
    assert (previous["matricule"], previous["kind"], previous["oid"]) == (
        DUPONT_NIA,
        "NIA",
        "1.2.250.1.213.1.4.9",
    )
    assert previous["ended_at"] is not None

    # Normalised traits (apostrophe, diacritics) and a partial birth date are searchable too.
    response = app_client.post(
        "/api/v1/ins/search",
        json={
            "birth_name": "D'ARTAGNAN",
            "first_name": "MARIE-EVE",
            "sex": "F",
            "birth_date": "1990-03-00",
            "birth_place": "2A004",
        },
        headers=headers,
    )
    assert response.json()["code"] == "00"
    assert response.json()["identity"]["used_name"] == "MARTIN"


def test_stdin_is_read_with_a_dash(db: Database, database_url: str) -> None:
    result = cli(database_url, "-", "--no-progress", stdin=csv_text(DUPONT, GARCIA))
    assert result.returncode == 0, result.stderr
    assert summary(result)["inserted"] == 2
    assert set(persons_by_matricule(db)) == {DUPONT_NIR, GARCIA_NIR}
    with db.session() as s:
        detail = json.loads(s.scalars(select(AuditEvent.detail)).one() or "{}")
    assert detail["file"] == "<stdin>"


# -- re-import -----------------------------------------------------------------------------------


def test_reimport_is_idempotent(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(DUPONT, ARTAGNAN, GARCIA))
    first = import_register(db, path)
    assert first.committed
    before = persons_by_matricule(db)

    again = import_register(db, path)
    assert again.committed
    assert counts(again) == {"read": 3, "inserted": 0, "updated": 0, "unchanged": 3, "invalid": 0}
    assert again.history_added == 0
    after = persons_by_matricule(db)
    for matricule, old in before.items():
        assert (after[matricule].version, after[matricule].updated_at) == (1, old.updated_at)
    assert count(db, InsHistory) == 1


def test_a_changed_trait_or_a_new_previous_matricule_bumps_the_version(
    db: Database, tmp_path: Path
) -> None:
    import_register(db, write(tmp_path, csv_text(DUPONT, ARTAGNAN, GARCIA)))
    garcia_nia = nir(8, 55, 1, "99134", 8)
    changed = csv_text(
        DUPONT | {"first_names": "Jean Pierre Marie"},
        ARTAGNAN,
        GARCIA | {"previous_nirs": garcia_nia},  # the same traits, one more previous matricule
    )
    report = import_register(db, write(tmp_path, changed, "v2.csv"))
    assert counts(report) == {"read": 3, "inserted": 0, "updated": 2, "unchanged": 1, "invalid": 0}
    assert report.history_added == 1
    rows = persons_by_matricule(db)
    assert rows[DUPONT_NIR].first_names == "JEAN PIERRE MARIE"
    assert rows[DUPONT_NIR].version == 2
    assert rows[DUPONT_NIR].updated_at > rows[DUPONT_NIR].created_at
    assert rows[GARCIA_NIR].version == 2
    assert (rows[ARTAGNAN_NIR].version, rows[ARTAGNAN_NIR].updated_at) == (
        1,
        rows[ARTAGNAN_NIR].created_at,
    )
    # The file is the source of truth for the persons it lists: an emptied column is cleared,
    # but a previous matricule missing from the file stays in the history.
    report = import_register(
        db,
        write(
            tmp_path,
            csv_text(
                DUPONT | {"first_names": "Jean Pierre Marie", "previous_nirs": ""},
                ARTAGNAN | {"used_name": ""},
            ),
        ),
    )
    assert (report.updated, report.unchanged) == (1, 1)
    rows = persons_by_matricule(db)
    assert rows[ARTAGNAN_NIR].used_name is None
    assert count(db, InsHistory, InsHistory.matricule == DUPONT_NIA) == 1


# -- invalid lines -------------------------------------------------------------------------------

BAD_KEY = DUPONT_NIR[:13] + f"{(int(DUPONT_NIR[13:]) % 97) + 1:02d}"
INVALID_FILE_ROWS: list[dict[str, str] | list[str]] = [
    DUPONT,  # line 2
    ARTAGNAN | {"nir": BAD_KEY},  # line 3: wrong key
    GARCIA | {"sex": "M"},  # line 4: a female NIR (2...) with sex M
    person(  # line 5: impossible date and unknown place, reported together
        nir=nir(1, 70, 5, "33063", 1),
        kind="NIR",
        birth_name="BERNARD",
        first_names="PAUL",
        sex="M",
        birth_date="1970-05-32",
        birth_place="33999",
    ),
    [GARCIA_NIR, "NIR", "GARCIA"],  # line 6: 3 fields instead of 11
    ARTAGNAN,  # line 7
]


def test_atomic_import_lists_every_invalid_line_and_imports_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_text(*INVALID_FILE_ROWS))
    result = cli(database_url, str(path))
    assert result.returncode == 1
    assert summary(result) == {
        "read": 6, "inserted": 0, "updated": 0, "unchanged": 0, "invalid": 4
    }  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert "nir: key" in errors[0]
    assert "nir: inconsistent with the traits" in errors[1]
    assert "sex M does not match the NIR sex digit 2" in errors[1]
    assert "birth_date: day 32" in errors[2]
    assert "birth_place: '33999'" in errors[2]
    assert "expected 11 comma-separated fields, found 3" in errors[3]
    assert "nothing was imported" in result.stderr
    # Reasons never quote a matricule.
    for matricule in (DUPONT_NIR, BAD_KEY, GARCIA_NIR, ARTAGNAN_NIR):
        assert matricule not in result.stderr
    assert count(db, Person) == 0
    with db.session() as s:
        assert s.scalars(select(AuditEvent.outcome)).all() == ["refused"]


def test_skip_invalid_imports_the_valid_lines(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_text(*INVALID_FILE_ROWS))
    result = cli(database_url, str(path), "--skip-invalid", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert summary(result) == {
        "read": 6, "inserted": 2, "updated": 0, "unchanged": 0, "invalid": 4
    }  # fmt: skip
    assert "line 4: nir: inconsistent with the traits" in result.stderr
    assert set(persons_by_matricule(db)) == {DUPONT_NIR, ARTAGNAN_NIR}
    with db.session() as s:
        assert s.scalars(select(AuditEvent.outcome)).all() == ["partial"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (",".join(HEADER[:-1]), "missing: previous_nirs"),
        (",".join(reversed(HEADER)), "same columns in another order"),
        (";".join(HEADER), "the separator must be a comma"),
        ("", "the file is empty"),
    ],
)
def test_a_wrong_header_is_refused(
    db: Database, tmp_path: Path, header: str, expected: str
) -> None:
    text = header + "\n" + csv_text(DUPONT).split("\n", 1)[1] if header else ""
    with pytest.raises(BadRequest, match=expected) as refused:
        import_register(db, write(tmp_path, text))
    assert refused.value.code == "invalid_header"
    assert count(db, Person) == 0
    assert count(db, AuditEvent) == 0


def test_a_file_without_header_is_refused_without_echoing_the_first_line(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    text = csv_text(GARCIA).split("\n", 1)[1]
    result = cli(database_url, str(write(tmp_path, text)))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "invalid header" in result.stderr
    assert "is the header line missing?" in result.stderr
    assert GARCIA_NIR not in result.stderr


def test_duplicates_and_contradictions_inside_the_file(db: Database, tmp_path: Path) -> None:
    c_nir = nir(1, 60, 2, "69123", 3)
    x_nia = nir(7, 61, 1, "99350", 9)
    rows = [
        DUPONT | {"previous_nirs": ""},  # line 2 \ the same matricule twice
        DUPONT | {"previous_nirs": ""},  # line 3 /
        ARTAGNAN | {"previous_nirs": c_nir},  # line 4: lists line 5's current matricule
        person(  # line 5
            nir=c_nir, kind="NIR", birth_name="MOREAU", first_names="LUC", sex="M",
            birth_date="1960-02-10", birth_place="69123",
        ),
        GARCIA | {"previous_nirs": x_nia},  # line 6 \ the same previous matricule twice
        person(  # line 7 /
            nir=nir(1, 61, 1, "99350", 4), kind="NIR", birth_name="BENALI", first_names="OMAR",
            sex="M", birth_date="1961-01-20", birth_place="99350", previous_nirs=x_nia,
        ),
        person(  # line 8: its own matricule as previous
            nir=nir(2, 75, 7, "59350", 5), kind="NIR", birth_name="PETIT", first_names="ANNE",
            sex="F", birth_date="1975-07-14", birth_place="59350",
            previous_nirs=nir(2, 75, 7, "59350", 5),
        ),
    ]  # fmt: skip
    report = import_register(db, write(tmp_path, csv_text(*rows)), skip_invalid=True)
    errors = dict(report.errors)
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert errors[2] == "nir: duplicate matricule: also on line 3"
    assert errors[3] == "nir: duplicate matricule: also on line 2"
    assert errors[4].startswith("previous_nirs: matricule #1 is the current nir of line 5")
    assert errors[5] == "nir: line 4 lists this matricule as replaced (its previous_nirs #1)"
    assert errors[6] == "previous_nirs: matricule #1 is also a previous matricule on line 7"
    assert errors[7] == "previous_nirs: matricule #1 is also a previous matricule on line 6"
    assert errors[8] == "previous_nirs: matricule #1 is the line's own nir"
    assert (report.read, report.invalid, report.inserted) == (7, 7, 0)
    assert report.committed
    assert count(db, Person) == 0
    assert count(db, InsHistory) == 0


def test_previous_matricules_that_conflict_with_the_register(db: Database, tmp_path: Path) -> None:
    garcia_nia = nir(8, 55, 1, "99134", 8)
    import_register(db, write(tmp_path, csv_text(DUPONT, GARCIA | {"previous_nirs": garcia_nia})))
    rows = [
        ARTAGNAN | {"previous_nirs": GARCIA_NIR},  # line 2: a registered person's matricule
        person(  # line 3: a matricule the register records as replaced (Dupont's NIA)
            nir=DUPONT_NIA, kind="NIA", birth_name="DUPONT", first_names="JEAN", sex="M",
            birth_date="1984-12-03", birth_place="75112",
        ),
        person(  # line 4: claims Garcia's previous NIA for someone else
            nir=nir(1, 84, 12, "75112", 460), kind="NIR", birth_name="DURAND", first_names="LEO",
            sex="M", birth_date="1984-12-05", birth_place="75112", previous_nirs=garcia_nia,
        ),
    ]  # fmt: skip
    report = import_register(db, write(tmp_path, csv_text(*rows)))
    assert not report.committed
    errors = dict(report.errors)
    assert sorted(errors) == [2, 3, 4]
    assert errors[2].startswith(
        "previous_nirs: conflict: matricule #1 is the current matricule of another person"
    )
    assert errors[3].startswith("nir: conflict: the register records this matricule as replaced")
    assert errors[4].startswith(
        "previous_nirs: conflict: matricule #1 is already a previous matricule of another person"
    )
    assert set(persons_by_matricule(db)) == {DUPONT_NIR, GARCIA_NIR}


def test_encoding_problems_and_overlong_first_names_are_line_errors(
    db: Database, tmp_path: Path
) -> None:
    good = csv_text(DUPONT).encode("utf-8")
    latin1 = csv_text(GARCIA | {"birth_name": "GARCÍA"}).split("\n", 1)[1].encode("latin-1")
    # 20 first names of 15 letters: each within bounds, the list (319 characters) over the column
    long_names = ", ".join(["MARIE-CHRISTINE"] * 20)
    too_long = csv_text(ARTAGNAN | {"first_names": long_names}).split("\n", 1)[1].encode()
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\xef\xbb\xbf" + good + latin1 + b"\n" + too_long)  # with a UTF-8 BOM
    report = import_register(db, path, skip_invalid=True)
    assert report.errors == [
        (3, "the line is not valid UTF-8 (the file must be encoded in UTF-8)"),
        (5, "first_names: too long (319 characters after normalisation, max 255)"),
    ]
    assert (report.read, report.inserted) == (3, 1)


# -- scale mechanics -----------------------------------------------------------------------------


def _many(n: int) -> list[dict[str, str]]:
    return [
        person(
            nir=nir(1 + i % 2, 80, 1 + i % 12, "31555", 1 + i),
            kind="NIR",
            birth_name=f"NOM {chr(65 + i % 26)}",
            first_names="CAMILLE",
            sex="M" if i % 2 == 0 else "F",
            birth_date=f"1980-{1 + i % 12:02d}-01",
            birth_place="31555",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_small_batches_and_several_workers_give_the_same_result(
    db: Database, tmp_path: Path, workers: int
) -> None:
    rows = _many(23)
    rows[10] = rows[10] | {"birth_date": "1980-13-01"}  # one invalid line among the batches
    path = write(tmp_path, csv_text(*rows))
    report = import_register(db, path, batch_size=4, workers=workers, skip_invalid=True)
    assert counts(report) == {
        "read": 23,
        "inserted": 22,
        "updated": 0,
        "unchanged": 0,
        "invalid": 1,
    }
    assert [line for line, _ in report.errors] == [12]
    assert count(db, Person) == 22


def test_the_error_list_is_bounded_but_every_invalid_line_is_counted(
    db: Database, tmp_path: Path
) -> None:
    rows = [r | {"sex": "X"} for r in _many(5)]
    report = import_register(db, write(tmp_path, csv_text(*rows)), max_errors=2)
    assert (report.invalid, report.errors_omitted) == (5, 3)
    assert [line for line, _ in report.errors] == [2, 3]
    assert "sex: 'X' is not a valid sex" in report.errors[0][1]


def test_a_failure_midway_leaves_the_register_untouched(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_register(db, write(tmp_path, csv_text(GARCIA)))

    def crash(self: RegisterImportRepository, now: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(RegisterImportRepository, "insert_history", crash)
    path = write(tmp_path, csv_text(DUPONT, ARTAGNAN, GARCIA | {"first_names": "ANA"}), "v2.csv")
    with pytest.raises(RuntimeError, match="disk full"):
        import_register(db, path)
    rows = persons_by_matricule(db)
    assert set(rows) == {GARCIA_NIR}
    assert (rows[GARCIA_NIR].first_names, rows[GARCIA_NIR].version) == ("LUCIA", 1)
    assert count(db, AuditEvent) == 1  # the first import's only
