"""Bulk import of the directory: ``carnet directory import`` and ``import_directory``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.directory.importer import HEADER, import_directory
from carnet.directory.models import Practice, Professional
from carnet.directory.repository import DirectoryImportRepository
from carnet.exceptions import BadRequest

from ..conftest import TokenFactory
from .conftest import (
    EVERYONE,
    FAURE,
    FAURE_INACTIVE,
    FINESS_CH,
    FINESS_CLINIC,
    LEFEVRE,
    LEFEVRE_PHARMACY,
    MOREL,
    MOREL_CABINET,
    MOREL_CH,
    NDIAYE,
    NDIAYE_CH,
    SIRET_CABINET,
    SIRET_DENTAL,
    carnet,
    counts,
    csv_text,
    load,
    row,
    summary,
    write,
)

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "directory.csv"


def professionals(db: Database) -> dict[str | None, Professional]:
    with db.session() as s:
        return {p.idnat_ps: p for p in s.scalars(select(Professional))}


def places(db: Database, rpps: str) -> dict[str, tuple[str, str | None]]:
    """structure identifier -> (name, commune) of a professional's places."""
    with db.session() as s:
        rows = s.execute(
            select(Practice.structure_identifier, Practice.structure_name, Practice.commune)
            .join(Professional, Professional.id == Practice.professional_id)
            .where(Professional.rpps == rpps)
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def audit_events(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    with db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.recorded_at)).all()
    return [(e.action, e.outcome, json.loads(e.detail or "{}")) for e in events]


# -- valid files ---------------------------------------------------------------------------------


def test_the_sample_file_imports_through_the_cli_and_reads_back(
    app_client: TestClient, auth_headers: TokenFactory, db: Database, database_url: str
) -> None:
    result = carnet(database_url, "directory", "import", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert summary(result) == {
        "read": 7,
        "inserted": 6,
        "updated": 0,
        "unchanged": 0,
        "invalid": 0,
        "places_added": 5,
        "places_removed": 0,
        "structures_created": 4,
    }
    # One audit event for the whole load.
    [(action, outcome, detail)] = audit_events(db)
    assert (action, outcome, detail["inserted"], detail["file"]) == (
        "directory.import",
        "success",
        6,
        str(SAMPLE),
    )

    response = app_client.get(
        "/api/v1/directory/professionals/10100000017", headers=auth_headers("directory.read")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["idnat_ps"] == "810100000017"
    assert body["profession"]["label"] == "Médecin"
    assert body["specialty"]["label"] == "Médecine générale"
    assert sorted(p["structure_identifier"] for p in body["practices"]) == [
        "350000017",
        "90000001900019",
    ]

    # The ADELI-based professional (no RPPS) is stored with the idNat_PS as given.
    adeli = professionals(db)["0359000012"]
    assert (adeli.rpps, adeli.profession_code) == (None, "93")


def test_stdin_is_read_with_a_dash(db: Database, database_url: str) -> None:
    result = carnet(database_url, "directory", "import", "-", stdin=csv_text(MOREL_CABINET))
    assert result.returncode == 0, result.stderr
    assert summary(result)["inserted"] == 1
    assert audit_events(db)[0][2]["file"] == "<stdin>"


def test_columns_are_normalised_and_the_idnat_is_derived(db: Database) -> None:
    report = load(
        db,
        row(rpps="1010 0000 017", idnat_ps="", family_name="  Morel   de  la Tour ", active=""),
        row(
            rpps="1010 0000 017",
            idnat_ps="",
            family_name="Morel de la Tour",
            active="",
            structure_identifier="2a0000012",
            structure_name="Clinique",
            commune="",
        ),
    )
    assert report.committed, report.errors
    [morel] = professionals(db).values()
    assert (morel.rpps, morel.idnat_ps, morel.family_name, morel.family_name_key) == (
        MOREL,
        "8" + MOREL,
        "Morel de la Tour",
        "MOREL DE LA TOUR",
    )
    assert morel.active is True
    assert places(db, MOREL)[FINESS_CLINIC] == ("Clinique", None)


def test_reimport_is_idempotent(db: Database) -> None:
    first = load(db, *EVERYONE)
    assert counts(first) == {
        "read": 5,
        "inserted": 4,
        "updated": 0,
        "unchanged": 0,
        "invalid": 0,
        "places_added": 4,
        "places_removed": 0,
        "structures_created": 3,
    }
    before = {k: (p.version, p.updated_at) for k, p in professionals(db).items()}
    again = load(db, *EVERYONE)
    assert counts(again) == {
        "read": 5,
        "inserted": 0,
        "updated": 0,
        "unchanged": 4,
        "invalid": 0,
        "places_added": 0,
        "places_removed": 0,
        "structures_created": 0,
    }
    assert {k: (p.version, p.updated_at) for k, p in professionals(db).items()} == before


def test_reimport_updates_columns_and_replaces_places(db: Database) -> None:
    load(db, *EVERYONE)
    report = load(
        db,
        # Morel: a new family name; the hospital place is gone, a dental centre is new.
        row(family_name="Morel-Vidal"),
        row(
            family_name="Morel-Vidal",
            structure_identifier=SIRET_DENTAL,
            structure_name="Centre de santé",
            commune="Vitré",
        ),
        # N'Diaye: same columns, same place, another commune spelling: a changed place.
        {**NDIAYE_CH, "commune": "Cesson-Sevigne"},
        # Lefèvre: identical.
        LEFEVRE_PHARMACY,
        # Faure: reactivated.
        {**FAURE_INACTIVE, "active": "1"},
    )
    assert report.committed, report.errors
    assert counts(report) == {
        "read": 5,
        "inserted": 0,
        "updated": 3,
        "unchanged": 1,
        "invalid": 0,
        "places_added": 1,
        "places_removed": 1,
        "structures_created": 1,
    }
    by_rpps = {p.rpps: p for p in professionals(db).values()}
    assert (by_rpps[MOREL].family_name, by_rpps[MOREL].version) == ("Morel-Vidal", 2)
    assert by_rpps[NDIAYE].version == 2
    assert by_rpps[LEFEVRE].version == 1
    assert (by_rpps[FAURE].active, by_rpps[FAURE].version) == (True, 2)
    assert set(places(db, MOREL)) == {SIRET_CABINET, SIRET_DENTAL}
    assert places(db, NDIAYE)[FINESS_CH] == ("CH de Cesson", "Cesson-Sevigne")


def test_professionals_absent_from_the_file_are_left_alone(db: Database) -> None:
    load(db, *EVERYONE)
    report = load(db, LEFEVRE_PHARMACY)
    assert counts(report)["unchanged"] == 1
    assert set(places(db, MOREL)) == {SIRET_CABINET, FINESS_CH}
    assert len(professionals(db)) == 4


# -- invalid lines -------------------------------------------------------------------------------


def test_atomic_import_lists_every_invalid_line_and_imports_nothing(db: Database) -> None:
    report = load(
        db,
        MOREL_CABINET,  # line 2: valid
        row(rpps="1010000001"),  # 3: ten digits
        row(rpps="1010000001X", idnat_ps=""),  # 4: a letter
        row(profession="99"),  # 5: unknown profession
        row(idnat_ps="810100000099"),  # 6: idNat_PS of another RPPS
        row(rpps="", idnat_ps="810100000017"),  # 7: RPPS-based idNat_PS without its RPPS
        row(structure_identifier="90000001900018"),  # 8: SIRET with a wrong key
        row(structure_name=""),  # 9: a place without its name
        row(active="peut-être", family_name=""),  # 10: two problems, both reported
        ["1", "2"],  # 11: wrong number of fields
        NDIAYE_CH,  # 12: valid
    )
    assert not report.committed
    assert report.invalid == 9
    errors = dict(report.errors)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert errors[3] == "rpps: expected 11 digits, got '1010000001'"
    assert errors[4].startswith("rpps: expected 11 digits")
    assert errors[5].startswith("profession: unknown TRE_G15 profession code '99'")
    assert "10, 21" in errors[5]
    assert errors[6] == (
        "idnat_ps: 810100000099 does not match the RPPS 10100000017 "
        "(the idNat_PS of an RPPS holder is 810100000017)"
    )
    assert errors[7].startswith("rpps: missing, while the idNat_PS 810100000017 is RPPS-based")
    assert errors[8].startswith("structure_identifier: expected a FINESS number")
    assert errors[9] == "structure_name: required with a structure_identifier"
    assert "family_name: must not be empty" in errors[10]
    assert "active: expected 1 or 0" in errors[10]
    assert errors[11] == "expected 10 comma-separated fields, found 2"
    # Nothing imported, not even the valid lines; the refusal is audited.
    assert professionals(db) == {}
    [(action, outcome, detail)] = audit_events(db)
    assert (action, outcome, detail["invalid"]) == ("directory.import", "refused", 9)


def test_skip_invalid_imports_the_valid_lines(db: Database) -> None:
    report = load(db, MOREL_CABINET, row(rpps="123"), NDIAYE_CH, skip_invalid=True)
    assert report.committed
    assert counts(report)["inserted"] == 2
    assert report.errors == [(3, "rpps: expected 11 digits, got '123'")]
    assert {p.rpps for p in professionals(db).values()} == {MOREL, NDIAYE}
    assert audit_events(db)[-1][:2] == ("directory.import", "partial")


def test_the_cli_reports_invalid_lines_and_exits_1(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_text(MOREL_CABINET, row(profession="ZZ"), NDIAYE_CH))
    result = carnet(database_url, "directory", "import", str(path))
    assert result.returncode == 1
    assert "line 3: profession: unknown TRE_G15 profession code 'ZZ'" in result.stderr
    assert "nothing was imported" in result.stderr
    assert summary(result)["invalid"] == 1
    assert professionals(db) == {}

    result = carnet(database_url, "directory", "import", "--skip-invalid", str(path))
    assert result.returncode == 0, result.stderr
    assert (summary(result)["inserted"], summary(result)["invalid"]) == (2, 1)


def test_lines_of_one_professional_must_agree(db: Database) -> None:
    report = load(
        db,
        MOREL_CABINET,  # 2
        {**MOREL_CH, "given_name": "Clara"},  # 3: contradicts line 2
        NDIAYE_CH,  # 4
        {**MOREL_CABINET, "structure_identifier": FINESS_CLINIC, "structure_name": "C"},  # 5
        skip_invalid=True,
    )
    errors = dict(report.errors)
    # Every line of Morel is refused: nothing tells which given name is right.
    assert sorted(errors) == [2, 3, 5]
    assert errors[2].startswith("the professional's columns differ from line 3 (same idnat_ps)")
    assert errors[3].startswith("the professional's columns differ from line 2")
    assert errors[5].startswith("the professional's columns differ from line 3")
    assert {p.rpps for p in professionals(db).values()} == {NDIAYE}


def test_the_same_place_twice_is_refused(db: Database) -> None:
    report = load(db, MOREL_CABINET, MOREL_CH, MOREL_CABINET, NDIAYE_CH)
    assert not report.committed
    assert report.errors == [
        (2, "the same place of practice is also on line 4"),
        (4, "the same place of practice is also on line 2"),
    ]


def test_a_wrong_header_is_refused(db: Database) -> None:
    text = csv_text(MOREL_CABINET, header="rpps;idnat_ps;family_name")
    with pytest.raises(BadRequest) as caught:
        import_directory(db, io.StringIO(text, newline=""))
    assert caught.value.code == "invalid_header"
    assert "the separator must be a comma" in caught.value.message


# -- structures ----------------------------------------------------------------------------------


def test_unknown_structures_are_created_and_known_ones_reused(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    operator = auth_headers("identities.read", "identities.write")
    created = app_client.post(
        "/api/v1/structures",
        json={"name": "Centre hospitalier de Cesson-Sévigné", "identifier": FINESS_CH},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    report = load(db, MOREL_CABINET, MOREL_CH)
    assert report.structures_created == 1  # the cabinet; the hospital existed
    structures = {
        s["identifier"]: s for s in app_client.get("/api/v1/structures", headers=operator).json()
    }
    assert set(structures) == {FINESS_CH, SIRET_CABINET}
    # The existing structure keeps the name vigilance gave it; the place keeps the directory's.
    assert structures[FINESS_CH]["name"] == "Centre hospitalier de Cesson-Sévigné"
    assert structures[SIRET_CABINET]["name"] == "Cabinet médical des Tilleuls"
    assert places(db, MOREL)[FINESS_CH] == ("CH de Cesson", "Cesson-Sévigné")
    with db.session() as s:
        linked = s.scalar(
            select(Practice.structure_id).where(Practice.structure_identifier == FINESS_CH)
        )
    assert linked == created.json()["id"]


def test_professions_are_listed(database_url: str) -> None:
    result = carnet(database_url, "directory", "professions")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("\t") for line in result.stdout.splitlines())
    assert lines["10"] == "Médecin"
    assert lines["93"] == "Psychologue"
    assert "35" not in lines  # deprecated in TRE_G15


def test_the_sample_file_documents_the_header() -> None:
    assert SAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(HEADER)


def test_nothing_remains_of_a_refused_import(db: Database) -> None:
    load(db, *EVERYONE)
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(Practice))
    report = load(db, row(family_name="Changed"), row(rpps="0"))
    assert not report.committed
    assert professionals(db)["8" + MOREL].family_name == "Morel"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Practice)) == before


def test_a_failure_midway_leaves_the_directory_and_the_structures_untouched(
    app_client: TestClient,
    auth_headers: TokenFactory,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load(db, LEFEVRE_PHARMACY)

    def crash(self: DirectoryImportRepository, now: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(DirectoryImportRepository, "update_changed", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        load(db, MOREL_CABINET, MOREL_CH, {**LEFEVRE_PHARMACY, "family_name": "Autre"})
    # Neither the professionals, nor the places, nor the structures created on the way remain.
    assert [p.family_name for p in professionals(db).values()] == ["Lefèvre-Dubois"]
    operator = auth_headers("identities.read")
    structures = app_client.get("/api/v1/structures", headers=operator).json()
    assert [s["identifier"] for s in structures] == ["90000002700012"]
