"""Benchmark of ``carnet registry import`` on SQLite and PostgreSQL.

Generates N synthetic, valid register lines (deterministic: the same N gives the same file), then
for each database: a first import into an empty register (inserts), a re-import of the same file
(everything unchanged) and an import where one line in ten changed (updates). Prints lines per
second for the validation pass and the load pass separately.

    .venv/bin/python bench/import_register.py --rows 200000
    .venv/bin/python bench/import_register.py --rows 1000000 --backend postgresql --workers 4

PostgreSQL: the database ``carnet_bench_import`` is created and dropped by the script (the URL of
the server is --pg-url, trust or password authentication as for the tests).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from carnet import migrate
from carnet.config import normalise_database_url
from carnet.db import Database
from carnet.identity.importer import HEADER, ImportReport, import_register
from carnet.identity.places import get_places

# Birth places and the digits they give the NIR (positions 6-10 are the COG code itself):
# metropolitan communes, Corsica, overseas (3-digit department), and births abroad (99 + country).
PLACES = [
    "75112", "69381", "13201", "33063", "59350", "31555", "06088", "44109",
    "67482", "35238", "2A004", "2B033", "97105", "97411", "99134", "99350",
]  # fmt: skip
SURNAMES = [
    "MARTIN", "Bernard", "Dubois", "THOMAS", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert",
    "Bonnet", "François", "Martinez", "d'Artagnan", "Le Goff", "Saint-Étienne", "Müller", "Nguyen",
]  # fmt: skip
MALE = ["Jean", "Pierre", "Louis", "Michel", "Luc", "Hugo", "Léo", "Jérôme", "Jean-Marc", "Noël"]
FEMALE = ["Marie", "Anne", "Louise", "Camille", "Chloé", "Inès", "Zoé", "Hélène", "Marie-Ève"]


def _key(first13: str) -> str:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{97 - number % 97:02d}"


def _matricule(sex_digit: int, year: int, month: int, place: str, order: int) -> str:
    first13 = f"{sex_digit}{year % 100:02d}{month:02d}{place}{order:03d}"
    return first13 + _key(first13)


def generate(rows: int, *, changed_every: int = 0) -> Iterator[list[str]]:
    """Deterministic valid lines; ``changed_every`` > 0 alters the used name of 1 line in N."""
    places = [p for p in PLACES if get_places().is_known(p)]
    for i in range(rows):
        order = i % 999 + 1
        j = i // 999
        place = places[j % len(places)]
        k = j // len(places)
        month = k % 12 + 1
        year = 1930 + (k // 12) % 90
        day = 1 + (i * 7) % 28
        male = (i // 3) % 2 == 0
        first = MALE if male else FEMALE
        first_names = " ".join(first[(i + n * 3) % len(first)] for n in range(1 + i % 3))
        surname = SURNAMES[(i * 13) % len(SURNAMES)]
        used_name = SURNAMES[(i * 7) % len(SURNAMES)] if i % 5 == 0 else ""
        if changed_every and i % changed_every == 0:
            used_name = "CHANGED"
        previous = _matricule(7 if male else 8, year, month, place, order) if i % 50 == 0 else ""
        death = f"{year + 80}-01-01" if i % 20 == 0 and year + 80 <= 2024 else ""
        yield [
            _matricule(1 if male else 2, year, month, place, order),
            "NIR",
            surname,
            first_names,
            "M" if male else "F",
            f"{year}-{month:02d}-{day:02d}",
            place,
            used_name,
            "",
            death,
            previous,
        ]


def write_file(path: Path, rows: int, *, changed_every: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(generate(rows, changed_every=changed_every))


def _report_line(label: str, report: ImportReport) -> str:
    valid = report.read - report.invalid
    return (
        f"  {label:<22} validation {report.read / report.validation_seconds:>9,.0f} lines/s"
        f" ({report.validation_seconds:6.2f} s) | load {valid / report.load_seconds:>9,.0f}"
        f" lines/s ({report.load_seconds:6.2f} s) | total {report.seconds:6.2f} s"
        f" | +{report.inserted:,} ~{report.updated:,} ={report.unchanged:,}"
    )


def bench(url: str, files: dict[str, Path], *, batch_size: int, workers: int) -> None:
    migrate.upgrade(url)
    database = Database(url)
    try:
        for label, path in files.items():
            report = import_register(database, path, batch_size=batch_size, workers=workers)
            if not report.committed or report.invalid:
                raise SystemExit(f"{label}: unexpected invalid lines {report.errors[:5]}")
            print(_report_line(label, report), flush=True)
    finally:
        database.dispose()


def _admin(url: str) -> tuple[str, str]:
    parsed = make_url(normalise_database_url(url))
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    return admin, parsed.database or "carnet_bench_import"


def _recreate(url: str, *, drop_only: bool = False) -> None:
    admin_url, name = _admin(url)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/carnet_bench_import"
    )
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="carnet-bench-import-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        first = directory / "register.csv"
        changed = directory / "register-changed.csv"
        write_file(first, args.rows)
        write_file(changed, args.rows, changed_every=10)
        size = first.stat().st_size / 1e6
        elapsed = time.perf_counter() - started
        print(
            f"{args.rows:,} lines ({size:,.1f} MB) generated in {elapsed:.1f} s;"
            f" batch size {args.batch_size:,}, {args.workers} validation process(es),"
            f" {os.cpu_count()} CPUs",
            flush=True,
        )
        files = {"first import": first, "re-import (unchanged)": first, "1 in 10 changed": changed}
        if args.backend in ("sqlite", "both"):
            print("SQLite", flush=True)
            bench(
                f"sqlite:///{directory / 'bench.db'}",
                files,
                batch_size=args.batch_size,
                workers=args.workers,
            )
        if args.backend in ("postgresql", "both"):
            print("PostgreSQL", flush=True)
            _recreate(args.pg_url)
            try:
                bench(args.pg_url, files, batch_size=args.batch_size, workers=args.workers)
            finally:
                _recreate(args.pg_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
