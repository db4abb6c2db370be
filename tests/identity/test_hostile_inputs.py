"""Hostile and unusual inputs to the register: partial death dates, spreadsheet exports.

Each test here failed before the fix it accompanies (see the review report).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.db import Database
from carnet.identity.importer import HEADER
from carnet.identity.models import Person

from ..conftest import TokenFactory
from ..factories import make_nir

NIR = make_nir("M", "1980-01-01", "75056", 7)
OTHER_NIR = make_nir("F", "1981-02-01", "75056", 8)
LINE = f"{NIR},NIR,DUPONT,JEAN,M,1980-01-01,75056,,,,"
OTHER_LINE = f"{OTHER_NIR},NIR,DURAND,MARIE,F,1981-02-01,75056,,,,"


def _import(database_url: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "registry", "import", str(path)],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )


def _persons(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


# -- partial death dates ---------------------------------------------------------------------------


def test_a_death_in_the_birth_year_with_unknown_month_is_not_before_the_birth(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    """Before: ``1980-00-00`` sorted before ``1980-01-01`` and was refused as "before the birth"."""
    headers = auth_headers("ins.write")
    body = {
        "kind": "NIR",
        "birth_name": "DUPONT",
        "first_names": ["JEAN"],
        "sex": "M",
        "birth_date": "1980-01-01",
        "birth_place": "75056",
        "death_date": "1980-00-00",
    }
    response = app_client.put(f"/api/v1/ins/persons/{NIR}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["identity"]["death_date"] == "1980-00-00"

    same_month = app_client.put(
        f"/api/v1/ins/persons/{NIR}", json={**body, "death_date": "1980-01-00"}, headers=headers
    )
    assert same_month.status_code == 200, same_month.text

    # Certainly before the birth: still refused, naming the field.
    for before in ("1979-00-00", "1979-12-31", "1979-12-00"):
        refused = app_client.put(
            f"/api/v1/ins/persons/{NIR}", json={**body, "death_date": before}, headers=headers
        )
        assert refused.status_code == 422, (before, refused.text)
        assert refused.json()["error"]["message"] == "death_date: before the birth date"


def test_a_partial_birth_date_accepts_a_death_later_in_its_month(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    nir = make_nir("F", "1931-04-00", "59350", 3)
    body = {
        "kind": "NIR",
        "birth_name": "LEFEBVRE",
        "first_names": "ROSE",
        "sex": "F",
        "birth_date": "1931-04-00",
        "birth_place": "59350",
        "death_date": "1931-04-02",  # the birth day is unknown: it may be 1 or 2 April
    }
    response = app_client.put(
        f"/api/v1/ins/persons/{nir}", json=body, headers=auth_headers("ins.write")
    )
    assert response.status_code == 201, response.text


def test_import_accepts_a_partial_death_date_in_the_birth_year(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "register.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + f"{NIR},NIR,DUPONT,JEAN,M,1980-01-01,75056,,,1980-00-00,\n",
        encoding="utf-8",
    )
    result = _import(database_url, path)
    assert result.returncode == 0, result.stderr
    with db.session() as s:
        assert s.scalar(select(Person.death_date).where(Person.matricule == NIR)) == "1980-00-00"


# -- files exported by spreadsheets ----------------------------------------------------------------


def test_blank_and_comma_only_lines_are_ignored_like_empty_lines(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Before: a line of blanks or of commas only (a spreadsheet's empty rows) was an invalid line
    and, the import being atomic, refused the whole file."""
    path = tmp_path / "export.csv"
    path.write_bytes(
        (
            ",".join(HEADER)
            + "\r\n"
            + LINE
            + "\r\n,,,,,,,,,,\r\n"
            + OTHER_LINE
            + "\r\n   \r\n, , ,,,,,,,,\r\n\r\n"
        ).encode()
    )
    result = _import(database_url, path)
    assert result.returncode == 0, result.stderr
    assert '"inserted": 2' in result.stdout
    assert '"invalid": 0' in result.stdout
    assert _persons(db) == 2


def test_a_line_with_some_fields_is_still_validated(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "partial.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + LINE + "\n,NIR,,,,,,,,,\n", encoding="utf-8", newline=""
    )
    result = _import(database_url, path)
    assert result.returncode == 1
    assert "line 3: " in result.stderr
    assert _persons(db) == 0  # atomic: the valid line is not imported either


def test_a_utf16_file_is_refused_with_an_encoding_hint(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Before: only "the first line is not a header", which sends the operator looking for a
    missing header line rather than at the encoding."""
    path = tmp_path / "utf16.csv"
    path.write_bytes((",".join(HEADER) + "\n" + LINE + "\n").encode("utf-16"))
    result = _import(database_url, path)
    assert result.returncode == 1
    assert "the file must be encoded in UTF-8" in result.stderr
    assert NIR not in result.stderr + result.stdout
    assert _persons(db) == 0
