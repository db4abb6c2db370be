"""The benchmark suite, one command (``make bench``): every endpoint under wrk, one table.

For each backend (``--backends``), on one fresh database holding ``--size`` persons (defaults:
SQLite 1,000,000, PostgreSQL 10,000,000; ``--quick``: 20,000 each, a smoke run of a few
minutes), with the real server (``carnet serve --server granian``, production mode) on loopback:

1. **INS lookup by traits** (``POST /api/v1/ins/search``), ``bench/lookup.py``'s population,
   request mix and import; next to it ``bench/bare_lookup.py`` (same SQL, no framework) on the
   same database, unless ``--no-compare-bare``;
2. **FHIR $match** (``POST /fhir/Patient/$match``) with the same searches as Parameters
   (``bench/fhir_match.py``);
3. **card context creation with rights** (``POST /api/v1/apcv/contexts``): ``bench/apcv.py``'s
   rights, directory, ``--cards`` activated cards and single-use codes, on the same register;
4. **document list and read** (``GET /api/v1/spaces/{id}/documents`` and ``…/{doc}/content``)
   with holder tokens (``bench/documents_load.py``), the table filled to ``--documents`` rows.

Each is checked one request at a time before it is measured (expected INSi codes, beneficiaries,
200s), then warmed up and driven by wrk for ``--duration`` seconds. The audit trail is verified at
the end. One table (throughput, p50, p99, errors, server CPU per request) with the machine, its
load average before and after, the git commit and the command is printed and saved to
``bench/results/suite-<date>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import documents_load
import fhir_match
import lookup
import register_load

import apcv

say = lookup.say
DEFAULT_SIZES = {"sqlite": 1_000_000, "postgresql": 10_000_000}
QUICK = {
    "size": 20_000, "documents": 30_000, "duration": 5, "warmup": 2, "cards": 1_000,
    "holders": 10, "uploads": 2, "queries": 1_000, "check": 50,
}  # fmt: skip
DEFAULTS = {
    "duration": 20, "warmup": 5, "cards": 20_000, "holders": 50, "uploads": 4,
    "queries": 4_000, "check": 200,
}  # fmt: skip


@dataclass
class Row:
    benchmark: str
    backend: str
    data: str
    run: dict[str, Any]


@dataclass
class BackendReport:
    backend: str
    database: str
    persons: int
    setup_seconds: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    audit: dict[str, Any] | None = None

    def add(self, row: Row) -> None:
        """Keep a measured row and print it at once: a long run (69M) stopped before its table
        still leaves every figure it measured in its log."""
        self.rows.append(row)
        run = row.run
        say(
            f"{row.backend}: {row.benchmark} ({row.data}): {run['rps']:,.0f}/s, p50 "
            f"{run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, {run['errors']:,} errors, "
            f"{run['cpu_ms_per_request']:.2f} ms server CPU/request"
        )


def bench_backend(
    backend: str, args: argparse.Namespace, work: Path, wrk: str, secret: str
) -> BackendReport:
    size = args.sizes[backend]
    seconds: float | None = 0.0
    documents = args.documents.get(backend, size)
    generate = args.register_load == "generate"
    queries_file = register_load.queries_path(work, size, args.seed, args.queries)
    if generate and args.reuse_register:
        if not queries_file.is_file():
            raise SystemExit(f"--reuse-register: {queries_file} is missing (written by the load)")
        queries = json.loads(queries_file.read_text())
    elif not generate:
        population = lookup.population_file(work, size, args.seed)
        queries = lookup.query_set(work, population, args.queries, args.seed)
    scope = argparse.Namespace(**{**vars(args), "size": size})
    servers: list[lookup.Server] = []
    data_dir = work / f"suite-data-{backend}"
    shutil.rmtree(data_dir, ignore_errors=True)
    os.environ["CARNET_DATA_DIR"] = str(data_dir)  # the server's signing key and blobs
    if args.reuse_register:
        url = lookup.database_url(backend, scope, work)
        say(f"{backend}: reusing the register of {lookup.safe_url(url)} …")
        client_id, client_secret = reuse_register(url, size, secret)
        seconds = None
    else:
        say(f"{backend}: creating the database …")
        url = lookup.prepare_database(backend, scope, work)
    try:
        if seconds is None:
            report = BackendReport(backend, lookup.database_version(url), size)
        elif generate:
            say(f"{backend}: generating {size:,} persons into the register on every core …")
            counts = lookup.mix_counts(args.queries)
            steps, queries = register_load.load_register(
                url, size, args.seed, counts, workers=os.cpu_count() or 1
            )
            queries_file.write_text(json.dumps(queries, ensure_ascii=False))
            client_id, client_secret = lookup.register_client(url, secret)
            report = BackendReport(backend, lookup.database_version(url), size)
            report.setup_seconds["register generated"] = steps["total"]
            say(f"{backend}: generated in {steps['total']:,.1f} s ({steps})")
        else:
            say(f"{backend}: importing {size:,} persons …")
            seconds, client_id, client_secret = lookup.load_register(url, population, secret)
            report = BackendReport(backend, lookup.database_version(url), size)
            report.setup_seconds["register"] = seconds
            say(f"{backend}: imported in {seconds:.1f} s ({size / seconds:,.0f}/s)")

        matches = fhir_match.match_queries(queries)
        server = lookup.start_server(url, secret, args.workers, work / f"suite-{backend}.log")
        servers.append(server)
        token = lookup.get_token(server.base, client_id, client_secret)
        report.checks["lookup"], answers = lookup.check_answers(
            server.base, token, queries, args.check
        )
        report.checks["match"] = fhir_match.check_answers(server.base, token, matches, args.check)
        bare = None
        if args.compare_bare:
            bare = lookup.start_bare_server(
                url, secret, server.base, args.workers, work / f"suite-bare-{backend}.log"
            )
            servers.append(bare)
            report.checks["bare"], _ = lookup.check_answers(
                bare.base, token, queries, args.check, reference=answers
            )
        persons = f"{size:,} persons"

        def lookup_run(label: str, target: lookup.Server, seconds: int, what: str) -> Any:
            return lookup.load(label, target, token, queries, args, work, wrk, seconds, what)

        lookup_run(backend, server, args.warmup, "warming up")
        report.add(
            Row(
                "INS lookup",
                backend,
                persons,
                lookup_run(backend, server, args.duration, "measuring"),
            )
        )
        if bare is not None:
            lookup_run(f"{backend} bare", bare, args.warmup, "warming up")
            run = lookup_run(f"{backend} bare", bare, args.duration, "measuring")
            report.add(Row("INS lookup, bare ASGI", backend, persons, run))
            bare.stop()
            servers.remove(bare)
        fhir_match.load(backend, server, token, matches, args, work, wrk, args.warmup)
        run = fhir_match.load(backend, server, token, matches, args, work, wrk, args.duration)
        report.add(Row("FHIR $match", backend, persons, run))

        say(f"{backend}: rights, directory and {args.cards:,} cards …")
        card_args = argparse.Namespace(**{**vars(scope), "codes_per_second": 1500})
        timings, apcv_id, apcv_secret, cards = apcv.populate(
            url, None, secret, card_args, register=False
        )
        report.setup_seconds.update(timings)
        apcv_token = lookup.get_token(server.base, apcv_id, apcv_secret)
        report.checks["apcv"] = apcv.check_codes(
            server.base, apcv_token, apcv.make_codes(cards, args.check, args.seed)
        )
        run = apcv.measure(backend, server, apcv_token, cards, card_args, work, wrk)
        report.add(
            Row("card context with rights", backend, f"{persons}, {args.cards:,} cards", run)
        )

        say(f"{backend}: {args.holders} spaces, uploads, documents up to {documents:,} …")
        started = time.perf_counter()
        prepared = documents_load.prepare(
            url, server.base, secret, holders=args.holders, uploads=args.uploads,
            doc_kb=args.doc_kb, documents=documents, space_docs=args.space_docs,
        )  # fmt: skip
        report.setup_seconds["documents"] = time.perf_counter() - started
        report.setup_seconds["documents bulk insert"] = prepared["bulk_seconds"]
        report.checks["documents"] = {
            k: prepared[k] for k in ("holders", "uploaded", "pdf_bytes", "documents")
        }
        held = f"{prepared['documents']:,} documents"
        for name, requests in (("document list", "lists"), ("document read", "reads")):
            label = f"{backend} {name}"
            documents_load.load(label, server, prepared[requests], args, work, wrk, args.warmup)
            run = documents_load.load(
                label, server, prepared[requests], args, work, wrk, args.duration
            )
            report.add(Row(name, backend, held, run))

        for running in servers:
            running.stop()
        report.audit = lookup.verify_audit(url, secret)
        return report
    finally:
        for running in servers:
            running.stop()
        if not (args.keep or args.reuse_register):  # a reused register is kept for the next run
            lookup.drop_database(backend, url)


# Kept by --reuse-register: the register and what the migrations wrote; everything the suite
# adds after the import (rights, directory, cards, spaces, documents, audit, clients) is emptied.
KEPT_TABLES = {"persons", "ins_history", "alembic_version"}


def reuse_register(url: str, size: int, secret: str) -> tuple[str, str]:
    """Empty every table but the register's in a database left by ``--keep``; a new API client.

    The national sizes take hours to import; the measures take minutes. The audit trail is
    emptied with the rest, since this run's secret (which chains it) is new."""
    from sqlalchemy import func, inspect, select, text

    import carnet.models  # noqa: F401 - complete metadata
    from carnet import migrate
    from carnet.auth.service import AuthService
    from carnet.db import Base, Database
    from carnet.identity.models import Person

    migrate.upgrade(url)
    database = Database(url, pool_size=1)
    try:
        with database.session() as session:
            persons = session.scalar(select(func.count()).select_from(Person))
            if persons != size:
                raise SystemExit(
                    f"--reuse-register: the database holds {persons:,} persons, not {size:,}"
                )
            tables = sorted(set(inspect(session.connection()).get_table_names()) - KEPT_TABLES)
            if database.dialect == "postgresql":
                names = ", ".join(f'"{t}"' for t in tables)
                session.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
            else:  # children before parents, for the foreign keys
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name in tables:
                        session.execute(table.delete())
        auth = AuthService(secret, "http://127.0.0.1", 3600, 300)
        with database.session() as session:
            created = auth.create_client(session, name="lookup benchmark", scopes=["ins.read"])
        assert created.client_secret is not None
        return created.client_id, created.client_secret
    finally:
        database.dispose()


# -- report ---------------------------------------------------------------------------------------


def table(reports: list[BackendReport]) -> str:
    lines = [
        "| benchmark | backend | data | requests/s | p50 | p99 | errors | server CPU/request |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        for row in report.rows:
            run, database = row.run, report.database.split(" (")[0]
            lines.append(
                f"| {row.benchmark} | {database} | {row.data} | {run['rps']:,.0f} | "
                f"{run['p50_ms']:.1f} ms | {run['p99_ms']:.1f} ms | {run['errors']:,} | "
                f"{run['cpu_ms_per_request']:.2f} ms |"
            )
    return "\n".join(lines)


def details(reports: list[BackendReport]) -> list[str]:
    lines = []
    for r in reports:
        setup = ", ".join(f"{k} {v:,.1f} s" for k, v in r.setup_seconds.items())
        c = r.checks
        checks = [
            f"lookup {c['lookup']['as_expected']}/{c['lookup']['checked']}",
            f"$match {c['match']['as_expected']}/{c['match']['checked']}",
            f"cards {c['apcv']['as_expected']}/{c['apcv']['checked']} "
            f"(replay refused: {bool(c['apcv']['replay_refused'])})",
        ]
        if "bare" in c:
            checks.insert(
                1,
                f"bare {c['bare']['as_expected']}/{c['bare']['checked']} "
                f"(same JSON: {c['bare']['same_as_carnet']})",
            )
        d = c["documents"]
        audit = r.audit or {}
        register = r.setup_seconds.get("register")
        generated = r.setup_seconds.get("register generated")
        if register:
            imported = f"{r.persons / register:,.0f} persons/s imported"
        elif generated:
            imported = f"{r.persons / generated:,.0f} persons/s generated into the register"
        else:
            imported = "register reused, not imported"
        lines.append(
            f"- {r.database}: set-up {setup} ({imported}); answers as expected: "
            f"{', '.join(checks)}; documents: "
            f"{d['holders']} holders, {d['uploaded']} uploaded PDFs of {d['pdf_bytes'] // 1024} "
            f"KiB through the API; audit trail "
            f"{'verified' if audit.get('ok') else 'BROKEN'} ({audit.get('events', 0):,} entries)."
        )
    return lines


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(lookup.ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(lookup.ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def per_backend(value: str, name: str) -> dict[str, int]:
    """``1000000`` (every backend) or ``sqlite=1000000,postgresql=10000000``."""
    out: dict[str, int] = {}
    for part in value.split(","):
        backend, _, number = part.strip().rpartition("=")
        try:
            amount = int(number.replace("_", ""))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{name}: {part!r} is not a number") from exc
        for key in [backend] if backend else ["sqlite", "postgresql"]:
            out[key] = amount
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Defaults (full run): " + ", ".join(f"{k} {v:,}" for k, v in DEFAULTS.items())
        + "; --quick: " + ", ".join(f"{k} {v:,}" for k, v in QUICK.items()) + ".",
    )  # fmt: skip
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument(
        "--size", default=None,
        help="persons: N for every backend, or per backend, e.g. sqlite=1000000,postgresql=10000000"
        " (default: those two; --quick: 20,000)",
    )  # fmt: skip
    parser.add_argument(
        "--documents", default=None,
        help="rows in the documents table, same syntax (default: --size; --quick: 30,000)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: smoke")
    parser.add_argument("--duration", type=int, help="measured seconds per benchmark")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per benchmark")
    parser.add_argument("--cards", type=int, help="activated cards")
    parser.add_argument("--dependants", type=float, default=0.3, help="holders with dependants")
    parser.add_argument("--holders", type=int, help="spaces opened, uploaded to and read")
    parser.add_argument("--uploads", type=int, help="PDFs uploaded through the API per holder")
    parser.add_argument("--doc-kb", type=int, default=64, help="size of each uploaded PDF")
    parser.add_argument("--space-docs", type=int, default=500, help="rows in the first space")
    parser.add_argument("--queries", type=int, help="distinct searches (lookup and $match)")
    parser.add_argument("--check", type=int, help="requests checked one by one per benchmark")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=min(cores, 4), help="wrk threads")
    parser.add_argument("--workers", type=int, default=cores, help="server worker processes")
    parser.add_argument("--seed", type=int, default=2026, help="population seed")
    parser.add_argument(
        "--pg-url", default=lookup.DEFAULT_PG_URL.replace("carnet_bench", "carnet_bench_suite"),
        help="PostgreSQL database to create (and drop)",
    )  # fmt: skip
    parser.add_argument(
        "--compare-bare", action=argparse.BooleanOptionalAction, default=True,
        help="also measure bench/bare_lookup.py (same SQL, no framework) on the same database",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "carnet-bench",
        help="population cache, SQLite database, server logs",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument(
        "--reuse-register", action="store_true",
        help="use the register already imported in the database (left by --keep, same --size and"
        " --seed): skip the import, empty the other tables, and measure",
    )  # fmt: skip
    parser.add_argument(
        "--register-load", choices=("import", "generate"), default="import",
        help="import: write the population file and import it with the register importer (timed);"
        " generate: generate the register straight into PostgreSQL on every core"
        " (bench/register_load.py; the national sizes, where the file and the import take hours)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.register_load == "generate" and "sqlite" in args.backends:
        parser.error("--register-load generate: PostgreSQL only (COPY); use --backends postgresql")
    profile = QUICK if args.quick else DEFAULTS
    for key, value in profile.items():
        if key not in ("size", "documents") and getattr(args, key) is None:
            setattr(args, key, value)
    try:
        default_size = str(QUICK["size"]) if args.quick else "sqlite=1000000,postgresql=10000000"
        args.sizes = {**DEFAULT_SIZES, **per_backend(args.size or default_size, "--size")}
        default_docs = str(QUICK["documents"]) if args.quick else ""
        documents = args.documents or default_docs
        args.documents = per_backend(documents, "--documents") if documents else {}
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(32).hex()  # one platform secret: this process writes audit rows too
    os.environ["CARNET_SECRET_KEY"] = secret
    documents_load.quiet_import_documents()
    machine = lookup.machine_info()
    machine["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    wrk = lookup.ensure_wrk()
    if wrk is None:
        raise SystemExit("the suite needs wrk (apt-get install wrk)")
    started = time.perf_counter()
    reports = []
    for backend in args.backends:
        reports.append(bench_backend(backend, args, work, wrk, secret))
        # Shown at once: a later backend's failure must not take these figures with it.
        say(f"{backend} done:\n" + table(reports[-1:]) + "\n" + "\n".join(details(reports[-1:])))
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    command = " ".join(shlex.quote(a) for a in [sys.executable, "bench/suite.py", *argv])
    commit = git_commit()
    report = "\n".join(
        [
            f"# Benchmark suite, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            table(reports),
            "",
            f"Load: wrk, {args.connections} connections, {args.threads} threads, "
            f"{args.duration} s per benchmark after {args.warmup} s of warm-up; server: granian, "
            f"{args.workers} worker(s), production mode, on the same machine as wrk. Server CPU: "
            "the server's processes only (not the database's).",
            *details(reports),
            f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']}, "
            f"{machine['os']}, Python {machine['python']}; load average (1, 5, 15 min) "
            f"{machine['load_average_start']} before, {machine['load_average_end']} after.",
            f"Commit: {commit}. Wall time: {(time.perf_counter() - started) / 60:.1f} min.",
            f"Command: `{command}`",
        ]
    )
    print(report)
    lookup.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (lookup.RESULTS / f"suite-{stamp}.md").write_text(report + "\n", encoding="utf-8")
    (lookup.RESULTS / f"suite-{stamp}.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "commit": commit,
                "command": command,
                "args": {k: str(v) for k, v in vars(args).items()},
                "backends": [asdict(r) for r in reports],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    say(f"results saved to {lookup.RESULTS}/suite-{stamp}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
