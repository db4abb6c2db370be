"""Benchmark of register-record validation (``carnet.identity.service.validate_record``), one core.

Generates N synthetic register rows with ``carnet.demo.population.generate_population`` (the rows
the importer validates: ~60 % already in the register's form, the others as typed), keeps them in
memory, then times ``validate_record(**row)`` over all of them and prints rows per second. Only the
validation is timed, not the generation. Every row must validate: a rejected row is reported and
fails the run (exit status 1), since a benchmark of error paths would not measure an import.

    .venv/bin/python bench/validate.py                    # 100,000 rows, 3 passes, best pass
    .venv/bin/python bench/validate.py --rows 200000 --repeat 5 --seed 7
    .venv/bin/python bench/validate.py --profile          # cProfile of one pass, top 25 entries

Each pass starts with the validation caches emptied (see ``carnet.identity.traits.clear_caches``)
so that every pass costs what a fresh import of the same N rows costs; names repeat within a
population, so the caches still help inside a pass, as they do in a real import.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import platform
import pstats
import sys
import time
from collections.abc import Callable

from carnet.demo.population import generate_population
from carnet.exceptions import ValidationFailed
from carnet.identity import traits
from carnet.identity.places import get_places
from carnet.identity.service import validate_record


def _clear_caches() -> None:
    clear: Callable[[], None] | None = getattr(traits, "clear_caches", None)
    if clear is not None:
        clear()


def _one_pass(rows: list[dict[str, str]]) -> tuple[float, int]:
    """Seconds spent validating every row, and the number of rows rejected."""
    _clear_caches()
    rejected = 0
    start = time.perf_counter()
    for row in rows:
        try:
            validate_record(**row)
        except ValidationFailed as exc:
            rejected += 1
            if rejected <= 5:
                print(f"rejected: {exc.code}: {exc.message}", file=sys.stderr)
    return time.perf_counter() - start, rejected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows to validate (100,000)")
    parser.add_argument("--seed", type=int, default=1, help="population seed (1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is kept (3)")
    parser.add_argument("--profile", action="store_true", help="profile one pass instead")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")

    get_places()  # load the COG registry before timing (first use reads the pickle cache)
    start = time.perf_counter()
    rows = list(generate_population(args.rows, args.seed))
    print(f"generated {len(rows):,} rows (seed {args.seed}) in {time.perf_counter() - start:.1f} s")
    print(f"python {platform.python_version()} on {platform.machine()}, one core")

    if args.profile:
        _clear_caches()
        profiler = cProfile.Profile()
        profiler.enable()
        for row in rows:
            with contextlib.suppress(ValidationFailed):
                validate_record(**row)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0

    best = float("inf")
    failed = False
    for number in range(1, args.repeat + 1):
        seconds, rejected = _one_pass(rows)
        best = min(best, seconds)
        failed = failed or rejected > 0
        print(
            f"pass {number}: {seconds:.2f} s, {len(rows) / seconds:,.0f} rows/s"
            + (f", {rejected:,} REJECTED" if rejected else "")
        )
    print(f"best: {len(rows) / best:,.0f} rows/s ({len(rows):,} rows, best of {args.repeat})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
