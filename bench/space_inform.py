"""Benchmark of the job ``space.inform`` (health spaces for the whole register) on SQLite and
PostgreSQL.

Imports N synthetic register persons (the generator of ``import_register.py``, through the real
importer), then measures the two phases of ``space_service.inform``:

1. creation: pending spaces, set-based ``INSERT ... SELECT`` by ranges of 5,000 person keys;
2. information: per person, the recipient (a minor's parent, from the rights: each minor is
   attached here to the adult with the nearest lower person key, read in one statement per
   batch), the card account's e-mail (none here: every message becomes a postal letter row),
   the letter text, one audit event (appended once per batch), by batches of 1,000.

    .venv/bin/python bench/space_inform.py --rows 100000
    .venv/bin/python bench/space_inform.py --rows 1000000 --backend postgresql

PostgreSQL: the database ``carnet_bench_space`` is created and dropped by the script.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from import_register import _recreate, write_file  # bench/ is on sys.path when run as a script
from sqlalchemy import text

from carnet import migrate
from carnet.config import get_settings
from carnet.db import Database
from carnet.identity.importer import import_register


def _attach_minors(database: Database, now: datetime) -> int:
    """Minors, and their rights: each attached to the adult with the nearest lower key (one
    set-based statement; the bench needs coverage rows, not realistic families)."""
    cutoff = now.date().replace(year=now.year - 18, day=min(now.day, 28)).isoformat()
    with database.session() as session:
        # The generated register has no minors: one person in five (as in France) becomes one.
        session.execute(
            text("UPDATE persons SET birth_date = :minor WHERE id % 5 = 0"),
            {"minor": f"{now.year - 10}-06-15"},
        )
        result = session.execute(
            text(
                "INSERT INTO rights_coverages (person_id, insured_person_id, quality, rank, "
                "regime, fund, centre, start_date, created_at, updated_at) "
                "SELECT p.id, (SELECT max(a.id) FROM persons a WHERE a.id < p.id "
                "AND a.birth_date <= :cutoff), '06', 1, '01', '351', '0001', :start, :now, :now "
                "FROM persons p WHERE p.birth_date > :cutoff AND EXISTS (SELECT 1 FROM persons a "
                "WHERE a.id < p.id AND a.birth_date <= :cutoff)"
            ),
            {"cutoff": cutoff, "start": date(2000, 1, 1), "now": now},
        )
        return int(getattr(result, "rowcount", 0) or 0)


def bench(url: str, register: Path, rows: int) -> None:
    import carnet.models  # noqa: F401 - the complete metadata
    from carnet.space.service import space_service

    migrate.upgrade(url)
    database = Database(url)
    try:
        report = import_register(database, register, batch_size=10_000)
        assert report.committed, report.errors[:5]
        now = datetime.now(UTC)
        attached = _attach_minors(database, now)
        print(f"  rights      {attached:>9,} minors attached to a parent", flush=True)

        started = time.perf_counter()
        created = 0
        after = 0
        while True:
            with database.session() as session:
                step = space_service.create_pending(session, after=after, now=now)
            if step is None:
                break
            after, created = step.upto, created + step.created
        creation = time.perf_counter() - started

        started = time.perf_counter()
        informed = space_service.inform(database.session, get_settings(), None, now=now)
        information = time.perf_counter() - started
        total = informed.informed_by_letter + informed.informed_by_email
        print(
            f"  creation    {created:>9,} spaces in {creation:7.2f} s = "
            f"{created / creation:>9,.0f} spaces/s",
            flush=True,
        )
        print(
            f"  information {total:>9,} letters in {information:7.2f} s = "
            f"{total / information:>9,.0f} persons/s (deferred {informed.deferred:,})",
            flush=True,
        )
        print(
            f"  69 M persons at these rates: creation {69e6 / (created / creation) / 60:,.0f} "
            f"min, information {69e6 / (total / information) / 3600:,.1f} h",
            flush=True,
        )
    finally:
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/carnet_bench_space"
    )
    args = parser.parse_args()
    os.environ.setdefault("CARNET_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")

    with tempfile.TemporaryDirectory(prefix="carnet-bench-space-") as tmp:
        register = Path(tmp) / "register.csv"
        write_file(register, args.rows)
        if args.backend in ("sqlite", "both"):
            print(f"SQLite, {args.rows:,} register persons", flush=True)
            bench(f"sqlite:///{tmp}/bench.db", register, args.rows)
        if args.backend in ("postgresql", "both"):
            print(f"PostgreSQL, {args.rows:,} register persons", flush=True)
            _recreate(args.pg_url)
            try:
                bench(args.pg_url, register, args.rows)
            finally:
                _recreate(args.pg_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
