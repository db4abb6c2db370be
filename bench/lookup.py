"""Benchmark of the INSi-like lookup, ``POST /api/v1/ins/search``, on SQLite and PostgreSQL.

One command (``make bench``, or ``.venv/bin/python bench/lookup.py --help``):

1. generates the synthetic population once (cached CSV in the work directory);
2. draws a few thousand search requests whose answer is known in advance: 80 % existing people
   (00), 10 % absent people, i.e. a typing slip in the name or the day (01), 10 % homonyms (02);
3. for each backend: creates a fresh database (a SQLite file in the work directory; the
   PostgreSQL database ``carnet_bench``, dropped afterwards), migrates it, loads the population
   with the register importer (timed), registers an API client, starts the real server
   (``carnet serve --server granian``) on a free port, gets a token, checks a sample of the
   queries one by one against their expected code, warms up, then drives the server with ``wrk``
   (installed with ``apt-get install -y wrk`` if missing and possible) or, failing that, with an
   asyncio + httpx2 client;
4. with ``--compare-bare`` (the default): also starts ``bench/bare_lookup.py`` (a bare ASGI
   application running the same SQL with the raw driver, under granian with the same settings)
   on the same database, checks its answers (expected codes, and the same JSON as Carnet's), and
   measures it with the same load generator and queries, in turn with Carnet (``--rounds``
   alternating turns): the ratio of the two is the cost of the framework layers (FastAPI,
   Pydantic, SQLAlchemy, middleware, logging);
5. verifies the audit trail both servers appended to (``AuditService.verify``);
6. prints a table (requests/s, latency percentiles, errors, INSi codes observed, and the
   Carnet/bare ratios) with the machine's description and the command, and saves it under
   ``bench/results/``.

Every search is audited in the same transaction as on a real platform, so each request is also
a write (one audit row): the benchmark measures the whole request, not a bare index probe.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/carnet_bench"
SEARCH_PATH = "/api/v1/ins/search"
MIX = {"existing": 0.8, "absent": 0.1, "homonyms": 0.1}


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- machine ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


# -- population and queries ---------------------------------------------------------------------


def population_file(work: Path, size: int, seed: int) -> Path:
    from carnet.demo.loader import write_population

    path = work / f"population-{size}-s{seed}.csv"
    if path.is_file():
        say(f"population: reusing {path}")
        return path
    say(f"population: generating {size:,} persons into {path} …")
    started = time.perf_counter()
    write_population(path, size, seed)
    say(f"population: written in {time.perf_counter() - started:.1f} s")
    return path


def query_set(work: Path, population: Path, total: int, seed: int) -> list[dict[str, Any]]:
    """The request mix, cached next to the population: [{"expected": code, "body": {...}}]."""
    from carnet.demo.loader import scan_queries

    path = work / f"{population.stem}-queries-{total}.json"
    if path.is_file():
        return list(json.loads(path.read_text()))
    say(f"queries: drawing {total:,} searches with a known answer from {population.name} …")
    counts = mix_counts(total)
    found = scan_queries(population, counts, seed=seed)
    queries = request_mix(found, counts, random.Random(seed))
    path.write_text(json.dumps(queries, ensure_ascii=False))
    return queries


def mix_counts(total: int) -> dict[str, int]:
    """How many of ``total`` searches each category of the request mix gets."""
    return {category: round(total * share) for category, share in MIX.items()}


def request_mix(
    found: dict[str, list[Any]], counts: dict[str, int], rng: random.Random
) -> list[dict[str, Any]]:
    """The chosen searches (``SearchQuery``) of each category as JSON-ready dicts, shuffled."""
    queries = [
        {"category": q.category, "expected": q.expected, "body": q.body}
        for category in counts
        for q in found[category]
    ]
    for category, wanted in counts.items():
        if len(found[category]) < wanted:
            say(f"queries: only {len(found[category])} {category} queries (wanted {wanted})")
    rng.shuffle(queries)
    return queries


# -- databases ----------------------------------------------------------------------------------


def database_url(backend: str, args: argparse.Namespace, work: Path) -> str:
    """Where the benchmark's database of this backend, size and seed lives."""
    from carnet.config import normalise_database_url

    if backend == "sqlite":
        return f"sqlite:///{work / f'bench-{args.size}-s{args.seed}.db'}"
    return normalise_database_url(args.pg_url)


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def prepare_database(backend: str, args: argparse.Namespace, work: Path) -> str:
    """A new, empty database (an older one of the same name is dropped)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if backend == "sqlite":
        path = Path(database_url(backend, args, work).removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = make_url(database_url(backend, args, work))
    name = url.database or "carnet_bench"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


def drop_database(backend: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_version(url: str) -> str:
    from sqlalchemy import text

    from carnet.db import Database

    database = Database(url, pool_size=1)
    try:
        with database.engine.connect() as connection:
            if database.dialect == "sqlite":
                return "SQLite " + str(connection.execute(text("select sqlite_version()")).scalar())
            version = str(connection.execute(text("show server_version")).scalar())
            return f"PostgreSQL {version}"
    finally:
        database.dispose()


def load_register(url: str, population: Path, secret: str) -> tuple[float, str, str]:
    """Migrate, import (timed), analyse, register a client: (seconds, client id, secret)."""
    import carnet.models  # noqa: F401 - complete metadata
    from carnet import migrate
    from carnet.db import Database
    from carnet.identity.importer import import_register

    migrate.upgrade(url)
    database = Database(url, pool_size=2)
    try:
        started = time.perf_counter()
        report = import_register(
            database, population, progress=sys.stderr.isatty(), workers=os.cpu_count() or 1
        )
        seconds = time.perf_counter() - started
        if not report.committed:
            raise SystemExit(f"import refused: {report.invalid} invalid lines {report.errors[:3]}")
        with database.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")  # fresh planner statistics after a bulk load
            connection.commit()
    finally:
        database.dispose()
    return (seconds, *register_client(url, secret))


def register_client(url: str, secret: str) -> tuple[str, str]:
    """A new API client of the benchmark (scope ins.read): (client id, secret)."""
    from carnet.auth.service import AuthService
    from carnet.db import Database

    database = Database(url, pool_size=1)
    try:
        auth = AuthService(secret, "http://127.0.0.1", 3600, 300)
        with database.session() as session:
            created = auth.create_client(session, name="lookup benchmark", scopes=["ins.read"])
        assert created.client_secret is not None
        return created.client_id, created.client_secret
    finally:
        database.dispose()


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(url: str, secret: str, workers: int, log: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "CARNET_ENV": "production",
        "CARNET_DATABASE_URL": url,
        "CARNET_SECRET_KEY": secret,
        "CARNET_ISSUER": f"http://127.0.0.1:{port}",
        "CARNET_ACCESS_TOKEN_TTL_SECONDS": "3600",
        # No background jobs: on a fresh register the national space creation would run (and
        # load the database) during the measures; it has its own benchmark, space_inform.py.
        "CARNET_JOBS_INTERVAL_SECONDS": "0",
        # Production refuses to start without the health space's master key.
        "CARNET_SPACE_MASTER_KEY": os.environ.get("CARNET_SPACE_MASTER_KEY")
        or base64.b64encode(os.urandom(32)).decode(),
    }
    command = [
        sys.executable, "-m", "carnet", "serve", "--server", "granian",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    return _launch(command, env, port, log)


def start_bare_server(
    url: str, secret: str, issuer: str, workers: int, log: Path, *, pre_ping: bool = False
) -> Server:
    """``bench/bare_lookup.py`` on the same database, accepting the tokens Carnet issued."""
    from carnet.config import Settings

    port = free_port()
    chains = os.environ.get("CARNET_AUDIT_CHAINS") or str(
        Settings.model_fields["audit_chains"].default
    )
    env = {
        **os.environ,
        "BARE_DATABASE_URL": url,
        "BARE_SECRET_KEY": secret,
        "BARE_ISSUER": issuer,
        "BARE_AUDIT_CHAINS": chains,
        "BARE_PRE_PING": "1" if pre_ping else "",
    }
    command = [
        sys.executable, str(ROOT / "bench" / "bare_lookup.py"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    return _launch(command, env, port, log)


def _launch(command: list[str], env: dict[str, str], port: int, log: Path) -> Server:
    import httpx2

    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}); see {log}")
        try:
            if httpx2.get(server.base + "/readyz", timeout=2).status_code == 200:
                return server
        except httpx2.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"the server did not become ready in 90 s; see {log}")


def get_token(base: str, client_id: str, secret: str) -> str:
    import httpx2

    response = httpx2.post(
        base + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def check_answers(
    base: str,
    token: str,
    queries: list[dict[str, Any]],
    n: int,
    reference: list[Any] | None = None,
) -> tuple[dict[str, int], list[Any]]:
    """Send ``n`` queries one by one: how many answered their expected code (and, given the
    ``reference`` answers of another server, how many answered the same JSON), and the answers."""
    import httpx2

    result = {"checked": 0, "as_expected": 0}
    if reference is not None:
        result["same_as_carnet"] = 0
    answers: list[Any] = []
    with httpx2.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for index, query in enumerate(queries[:n]):
            response = client.post(base + SEARCH_PATH, json=query["body"])
            answer = response.json() if response.status_code == 200 else None
            answers.append(answer)
            result["checked"] += 1
            if answer is not None and answer.get("code") == query["expected"]:
                result["as_expected"] += 1
            if reference is not None and answer is not None and answer == reference[index]:
                result["same_as_carnet"] += 1
    return result, answers


# -- load generators ----------------------------------------------------------------------------

LUA = r"""
local bodies = {
%(bodies)s
}
local threads = {}
local position = 0
c00, c01, c02, cother = 0, 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads * 7919)
end

function init(args)
  position = offset
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer %(token)s"
end

function request()
  position = position + 1
  return wrk.format(nil, nil, nil, bodies[(position %% #bodies) + 1])
end

function response(status, headers, body)
  local code = status == 200 and body:match('"code":"(%%d%%d)"') or nil
  if code == "00" then c00 = c00 + 1
  elseif code == "01" then c01 = c01 + 1
  elseif code == "02" then c02 = c02 + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local n00, n01, n02, nother = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    n00 = n00 + thread:get("c00")
    n01 = n01 + thread:get("c01")
    n02 = n02 + thread:get("c02")
    nother = nother + thread:get("cother")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "mean_us": %%.1f, "errors": {"connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d}, "codes": {"00": %%d, "01": %%d, "02": %%d, ' ..
    '"other": %%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout, n00, n01, n02, nother))
end
"""


def lua_script(queries: list[dict[str, Any]], token: str, path: Path) -> Path:
    bodies = ",\n".join(
        "[==[" + json.dumps(q["body"], ensure_ascii=False, separators=(",", ":")) + "]==]"
        for q in queries
    )
    path.write_text(LUA % {"bodies": bodies, "token": token}, encoding="utf-8")
    return path


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        say("wrk is not installed: trying `apt-get install -y wrk` once …")
        subprocess.run(
            ["apt-get", "install", "-y", "wrk"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, script: Path, *, threads: int, connections: int, seconds: int
) -> dict[str, Any]:
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            seconds_run = data["duration_us"] / 1e6
            return {
                "requests": data["requests"],
                "seconds": seconds_run,
                "rps": data["requests"] / seconds_run,
                "p50_ms": data["p50_us"] / 1000,
                "p90_ms": data["p90_us"] / 1000,
                "p99_ms": data["p99_us"] / 1000,
                "max_ms": data["max_us"] / 1000,
                "errors": sum(data["errors"].values()) + data["codes"]["other"],
                "error_detail": data["errors"],
                "codes": {k: v for k, v in data["codes"].items() if k != "other"},
            }
    raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")


def run_python(
    url: str, token: str, queries: list[dict[str, Any]], *, connections: int, seconds: int
) -> dict[str, Any]:
    """The fallback load generator: ``connections`` concurrent keep-alive clients (asyncio)."""
    import httpx2

    latencies: list[float] = []
    codes = {"00": 0, "01": 0, "02": 0}
    errors = 0

    async def worker(index: int, client: httpx2.AsyncClient, stop: float) -> None:
        nonlocal errors
        position = index * 7919
        while time.perf_counter() < stop:
            position += 1
            body = queries[position % len(queries)]["body"]
            started = time.perf_counter()
            try:
                response = await client.post(url, json=body)
                code = response.json().get("code") if response.status_code == 200 else None
            except (httpx2.HTTPError, ValueError):
                code = None
            latencies.append(time.perf_counter() - started)
            if code in codes:
                codes[code] += 1
            else:
                errors += 1

    async def main() -> float:
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=10
        ) as client:
            started = time.perf_counter()
            stop = started + seconds
            await asyncio.gather(*(worker(i, client, stop) for i in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "errors": errors,
        "codes": codes,
    }


# -- one backend --------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    database: str
    persons: int
    import_seconds: float
    load_generator: str
    workers: int
    connections: int
    duration: int
    correctness: dict[str, int]
    run: dict[str, Any] = field(default_factory=dict)
    # The bare ASGI server on the same database (--compare-bare): its checks and figures.
    bare_correctness: dict[str, int] | None = None
    bare_run: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    work: Path,
    population: Path,
    queries: list[dict[str, Any]],
    wrk: str | None,
    secret: str,
) -> Result:
    say(f"{backend}: creating the database …")
    url = prepare_database(backend, args, work)
    servers: list[Server] = []
    try:
        say(f"{backend}: importing {args.size:,} persons with the register importer …")
        import_seconds, client_id, client_secret = load_register(url, population, secret)
        say(f"{backend}: imported in {import_seconds:.1f} s ({args.size / import_seconds:,.0f}/s)")
        version = database_version(url)
        server = start_server(url, secret, args.workers, work / f"server-{backend}.log")
        servers.append(server)
        token = get_token(server.base, client_id, client_secret)
        correctness, answers = check_answers(server.base, token, queries, args.check)
        say(
            f"{backend}: {correctness['as_expected']}/{correctness['checked']} sample queries "
            "gave their expected INSi code"
        )
        result = Result(
            backend, version, args.size, import_seconds, "wrk" if wrk else "python/httpx2",
            args.workers, args.connections, args.duration, correctness,
        )  # fmt: skip
        targets = [(backend, server)]
        if args.compare_bare:
            say(f"{backend}: starting the bare ASGI server on the same database …")
            # It accepts the tokens Carnet issued (same secret, Carnet's issuer).
            bare = start_bare_server(
                url, secret, server.base, args.workers, work / f"server-bare-{backend}.log",
                pre_ping=args.bare_pre_ping,
            )  # fmt: skip
            servers.append(bare)
            bare_correctness, _ = check_answers(
                bare.base, token, queries, args.check, reference=answers
            )
            say(
                f"{backend} bare: {bare_correctness['as_expected']}/{bare_correctness['checked']}"
                f" gave their expected code, {bare_correctness['same_as_carnet']} the same JSON "
                "as Carnet"
            )
            result.bare_correctness = bare_correctness
            targets.append((f"{backend} bare", bare))
        # Both servers stay up (an idle one costs nothing) and are measured in turn, round after
        # round, so that a change in the machine's background load hits both alike.
        runs: list[list[dict[str, Any]]] = [[] for _ in targets]
        for label, target in targets if args.warmup > 0 else []:
            load(label, target, token, queries, args, work, wrk, args.warmup, "warming up")
        for round_number in range(args.rounds):
            # --duration seconds per server in all, spread over the rounds.
            seconds = args.duration // args.rounds + (round_number < args.duration % args.rounds)
            for index, (label, target) in enumerate(targets):
                note = f"measuring (round {round_number + 1}/{args.rounds})"
                runs[index].append(
                    load(label, target, token, queries, args, work, wrk, seconds, note)
                )
        result.run = combine(runs[0])
        if args.compare_bare:
            result.bare_run = combine(runs[1])
        for running in servers:
            running.stop()
        result.audit = verify_audit(url, secret)
        say(
            f"{backend}: audit trail {'verified' if result.audit['ok'] else 'BROKEN'}: "
            f"{result.audit['events']:,} entries in {result.audit['chains']} chains"
        )
        return result
    finally:
        for running in servers:
            running.stop()
        if not args.keep:
            drop_database(backend, url)


def server_cpu_seconds(server: Server) -> float:
    """CPU time (user + system) used so far by the server's processes (its session's group).

    CPU time per request depends much less than throughput on what else runs on the machine, so
    it compares two servers more fairly on a shared machine. The database's CPU is not included.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the command name (which may contain spaces): see proc(5).
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == server.process.pid:  # process group = the server's session
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def load(
    label: str,
    server: Server,
    token: str,
    queries: list[dict[str, Any]],
    args: argparse.Namespace,
    work: Path,
    wrk: str | None,
    seconds: int,
    what: str,
) -> dict[str, Any]:
    """Drive ``server`` for ``seconds`` with the load generator: the figures of the run."""
    target = server.base + SEARCH_PATH
    say(f"{label}: {what} for {seconds} s with {'wrk' if wrk else 'python/httpx2'} …")
    cpu_before = server_cpu_seconds(server)
    if wrk:
        script = lua_script(queries, token, work / "search.lua")
        run = run_wrk(
            wrk, target, script, threads=args.threads, connections=args.connections,
            seconds=seconds,
        )  # fmt: skip
    else:
        run = run_python(target, token, queries, connections=args.connections, seconds=seconds)
    run["server_cpu_s"] = server_cpu_seconds(server) - cpu_before
    run["cpu_ms_per_request"] = 1000 * run["server_cpu_s"] / max(run["requests"], 1)
    return run


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from several rounds: throughput over all of them, latencies their median."""
    if len(runs) == 1:
        return runs[0]
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    combined: dict[str, Any] = {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds,
        "max_ms": max(r["max_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "codes": {c: sum(r["codes"][c] for r in runs) for c in ("00", "01", "02")},
        "server_cpu_s": sum(r["server_cpu_s"] for r in runs),
        "rounds": runs,
    }
    combined["cpu_ms_per_request"] = 1000 * combined["server_cpu_s"] / max(requests, 1)
    for key in ("p50_ms", "p90_ms", "p99_ms"):
        combined[key] = statistics.median(r[key] for r in runs)
    return combined


def verify_audit(url: str, secret: str) -> dict[str, Any]:
    """Recompute every audit chain (Carnet's and the bare server's entries interleave)."""
    from carnet.audit.service import AuditService
    from carnet.db import Database

    database = Database(url, pool_size=1)
    try:
        with database.session() as session:
            report = AuditService(secret, 1).verify(session)
    finally:
        database.dispose()
    return {
        "ok": report.ok,
        "chains": report.chains,
        "events": report.events,
        "problems": report.problems[:10],
    }


def check_bare_constants() -> None:
    """The bare server copies a few of Carnet's constants: fail early if they drifted."""
    import importlib

    from carnet.identity.oids import OID_BY_KIND
    from carnet.identity.service import SEARCH_LABELS

    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    bare = importlib.import_module("bare_lookup")
    if bare.SEARCH_LABELS != SEARCH_LABELS or bare.OID_BY_KIND != OID_BY_KIND:
        raise SystemExit("bench/bare_lookup.py: labels or OIDs differ from Carnet's: update them")


# -- report -------------------------------------------------------------------------------------


def _row(database: str, server: str, persons: int, imported: str, run: dict[str, Any]) -> str:
    codes = run["codes"]
    total = sum(codes.values()) or 1
    mix = " / ".join(f"{100 * codes[c] / total:.1f} %" for c in ("00", "01", "02"))
    return (
        f"| {database} | {server} | {persons:,} | {imported} | {run['rps']:,.0f} | "
        f"{run['p50_ms']:.1f} ms | {run['p99_ms']:.1f} ms | {run['cpu_ms_per_request']:.2f} ms | "
        f"{run['errors']:,} | {mix} |"
    )


def table(results: list[Result]) -> str:
    header = (
        "| backend | server | persons | import | requests/s | p50 | p99 | server CPU/request "
        "| errors | observed 00/01/02 |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [header]
    for r in results:
        imported = f"{r.import_seconds:.0f} s ({r.persons / r.import_seconds:,.0f}/s)"
        lines.append(_row(r.database, "Carnet", r.persons, imported, r.run))
        if r.bare_run is not None:
            lines.append(_row(r.database, "bare ASGI", r.persons, "(same database)", r.bare_run))
    return "\n".join(lines)


def ratio_table(results: list[Result]) -> str:
    """Carnet / bare: throughput below 1 and latencies above 1 are what the framework costs."""
    compared = [r for r in results if r.bare_run is not None]
    if not compared:
        return ""
    lines = [
        "| backend | requests/s Carnet/bare | p50 Carnet/bare | p99 Carnet/bare "
        "| server CPU/request Carnet/bare |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in compared:
        assert r.bare_run is not None
        ours, bare = r.run, r.bare_run
        lines.append(
            f"| {r.database} | {ours['rps'] / bare['rps']:.2f} "
            f"| {ours['p50_ms'] / bare['p50_ms']:.2f} | {ours['p99_ms'] / bare['p99_ms']:.2f} "
            f"| {ours['cpu_ms_per_request'] / bare['cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="persons in the register")
    parser.add_argument("--seed", type=int, default=2026, help="population seed")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL database to create")
    parser.add_argument("--duration", type=int, default=30, help="measured seconds per server")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server")
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="split --duration into this many turns per server, alternating Carnet and bare "
        "(throughput over all turns, latency percentiles the median of the turns)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=min(cores, 4), help="wrk threads")
    parser.add_argument("--workers", type=int, default=cores, help="server worker processes")
    parser.add_argument("--queries", type=int, default=4000, help="distinct search requests")
    parser.add_argument("--check", type=int, default=300, help="queries checked one by one")
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto",
        help="wrk when available (auto), or the asyncio/httpx2 client",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "carnet-bench",
        help="population cache, SQLite database, server logs",
    )
    parser.add_argument(
        "--compare-bare", action=argparse.BooleanOptionalAction, default=True,
        help="also measure bench/bare_lookup.py (same SQL, no framework) on the same database",
    )  # fmt: skip
    parser.add_argument(
        "--bare-pre-ping", action="store_true",
        help="bare server: send SQLAlchemy's pre-ping SELECT 1 at each checkout (PostgreSQL)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.duration < args.rounds:
        parser.error("--rounds must be between 1 and --duration")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CARNET_DATA_DIR", str(work / "data"))  # COG cache for this process
    # One random secret for the run, in this process too: the import's audit entry (written
    # here) and the servers' entries are then chained with the same key, and the trail verifies.
    secret = os.urandom(32).hex()
    os.environ["CARNET_SECRET_KEY"] = secret
    machine = machine_info()
    machine["load_average_start"] = round(os.getloadavg()[0], 2)
    wrk = None if args.load_generator == "python" else ensure_wrk()
    if args.load_generator == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed")
    if wrk is None:
        say("wrk unavailable: using the asyncio/httpx2 load generator (it needs CPU itself)")

    if args.compare_bare:
        check_bare_constants()
    population = population_file(work, args.size, args.seed)
    queries = query_set(work, population, args.queries, args.seed)
    results = [
        bench_backend(backend, args, work, population, queries, wrk, secret)
        for backend in args.backends
    ]

    # Other processes share the machine's cores: the load average says how busy it was.
    machine["load_average_end"] = round(os.getloadavg()[0], 2)
    command = " ".join(shlex.quote(a) for a in [sys.executable, "bench/lookup.py", *argv])
    expected = {c: sum(q["expected"] == c for q in queries) for c in ("00", "01", "02")}
    checked = ", ".join(
        f"{r.backend} {r.correctness['as_expected']}/{r.correctness['checked']}" for r in results
    )
    bare_checked = ", ".join(
        f"{r.backend} {r.bare_correctness['as_expected']}/{r.bare_correctness['checked']} "
        f"(same JSON as Carnet: {r.bare_correctness['same_as_carnet']})"
        for r in results
        if r.bare_correctness is not None
    )
    audits = ", ".join(
        f"{r.backend} {'verified' if r.audit['ok'] else 'BROKEN'} ({r.audit['events']:,} entries, "
        f"{r.audit['chains']} chains)"
        for r in results
        if r.audit is not None
    )
    ratios = ratio_table(results)
    report = "\n".join(
        [
            f"# Lookup benchmark, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            table(results),
            "",
            *(
                [
                    "Carnet against the bare ASGI server (bench/bare_lookup.py: same SQL, raw "
                    "driver, no FastAPI/Pydantic/SQLAlchemy"
                    + (", with SQLAlchemy's pre-ping" if args.bare_pre_ping else "")
                    + "), same database, same load:",
                    "",
                    ratios,
                    "",
                ]
                if ratios
                else []
            ),
            f"Request mix sent (expected): {expected['00']} → 00, {expected['01']} → 01, "
            f"{expected['02']} → 02 over {len(queries)} distinct searches, cycled.",
            f"Load: {results[0].load_generator if results else '-'}, {args.connections} "
            f"connections, {args.threads} threads, {args.duration} s per server"
            + (f" in {args.rounds} alternating rounds" if args.rounds > 1 else "")
            + f" after {args.warmup} s of warm-up; servers: granian, {args.workers} worker(s), "
            "on the same machine.",
            f"Correctness: {checked} sample queries answered their expected code"
            + (f"; bare server: {bare_checked}." if bare_checked else "."),
            f"Audit trail after the runs: {audits}.",
            f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']}, "
            f"{machine['os']}, Python {machine['python']}; 1-minute load average "
            f"{machine['load_average_start']} at the start, {machine['load_average_end']} at the "
            "end.",
            f"Command: `{command}`",
        ]
    )
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"lookup-{stamp}.md").write_text(report + "\n", encoding="utf-8")
    (RESULTS / f"lookup-{stamp}.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "command": command,
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": [asdict(r) for r in results],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    say(f"results saved to {RESULTS}/lookup-{stamp}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
