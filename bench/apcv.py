"""Benchmark of apCV context creation, ``POST /api/v1/apcv/contexts``, on SQLite and PostgreSQL.

One command (``.venv/bin/python bench/apcv.py --help``):

1. reuses the synthetic population of ``bench/lookup.py`` (cached CSV in the work directory);
2. for each backend: a fresh database, migrated; the register loaded with the register importer;
   rights for everyone (open coverage periods written with one INSERT … SELECT: nothing
   population-sized passes through this process), a share of the card holders with one or two
   attached dependants (drawn in a seeded order computed by the database); one professional in
   the directory (``carnet.directory.importer``) and a software client bound to them (scope
   ``apcv``);
   ``--cards`` activated cards written directly (card + wallet device credential with its
   encrypted PIN key, as an activation leaves them: activating 10,000 cards through the e-mail
   flow would measure the mail sink);
3. starts the real server (``carnet serve --server granian``, ``CARNET_ENV=production``) on
   loopback, gets a token, checks a sample of codes one by one (201, the expected beneficiaries,
   then 409 when replayed);
4. generates fresh single-use QR codes offline, exactly as the wallet does (``carnet.kit.card_qr``:
   COSE_Sign1 ES256 by the device key, PIN tag under the PIN key), each sent once, and drives the
   server with ``wrk`` (a Lua script handing each code to one request) or, failing that, an
   asyncio + httpx2 client; measures throughput, p50/p99 and errors;
5. prints a table and saves it under ``bench/results/``.

Every context creation checks the professional (directory; the answer is kept 30 s per client),
verifies the code (credential probe with the delegation, ES256 signature, PIN tag, nonce insert),
reads the holder's household (rights, then everyone's register names), inserts the context and
appends one audit row per beneficiary (one chain claim and one append for all), all in one
transaction: the measure is the whole request. ``--service-calls`` then runs the use case alone
in this process, counting SQL statements and CPU per context.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lookup

CONTEXTS_PATH = "/api/v1/apcv/contexts"
BENCH_RPPS = "10100009999"
BENCH_SIRET = "90000001900019"
say = lookup.say


# -- the population's rights, the directory, the cards -------------------------------------------


@dataclass
class CardKeys:
    """What a device holds for one card: enough to make codes offline."""

    card_number: int
    key_id: bytes
    private_key: Any
    pin_key: bytes
    beneficiaries: int


# A seeded pseudo-random order over the register, computed by the database (Knuth's
# multiplicative hash of the id, shifted by the seed, modulo a prime): the same persons for the
# same seed on both backends, and nothing population-sized in this process.
_MIX_MULTIPLIER = 2654435761
_MIX_PRIME = 4294967311


def pick_families(
    session: Any, cards: int, dependant_share: float, seed: int
) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """Card holders (person ids) and attached children: child → (holder, rank).

    ``dependant_share`` of the holders get one or two children attached. Only ``3 × cards``
    ids are read (top-N of the seeded order), so this holds at 10M or 69M persons.
    """
    from sqlalchemy import func, select

    from carnet.identity.models import Person

    living = select(Person.id).where(Person.death_date.is_(None))
    count = session.scalar(select(func.count()).select_from(living.subquery()))
    if cards > count // 2:
        raise SystemExit(f"--cards {cards} is more than half the living population ({count:,})")
    mix = (Person.id * _MIX_MULTIPLIER + seed) % _MIX_PRIME
    ids = [int(i) for i in session.scalars(living.order_by(mix).limit(3 * cards))]
    rng = random.Random(seed)
    holders = ids[:cards]
    spare = iter(ids[cards:])
    attached: dict[int, tuple[int, int]] = {}
    for holder in holders:
        if rng.random() < dependant_share:
            for rank in range(2, 2 + rng.choice((1, 2))):
                child = next(spare, None)
                if child is None:
                    break
                attached[child] = (holder, rank)
    return holders, attached


def insert_rights(session: Any, attached: dict[int, tuple[int, int]]) -> None:
    """One open coverage period per living person (régime général), then the attached children.

    Not through ``carnet rights import``: the benchmark is about reading cards, not importing
    rights. One ``INSERT … SELECT`` (no row passes through Python), then one executemany update
    for the children.
    """
    from datetime import date

    from sqlalchemy import bindparam, insert, literal, null, select, text, update

    from carnet.identity.models import Person
    from carnet.rights.models import Coverage

    table = Coverage.__table__
    now = datetime.now(UTC)
    columns = ["person_id", "insured_person_id", "quality", "rank", "regime", "fund", "centre",
               "start_date", "end_date", "created_at", "updated_at"]  # fmt: skip
    values = select(
        Person.id, Person.id, literal("00"), literal(1), literal("01"), literal("751"),
        literal("0001"), literal(date(2020, 1, 1), table.c.start_date.type), null(),
        literal(now, table.c.created_at.type), literal(now, table.c.updated_at.type),
    ).where(Person.death_date.is_(None))  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        # Millions of rows in one statement: longer than the servers' per-request limit.
        session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(insert(table).from_select(columns, values))
    if attached:
        session.execute(
            update(table)
            .where(table.c.person_id == bindparam("child"))
            .values(insured_person_id=bindparam("holder"), quality="06", rank=bindparam("r")),
            [
                {"child": child, "holder": holder, "r": rank}
                for child, (holder, rank) in attached.items()
            ],
        )


def populate(
    url: str,
    population: Path | None,
    secret: str,
    args: argparse.Namespace,
    *,
    register: bool = True,
) -> tuple[dict[str, float], str, str, list[CardKeys]]:
    """Migrate, import register, rights, directory; write the cards; register the client.

    ``register=False``: the database already holds the population's register (``bench/suite.py``
    reuses the lookup benchmark's database), only the rest is written."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlalchemy import insert, select

    import carnet.models  # noqa: F401 - complete metadata
    from carnet import migrate
    from carnet.auth.service import AuthService
    from carnet.cards.models import Card, DeviceCredential
    from carnet.cards.service import encrypt_pin_key
    from carnet.db import Database
    from carnet.directory.importer import HEADER as DIRECTORY_HEADER
    from carnet.directory.importer import import_directory
    from carnet.directory.service import directory_service
    from carnet.identity.importer import import_register

    timings: dict[str, float] = {}
    if register:
        migrate.upgrade(url)
    database = Database(url, pool_size=2)
    try:
        if register:
            if population is None:
                raise ValueError("the population file is needed to import the register")
            started = time.perf_counter()
            report = import_register(database, population, workers=os.cpu_count() or 1)
            if not report.committed:
                raise SystemExit(f"register import refused: {report.errors[:3]}")
            timings["register"] = time.perf_counter() - started

        started = time.perf_counter()
        with database.session() as session:
            holders, attached = pick_families(session, args.cards, args.dependants, args.seed)
            insert_rights(session, attached)
        dependants: dict[int, int] = dict.fromkeys(holders, 0)
        for holder, _rank in attached.values():
            dependants[holder] += 1
        timings["rights"] = time.perf_counter() - started

        directory_line = ",".join(
            [BENCH_RPPS, "8" + BENCH_RPPS, "Morel", "Claire", "10", "", BENCH_SIRET,
             "Cabinet médical du banc d'essai", "Rennes", "1"]
        )  # fmt: skip
        listing = import_directory(
            database, io.StringIO(",".join(DIRECTORY_HEADER) + "\n" + directory_line + "\n")
        )
        if not listing.committed:
            raise SystemExit(f"directory import refused: {listing.errors}")

        started = time.perf_counter()
        keys: list[CardKeys] = []
        with database.session() as session:
            numbers = random.Random(args.seed).sample(range(2**24, 2**31), len(holders))
            now = datetime.now(UTC)
            card_rows, devices = [], []
            for person_id, number in zip(holders, numbers, strict=True):
                private_key = ec.generate_private_key(ec.SECP256R1())
                pin_key = secrets.token_bytes(32)
                key_id = secrets.token_bytes(8)
                card_rows.append(
                    {
                        "number": number, "person_id": person_id, "status": "active",
                        "pin_key_enc": encrypt_pin_key(pin_key, number, secret),
                        "failed_pin_attempts": 0, "created_at": now, "updated_at": now,
                    }
                )  # fmt: skip
                devices.append(
                    {
                        "person_id": person_id, "kind": "wallet", "key_id": key_id,
                        "public_key": private_key.public_key().public_bytes(
                            serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo,
                        ),
                        "sign_count": 0, "status": "active", "created_at": now,
                    }
                )  # fmt: skip
                keys.append(
                    CardKeys(number, key_id, private_key, pin_key, 1 + dependants[person_id])
                )
            session.execute(insert(Card), card_rows)
            card_ids = dict(
                session.execute(select(Card.number, Card.id).where(Card.number.in_(numbers))).all()
            )
            for device, card in zip(devices, keys, strict=True):
                device["card_id"] = card_ids[card.card_number]
            session.execute(insert(DeviceCredential), devices)
        timings["cards"] = time.perf_counter() - started

        with database.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        auth = AuthService(secret, "http://127.0.0.1", 3600, 300)
        with database.session() as session:
            professional_id = directory_service.professional_id_for_binding(session, BENCH_RPPS)
            created = auth.create_client(
                session, name="apcv benchmark", scopes=["apcv"], professional_id=professional_id
            )
        assert created.client_secret is not None
        return timings, created.client_id, created.client_secret, keys
    finally:
        database.dispose()


# -- codes ----------------------------------------------------------------------------------------


def make_codes(cards: list[CardKeys], count: int, seed: int) -> list[tuple[str, int]]:
    """``count`` fresh single-use codes (QR text, expected beneficiaries), cycling over cards.

    Made as the wallet makes them (``Wallet.present``), minus the scrypt of the secret code:
    the PIN key is known here, which saves ~50 ms per code on the load generator's side.
    """
    from carnet.kit import card_qr

    rng = random.Random(seed)
    issued = int(time.time())
    out = []
    for index in range(count):
        card = cards[rng.randrange(len(cards))] if index >= len(cards) else cards[index]
        token = card_qr.CardToken(
            card_number=card.card_number,
            issued_at=issued,
            expires_at=issued + 120,
            nonce=secrets.token_bytes(card_qr.NONCE_BYTES),
        )
        token = replace(token, pin_tag=card_qr.pin_tag(card.pin_key, card.key_id, token))
        out.append((card_qr.encode(token, card.key_id, card.private_key), card.beneficiaries))
    return out


def bodies(codes: list[tuple[str, int]]) -> list[str]:
    professional = {"rpps": BENCH_RPPS}
    return [
        json.dumps({"qr": qr, "professional": professional}, separators=(",", ":"))
        for qr, _ in codes
    ]


def check_codes(base: str, token: str, codes: list[tuple[str, int]]) -> dict[str, int]:
    """Send codes one by one: 201 with the expected beneficiaries, and 409 when replayed."""
    import httpx2

    result = {"checked": 0, "as_expected": 0, "replay_refused": 0}
    with httpx2.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for body, (_, expected) in zip(bodies(codes), codes, strict=True):
            response = client.post(
                base + CONTEXTS_PATH, content=body, headers={"Content-Type": "application/json"}
            )
            result["checked"] += 1
            if response.status_code == 201 and len(response.json()["beneficiaries"]) == expected:
                result["as_expected"] += 1
        replay = client.post(
            base + CONTEXTS_PATH,
            content=bodies(codes[:1])[0],
            headers={"Content-Type": "application/json"},
        )
        result["replay_refused"] = int(replay.status_code == 409)
    return result


# -- load generators ------------------------------------------------------------------------------

LUA = r"""
-- One request body per line (JSON has no raw newline): read by each thread's Lua state.
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local threads = {}
local position = 0
local stride = 1
c201, c409, cother = 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("first", #threads)
end

function init(args)
  position = first - %(threads)d
  stride = %(threads)d
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer %(token)s"
end

-- Each thread takes every n-th code: a code is sent at most once (single use) until they run out.
function request()
  position = position + stride
  local body = bodies[position]
  if body == nil then body = bodies[#bodies] end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 then c201 = c201 + 1
  elseif status == 409 then c409 = c409 + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local n201, n409, nother = 0, 0, 0
  for _, thread in ipairs(threads) do
    n201 = n201 + thread:get("c201")
    n409 = n409 + thread:get("c409")
    nother = nother + thread:get("cother")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "errors": {"connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d}, "codes": {"201": %%d, "409": %%d, "other": %%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    n201, n409, nother))
end
"""


def run_wrk(
    wrk: str, url: str, token: str, payloads: list[str], work: Path, args: argparse.Namespace,
    seconds: int,
) -> dict[str, Any]:  # fmt: skip
    import subprocess

    script = work / "apcv.lua"
    listing = work / "apcv-bodies.txt"
    listing.write_text("\n".join(payloads) + "\n", encoding="utf-8")
    script.write_text(
        LUA % {"bodies": listing, "token": token, "threads": args.threads}, encoding="utf-8"
    )
    command = [
        wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            elapsed = data["duration_us"] / 1e6
            codes = data["codes"]
            return {
                "requests": data["requests"],
                "seconds": elapsed,
                "rps": codes["201"] / elapsed,
                "p50_ms": data["p50_us"] / 1000,
                "p90_ms": data["p90_us"] / 1000,
                "p99_ms": data["p99_us"] / 1000,
                "max_ms": data["max_us"] / 1000,
                # 409s are codes sent twice because the pre-generated ones ran out.
                "errors": sum(data["errors"].values()) + codes["other"],
                "exhausted": codes["409"],
                "created": codes["201"],
            }
    raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")


def run_python(
    url: str, token: str, payloads: list[str], *, connections: int, seconds: int
) -> dict[str, Any]:
    """The fallback load generator: ``connections`` keep-alive clients, each code sent once."""
    import httpx2

    latencies: list[float] = []
    counts = {"created": 0, "exhausted": 0, "errors": 0}
    queue = iter(payloads)

    async def worker(client: httpx2.AsyncClient, stop: float) -> None:
        while time.perf_counter() < stop:
            body = next(queue, None)
            if body is None:
                return
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body)
                status = response.status_code
            except httpx2.HTTPError:
                status = 0
            latencies.append(time.perf_counter() - started)
            key = {201: "created", 409: "exhausted"}.get(status, "errors")
            counts[key] += 1

    async def main() -> float:
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with httpx2.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
            started = time.perf_counter()
            await asyncio.gather(*(worker(client, started + seconds) for _ in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": counts["created"] / elapsed,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        **counts,
    }


# -- one backend ----------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    database: str
    persons: int
    cards: int
    setup_seconds: dict[str, float]
    load_generator: str
    workers: int
    connections: int
    duration: int
    correctness: dict[str, int]
    run: dict[str, Any] = field(default_factory=dict)
    # In-process measure of the use case alone (``--service-calls``): no HTTP, one thread.
    service: dict[str, Any] = field(default_factory=dict)


def service_profile(
    url: str, client_id: str, cards: list[CardKeys], calls: int, seed: int
) -> dict[str, Any]:
    """``apcv_service.create_context`` called ``calls`` times in this process, each in its own
    unit of work: SQL statements per context (counted on the engine, by number of beneficiaries)
    and process CPU per context. Independent of the machine's load, unlike throughput."""
    from collections import Counter

    from sqlalchemy import event

    from carnet.apcv import schemas
    from carnet.apcv.service import apcv_service
    from carnet.auth.principal import Principal
    from carnet.db import Database
    from carnet.directory.service import directory_service

    database = Database(url, pool_size=2)
    try:
        with database.session() as session:
            professional = directory_service.professional_id_for_binding(session, BENCH_RPPS)
        principal = Principal(
            client_id=client_id, scopes=frozenset({"apcv"}), professional_id=professional
        )
        warm = min(50, calls)
        bodies = [
            schemas.ContextCreate.model_validate({"qr": qr, "professional": {"rpps": BENCH_RPPS}})
            for qr, _ in make_codes(cards, calls + warm, seed)
        ]
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        def one(body: Any) -> int:
            with database.session() as session:
                created = apcv_service.create_context(
                    session, principal, body, now=datetime.now(UTC), ttl_seconds=600
                )
            return len(created.beneficiaries)

        for body in bodies[:warm]:
            one(body)
        event.listen(database.engine, "before_cursor_execute", count)
        per_context: Counter[tuple[int, int]] = Counter()
        started = time.process_time()
        for body in bodies[warm:]:
            before = len(statements)
            per_context[(one(body), len(statements) - before)] += 1
        cpu = time.process_time() - started
        event.remove(database.engine, "before_cursor_execute", count)
    finally:
        database.dispose()
    by_beneficiaries: dict[int, Counter[int]] = {}
    for (beneficiaries, count_), times in per_context.items():
        by_beneficiaries.setdefault(beneficiaries, Counter())[count_] += times
    return {
        "calls": calls,
        "cpu_ms_per_context": 1000 * cpu / max(calls, 1),
        # The most frequent count per number of beneficiaries (one reading in 32 also purges the
        # card's expired nonces; the first entry of an audit chain creates its head).
        "statements": {
            b: counts.most_common(1)[0][0] for b, counts in sorted(by_beneficiaries.items())
        },
        "statements_mean": len(statements) / max(calls, 1),
    }


def measure(
    backend: str,
    server: lookup.Server,
    token: str,
    cards: list[CardKeys],
    args: argparse.Namespace,
    work: Path,
    wrk: str | None,
) -> dict[str, Any]:
    """Warm up, then drive ``server`` for ``args.duration`` s with fresh codes: the figures."""
    target = server.base + CONTEXTS_PATH

    def phase(seconds: int, count: int) -> dict[str, Any]:
        payloads = bodies(make_codes(cards, count, random.randrange(2**32)))
        if wrk:
            return run_wrk(wrk, target, token, payloads, work, args, seconds)
        return run_python(target, token, payloads, connections=args.connections, seconds=seconds)

    say(f"{backend}: warming up for {args.warmup} s …")
    warm = phase(args.warmup, args.codes_per_second * args.warmup)
    # Enough codes for the measured period at twice the warm-up rate (each is used once).
    count = max(int(warm["rps"] * 2 * args.duration), args.codes_per_second * args.duration)
    say(f"{backend}: measuring for {args.duration} s with {count:,} fresh codes …")
    cpu_before = lookup.server_cpu_seconds(server)
    load_before = os.getloadavg()[0]
    run = phase(args.duration, count)
    # CPU per request (server processes only, not PostgreSQL's): much less sensitive than
    # throughput to what else runs on the machine.
    run["server_cpu_s"] = lookup.server_cpu_seconds(server) - cpu_before
    run["cpu_ms_per_request"] = 1000 * run["server_cpu_s"] / max(run["requests"], 1)
    run["load_average"] = [load_before, os.getloadavg()[0]]
    return run


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    work: Path,
    population: Path,
    wrk: str | None,
    secret: str,
) -> Result:
    say(f"{backend}: creating the database …")
    url = lookup.prepare_database(backend, args, work)
    server: lookup.Server | None = None
    data_dir = work / f"data-{backend}"
    try:
        say(f"{backend}: register, rights, directory and {args.cards:,} cards …")
        timings, client_id, client_secret, cards = populate(url, population, secret, args)
        say(f"{backend}: ready ({', '.join(f'{k} {v:.1f} s' for k, v in timings.items())})")
        version = lookup.database_version(url)
        os.environ["CARNET_DATA_DIR"] = str(data_dir)  # the server's signing key lives there
        server = lookup.start_server(url, secret, args.workers, work / f"server-apcv-{backend}.log")
        token = lookup.get_token(server.base, client_id, client_secret)
        correctness = check_codes(server.base, token, make_codes(cards, args.check, args.seed))
        say(
            f"{backend}: {correctness['as_expected']}/{correctness['checked']} sample codes "
            "opened a context with the expected beneficiaries; replay refused: "
            f"{bool(correctness['replay_refused'])}"
        )
        result = Result(
            backend, version, args.size, args.cards, timings, "wrk" if wrk else "python/httpx2",
            args.workers, args.connections, args.duration, correctness,
        )  # fmt: skip
        result.run = measure(backend, server, token, cards, args, work, wrk)
        if args.service_calls:
            say(f"{backend}: {args.service_calls} contexts in process (no HTTP) …")
            result.service = service_profile(
                url, client_id, cards, args.service_calls, args.seed + 1
            )
        return result
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            lookup.drop_database(backend, url)


# -- report ---------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| backend | persons | cards | contexts/s | p50 | p99 | server CPU/request | errors "
        "| codes exhausted | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        run = r.run
        load = run.get("load_average", [0.0, 0.0])
        lines.append(
            f"| {r.database} | {r.persons:,} | {r.cards:,} | {run['rps']:,.0f} | "
            f"{run['p50_ms']:.1f} ms | {run['p99_ms']:.1f} ms | "
            f"{run.get('cpu_ms_per_request', 0.0):.2f} ms | {run['errors']:,} | "
            f"{run['exhausted']:,} | {load[0]:.1f} → {load[1]:.1f} |"
        )
    return "\n".join(lines)


def service_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.service:
            counts = ", ".join(
                f"{n} with {b} beneficiar{'y' if b == 1 else 'ies'}"
                for b, n in r.service["statements"].items()
            )
            lines.append(
                f"Use case alone ({r.backend}, in process, {r.service['calls']} contexts): "
                f"{r.service['cpu_ms_per_context']:.2f} ms of CPU per context; SQL statements "
                f"per context: {counts} (mean {r.service['statements_mean']:.2f})."
            )
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="persons in the register")
    parser.add_argument("--cards", type=int, default=20_000, help="activated cards")
    parser.add_argument(
        "--dependants", type=float, default=0.3, help="share of holders with 1-2 dependants"
    )
    parser.add_argument("--seed", type=int, default=2026, help="population seed")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--pg-url", default=lookup.DEFAULT_PG_URL.replace("bench", "bench_apcv"))
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per backend")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per backend")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=min(cores, 4), help="wrk threads")
    parser.add_argument("--workers", type=int, default=cores, help="server worker processes")
    parser.add_argument(
        "--codes-per-second", type=int, default=1500,
        help="codes generated per second of warm-up (and the floor for the measured period)",
    )  # fmt: skip
    parser.add_argument("--check", type=int, default=200, help="codes checked one by one")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(lookup.tempfile.gettempdir()) / "carnet-bench"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument(
        "--service-calls", type=int, default=500,
        help="then call the use case this many times in process (no HTTP) to count SQL "
        "statements and CPU per context (0: skip)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CARNET_DATA_DIR", str(work / "data"))
    machine = lookup.machine_info()
    wrk = None if args.load_generator == "python" else lookup.ensure_wrk()
    if args.load_generator == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed")
    population = lookup.population_file(work, args.size, args.seed)
    # One platform secret for the run: this process verifies codes too (``--service-calls``),
    # and its settings are read once.
    secret = os.urandom(32).hex()
    os.environ["CARNET_SECRET_KEY"] = secret
    results = [bench_backend(b, args, work, population, wrk, secret) for b in args.backends]

    command = " ".join(shlex.quote(a) for a in [sys.executable, "bench/apcv.py", *argv])
    checked = ", ".join(
        f"{r.backend} {r.correctness['as_expected']}/{r.correctness['checked']}" for r in results
    )
    report = "\n".join(
        [
            "# apCV context creation benchmark, "
            + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "",
            table(results),
            "",
            f"Cards: {args.cards:,}, {args.dependants:.0%} of holders with 1–2 dependants; "
            "each code used once.",
            f"Load: {results[0].load_generator if results else '-'}, {args.connections} "
            f"connections, {args.threads} threads, {args.duration} s after {args.warmup} s of "
            f"warm-up; server: granian, {args.workers} worker(s), on the same machine.",
            f"Correctness: {checked} sample codes opened a context with the expected "
            "beneficiaries.",
            *service_lines(results),
            f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']}, "
            f"{machine['os']}, Python {machine['python']}.",
            f"Command: `{command}`",
        ]
    )
    print(report)
    lookup.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (lookup.RESULTS / f"apcv-{stamp}.md").write_text(report + "\n", encoding="utf-8")
    (lookup.RESULTS / f"apcv-{stamp}.json").write_text(
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
    say(f"results saved to {lookup.RESULTS}/apcv-{stamp}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
