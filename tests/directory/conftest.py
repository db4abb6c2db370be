"""Helpers of the directory tests: synthetic professionals, CSV files, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from carnet.db import Database
from carnet.directory.importer import HEADER, ImportReport, import_directory

# Synthetic places: SIRETs with valid keys, FINESS numbers of the right shape.
SIRET_CABINET = "90000001900019"
SIRET_PHARMACY = "90000002700012"
SIRET_DENTAL = "90000003500015"
FINESS_CH = "350000017"
FINESS_CLINIC = "2A0000012"

MOREL = "10100000017"  # a GP practising at a cabinet and at a hospital
NDIAYE = "10100000033"  # a nurse at the hospital
LEFEVRE = "10100000025"  # a pharmacist
FAURE = "10100000058"  # a physiotherapist, inactive


def row(**values: str) -> dict[str, str]:
    """A valid line of Dr Morel at her cabinet, with ``values`` replacing columns."""
    line = {
        "rpps": MOREL,
        "idnat_ps": "8" + MOREL,
        "family_name": "Morel",
        "given_name": "Claire",
        "profession": "10",
        "specialty": "SM54",
        "structure_identifier": SIRET_CABINET,
        "structure_name": "Cabinet médical des Tilleuls",
        "commune": "Rennes",
        "active": "1",
    }
    assert set(values) <= set(line), values
    line.update(values)
    return line


MOREL_CABINET = row()
MOREL_CH = row(
    structure_identifier=FINESS_CH, structure_name="CH de Cesson", commune="Cesson-Sévigné"
)
NDIAYE_CH = row(
    rpps=NDIAYE,
    idnat_ps="",
    family_name="N'Diaye",
    given_name="Awa",
    profession="60",
    specialty="",
    structure_identifier=FINESS_CH,
    structure_name="CH de Cesson",
    commune="Cesson-Sévigné",
)
LEFEVRE_PHARMACY = row(
    rpps=LEFEVRE,
    idnat_ps="8" + LEFEVRE,
    family_name="Lefèvre-Dubois",
    given_name="Julien",
    profession="21",
    specialty="",
    structure_identifier=SIRET_PHARMACY,
    structure_name="Pharmacie du Marché",
)
FAURE_INACTIVE = row(
    rpps=FAURE,
    idnat_ps="",
    family_name="Faure",
    given_name="Bernard",
    profession="70",
    specialty="",
    structure_identifier="",
    structure_name="",
    commune="",
    active="0",
)
EVERYONE = (MOREL_CABINET, MOREL_CH, NDIAYE_CH, LEFEVRE_PHARMACY, FAURE_INACTIVE)


def csv_text(*rows: dict[str, str] | list[str], header: str = ",".join(HEADER)) -> str:
    out = io.StringIO()
    out.write(header + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for line in rows:
        writer.writerow(list(line.values()) if isinstance(line, dict) else line)
    return out.getvalue()


def load(db: Database, *rows: dict[str, str] | list[str], **options: Any) -> ImportReport:
    """Import these lines through the importer (the function behind the CLI)."""
    return import_directory(db, io.StringIO(csv_text(*rows), newline=""), **options)


def counts(report: ImportReport) -> dict[str, int]:
    return {k: int(v) for k, v in report.summary().items() if k != "seconds"}


def carnet(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``carnet`` command line on the test database."""
    return subprocess.run(
        [sys.executable, "-m", "carnet", *args],
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


def write(tmp_path: Path, text: str, name: str = "directory.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
