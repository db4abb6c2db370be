"""The national register generated straight into PostgreSQL on every core: the benchmarks' set-up
at 69 million persons.

``carnet registry import`` is the product's way in, and it has its own figures
(``bench/import_register.py``; 69M in docs/performance.md). Its validation pass, its staging copy
and its set-based merge make sense for a file from outside, but before the HTTP benchmarks they
cost hours at national size, on top of writing the file. Here the same rows reach the same table
without the file:

1. each worker process takes one two-digit birth-year group of the population at a time
   (``generate_population(..., groups={yy})``, the very rows of ``carnet population generate``
   for the seed), turns every row into the register's columns with the importer's own
   per-line code (``carnet.identity.importer._validate_line``: normalised traits, NIR checks)
   and COPYs the group into ``persons`` in one transaction; the previous matricules go to a
   side table;
2. the table's secondary indexes (unique matricule, the lookup index) are dropped before and
   built once after, and the history rows are joined in with their person keys;
3. ``VACUUM (ANALYZE)``: statistics, visibility map and hint bits, as a register that has lived
   a little would have them;
4. the searches with a known answer: the workers sample candidates from the rows they generate
   (``carnet.demo.loader.QuerySampler``, as ``scan_queries`` does from a file) and each
   candidate's matches are counted in the loaded register with the search's rules.

Run alone (``python bench/register_load.py --size 69000000 --pg-url …``) it prints the time of
each step; ``bench/suite.py --register-load generate`` uses it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lookup

SIDE_TABLE = "bench_previous_matricules"
HISTORY_SQL = (
    "INSERT INTO ins_history (person_id, matricule, kind, ended_at)"  # noqa: S608 - constants
    f" SELECT p.id, s.previous, s.kind, %s FROM {SIDE_TABLE} s"
    " JOIN persons p ON p.matricule = s.matricule"
)


def libpq_url(url: str) -> str:
    """psycopg's own spelling of an SQLAlchemy URL (no ``+psycopg`` driver part)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def queries_path(work: Path, size: int, seed: int, total: int) -> Path:
    return work / f"register-{size}-s{seed}-queries-{total}.json"


# -- one group, in a worker -----------------------------------------------------------------------


def _person_columns() -> list[str]:
    from carnet.identity.repository import STAGING_COLUMNS

    return [*STAGING_COLUMNS[1:], "version", "created_at", "updated_at"]


def load_group(
    url: str, size: int, seed: int, yy: int, rows: int, counts: dict[str, int], now: datetime
) -> tuple[int, list[Any]]:
    """Generate, convert and COPY one group; return (persons, query candidates)."""
    from carnet.demo.loader import QuerySampler
    from carnet.demo.population import CSV_COLUMNS, generate_population
    from carnet.identity.importer import _validate_line

    sampler = QuerySampler(
        counts,
        random.Random(f"bench-queries/{seed}/{yy}"),
        scale=rows / size,
    )
    previous: list[tuple[str, str, str]] = []
    written = 0
    columns = ", ".join(_person_columns())
    with psycopg.connect(libpq_url(url)) as connection:
        connection.execute("SET synchronous_commit = off")
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY persons ({columns}) FROM STDIN") as copy:
                for line_no, row in enumerate(
                    generate_population(size, seed, groups={yy}), start=1
                ):
                    person, history = _validate_line(line_no, [row[c] for c in CSV_COLUMNS])
                    copy.write_row((*person[1:], 1, now, now))
                    previous.extend((p[2], p[3], p[4]) for p in history)
                    sampler.add(row)
                    written += 1
            if previous:
                with cursor.copy(f"COPY {SIDE_TABLE} (matricule, previous, kind) FROM STDIN") as c:
                    for entry in previous:
                        c.write_row(entry)
    if written != rows:
        raise RuntimeError(f"group {yy}: {written} rows generated, {rows} expected")
    return written, sampler.candidates()


# -- the whole register ---------------------------------------------------------------------------


def _secondary_indexes(connection: psycopg.Connection[Any]) -> tuple[list[str], list[str]]:
    """(drop statements, create statements) of the persons table's indexes but its key."""
    drops, creates = [], []
    for name, definition in connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'persons'::regclass AND contype = 'u' ORDER BY conname"
    ):
        drops.append(f'ALTER TABLE persons DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE persons ADD CONSTRAINT "{name}" {definition}')
    for name, definition in connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = 'persons'::regclass AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY 1"
    ):
        drops.append(f"DROP INDEX {name}")
        creates.append(definition)
    return drops, creates


def load_register(
    url: str,
    size: int,
    seed: int,
    counts: dict[str, int],
    *,
    workers: int,
    progress: Callable[[str], None] = lookup.say,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Migrate the (empty) database and generate the register into it.

    Returns the seconds of each step and the searches with a known answer (``counts`` of each
    category: ``{"category", "expected", "body"}``)."""
    import carnet.models  # noqa: F401 - complete metadata
    from carnet import migrate
    from carnet.db import utcnow
    from carnet.demo.population import population_groups

    migrate.upgrade(url)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    conninfo = libpq_url(url)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        persons = connection.execute("SELECT count(*) FROM persons").fetchone()
        if persons is None or persons[0]:
            raise SystemExit("the register must be empty: generate into a new database")
        drops, creates = _secondary_indexes(connection)
        for statement in drops:
            connection.execute(statement)  # type: ignore[arg-type] - catalog names, not input
        connection.execute(
            f"CREATE UNLOGGED TABLE {SIDE_TABLE} (matricule text, previous text, kind text)"
        )

    # 1. The groups, largest first so that no worker is left alone with a big one at the end.
    groups = sorted(population_groups(size, seed), key=lambda group: -group[1])
    now = utcnow()
    candidates: dict[int, list[Any]] = {}
    done = 0
    context = multiprocessing.get_context("fork")  # workers inherit the loaded name pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[int, Future[tuple[int, list[Any]]]]] = deque()
        for yy, rows in groups:
            pending.append((yy, pool.submit(load_group, url, size, seed, yy, rows, counts, now)))
        last = time.perf_counter()
        while pending:
            yy, future = pending.popleft()
            written, found = future.result()
            candidates[yy] = found
            done += written
            if time.perf_counter() - last > 30 or not pending:
                last = time.perf_counter()
                elapsed = last - started
                progress(
                    f"register: {done:,} / {size:,} persons in {elapsed:,.0f} s "
                    f"({done / elapsed:,.0f}/s)"
                )
    steps["generate and COPY"] = time.perf_counter() - started

    # 2. Indexes and history, 3. vacuum and statistics.
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '1GB'")
        mark = time.perf_counter()
        for statement in creates:
            progress(f"register: {statement}")
            connection.execute(statement)  # type: ignore[arg-type] - catalog definitions
        steps["indexes"] = time.perf_counter() - mark
        mark = time.perf_counter()
        connection.execute(HISTORY_SQL, (now,))
        connection.execute(f"DROP TABLE {SIDE_TABLE}")
        steps["history"] = time.perf_counter() - mark
        mark = time.perf_counter()
        progress("register: VACUUM (ANALYZE) …")
        connection.execute("VACUUM (ANALYZE) persons")
        connection.execute("VACUUM (ANALYZE) ins_history")
        steps["vacuum and analyse"] = time.perf_counter() - mark

        # 4. The searches: every candidate counted against the register itself.
        mark = time.perf_counter()
        queries = count_and_choose(connection, candidates, counts, seed)
        steps["searches"] = time.perf_counter() - mark
    steps["total"] = time.perf_counter() - started
    return steps, queries


def count_and_choose(
    connection: psycopg.Connection[Any],
    candidates: dict[int, list[Any]],
    counts: dict[str, int],
    seed: int,
) -> list[dict[str, Any]]:
    from carnet.demo.loader import candidate_matches, choose_queries

    rng = random.Random(seed)
    merged = [c for yy in sorted(candidates) for c in candidates[yy]]
    rng.shuffle(merged)  # each category drawn across every birth year
    for candidate in merged:
        rows = connection.execute(
            "SELECT first_names, birth_place FROM persons"
            " WHERE birth_name = %s AND birth_date = %s AND sex = %s",
            (candidate.name, candidate.birth_date, candidate.sex),
        ).fetchall()
        candidate.matches = sum(
            candidate_matches(candidate, first_names.split(), place or "")
            for first_names, place in rows
        )
    return lookup.request_mix(choose_queries(merged, counts), counts, rng)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, required=True, help="persons")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--queries", type=int, default=4000, help="searches with a known answer")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pg-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "carnet-bench",
        help="where the searches are written (bench/suite.py reads them there)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    from carnet.config import normalise_database_url

    counts = lookup.mix_counts(args.queries)
    steps, queries = load_register(
        normalise_database_url(args.pg_url), args.size, args.seed, counts, workers=args.workers
    )
    args.work_dir.mkdir(parents=True, exist_ok=True)
    path = queries_path(args.work_dir, args.size, args.seed, args.queries)
    path.write_text(json.dumps(queries, ensure_ascii=False))
    for step, seconds in steps.items():
        print(f"{step}: {seconds:,.1f} s")
    print(f"{len(queries):,} searches with a known answer in {path}")
    print(f"{args.size / steps['total']:,.0f} persons/s overall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
