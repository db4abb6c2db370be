"""Where a request's CPU goes, without a network or a load generator: the whole ASGI application
against the use case alone, in one process, for the INS lookup, the card context and the
document list.

``.venv/bin/python bench/inprocess.py`` (``--help`` for the options) builds a small database per
backend (the lookup benchmark's population, rights and cards from the apCV benchmark, one open
space holding ``--space-docs`` documents), then, for each scenario:

* **whole app**: the request is handed to Carnet's ASGI application as granian would hand it
  (same scope, body and bearer token; every middleware, FastAPI, Pydantic, the thread hop, the
  unit of work, the audit append, the access log), ``--requests`` times, one at a time;
* **use case alone**: the service function the endpoint calls (``register_service.search``,
  ``apcv_service.create_context``, ``documents_service.search``) in its own unit of work, the
  same number of times.

It prints the process CPU time per request of both, and their difference: what the HTTP layers
cost. CPU time, unlike throughput, hardly depends on what else the machine is doing, so the
figure can be compared between commits on a busy machine. It does not include the HTTP
server's own work (granian's parsing and writing, in Rust), the database server's CPU, or the
contention of concurrent requests: ``bench/lookup.py`` and ``bench/suite.py`` measure those.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import documents_load
import lookup

import apcv

SCENARIOS = ("lookup", "context", "documents")

# One request as the ASGI server hands it over: method, path, query string, body.
Call = tuple[str, str, bytes, bytes]


async def drive_app(app: Any, token: str, calls: list[Call], warm: int) -> float:
    """CPU seconds per request for ``calls[warm:]`` through the ASGI application."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + token.encode()),
    ]

    async def one(call: Call) -> None:
        method, path, query, body = call
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
            "root_path": "", "headers": [*headers, (b"content-length", b"%d" % len(body))],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        received = False
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses[0] not in (200, 201):
            raise SystemExit(f"{path} answered {statuses[0]}: the scenario is broken")

    for call in calls[:warm]:
        await one(call)
    started = time.process_time()
    for call in calls[warm:]:
        await one(call)
    return (time.process_time() - started) / max(len(calls) - warm, 1)


async def token_for(app: Any, client_id: str, client_secret: str) -> str:
    import httpx2

    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
        )
    response.raise_for_status()
    return str(response.json()["access_token"])


def use_case_cpu(
    database: Any, call: Callable[[Any, Any], Any], bodies: list[Any], warm: int
) -> float:
    for body in bodies[:warm]:
        with database.session() as session:
            call(session, body)
    started = time.process_time()
    for body in bodies[warm:]:
        with database.session() as session:
            call(session, body)
    return (time.process_time() - started) / max(len(bodies) - warm, 1)


def open_space_with_documents(app: Any, database: Any, documents: int) -> tuple[int, str]:
    """A living person of the register with an open space holding ``documents`` documents (their
    metadata bulk-inserted as ``bench/suite.py`` does), and a holder token for them."""
    import httpx2
    from sqlalchemy import text

    offline = documents_load.quiet_import_documents()
    with database.engine.connect() as connection:
        persons = [
            int(row[0])
            for row in connection.execute(
                text("SELECT id FROM persons WHERE death_date IS NULL ORDER BY id LIMIT 1000")
            )
        ]
    holder = persons[0]
    token = app.state.auth_service.issue_holder_token(
        person_id=holder, card_id=0, now=datetime.now(UTC)
    )["access_token"]

    async def open_space() -> None:
        transport = httpx2.ASGITransport(app=app)
        client = httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1")
        async with client, app.router.lifespan_context(app):
            response = await client.post(
                f"/api/v1/spaces/{holder}/opening", headers={"Authorization": f"Bearer {token}"}
            )
        if response.status_code != 200:
            raise SystemExit(f"space opening refused: {response.status_code} {response.text}")

    asyncio.run(open_space())
    offline.bulk_documents(database, persons, holder, documents, documents)
    return holder, token


def run_backend(backend: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from carnet.apcv import schemas as apcv_schemas
    from carnet.apcv.service import apcv_service
    from carnet.auth.principal import Principal
    from carnet.config import get_settings
    from carnet.db import Database
    from carnet.directory.service import directory_service
    from carnet.documents.schemas import DocumentQuery
    from carnet.documents.service import documents_service
    from carnet.identity import schemas as identity_schemas
    from carnet.identity.service import register_service
    from carnet.main import create_app

    secret = os.urandom(32).hex()
    population = lookup.population_file(work, args.size, args.seed)
    queries = lookup.query_set(work, population, 2000, args.seed)
    url = lookup.prepare_database(backend, argparse.Namespace(**vars(args)), work)
    try:
        lookup.say(f"{backend}: importing {args.size:,} persons, rights and {args.cards:,} cards …")
        _, lookup_id, lookup_secret = lookup.load_register(url, population, secret)
        card_args = argparse.Namespace(cards=args.cards, dependants=0.3, seed=args.seed)
        _, apcv_id, apcv_secret, cards = apcv.populate(
            url, population, secret, card_args, register=False
        )
        os.environ.update(
            {
                "CARNET_ENV": "production", "CARNET_DATABASE_URL": url,
                "CARNET_SECRET_KEY": secret, "CARNET_ISSUER": "http://127.0.0.1",
                "CARNET_ACCESS_TOKEN_TTL_SECONDS": "3600", "CARNET_JOBS_INTERVAL_SECONDS": "0",
                "CARNET_DATA_DIR": str(work / f"inprocess-data-{backend}"),
                "CARNET_SPACE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            }
        )  # fmt: skip
        get_settings.cache_clear()
        app = create_app()
        database: Database = app.state.database
        warm = min(200, args.requests)
        total = warm + args.requests
        with database.session() as session:
            professional = directory_service.professional_id_for_binding(session, apcv.BENCH_RPPS)
        lookup_principal = Principal(client_id=lookup_id, scopes=frozenset({"ins.read"}))
        apcv_principal = Principal(
            client_id=apcv_id, scopes=frozenset({"apcv"}), professional_id=professional
        )

        holder, holder_token = open_space_with_documents(app, database, args.space_docs)
        holder_principal = app.state.auth_service.verify_access_token(
            holder_token, datetime.now(UTC)
        )
        list_path = f"/api/v1/spaces/{holder}/documents"

        def http_calls(scenario: str, salt: int) -> list[Call]:
            if scenario == "lookup":
                return [("POST", lookup.SEARCH_PATH, b"",
                         json.dumps(queries[(salt + i) % len(queries)]["body"]).encode())
                        for i in range(total)]  # fmt: skip
            if scenario == "documents":
                return [("GET", list_path, b"limit=50", b"")] * total
            return [("POST", apcv.CONTEXTS_PATH, b"", b.encode())
                    for b in apcv.bodies(apcv.make_codes(cards, total, salt))]  # fmt: skip

        def use_case(scenario: str, salt: int) -> tuple[Callable[[Any, Any], Any], list[Any]]:
            if scenario == "lookup":
                return (
                    lambda s, b: register_service.search(s, lookup_principal, b),
                    [identity_schemas.InsSearchRequest.model_validate_json(body)
                     for _, _, _, body in http_calls(scenario, salt)],
                )  # fmt: skip
            if scenario == "documents":
                return (
                    lambda s, q: documents_service.search(
                        s, holder_principal, str(holder), q, now=datetime.now(UTC)
                    ),
                    [DocumentQuery(limit=50)] * total,
                )
            return (
                lambda s, b: apcv_service.create_context(
                    s, apcv_principal, b, now=datetime.now(UTC), ttl_seconds=600
                ),
                [apcv_schemas.ContextCreate.model_validate_json(body)
                 for _, _, _, body in http_calls(scenario, salt)],
            )  # fmt: skip

        async def measure() -> list[dict[str, Any]]:
            rows = []
            async with app.router.lifespan_context(app):
                for scenario in args.scenarios:
                    if scenario == "documents":
                        token = holder_token
                    else:
                        lookup_client = (lookup_id, lookup_secret)
                        client = lookup_client if scenario == "lookup" else (apcv_id, apcv_secret)
                        token = await token_for(app, *client)
                    whole, alone = [], []
                    # Alternating turns, so that a change of the machine's load hits both alike.
                    for turn in range(args.rounds):
                        calls = http_calls(scenario, args.seed + 2 * turn)
                        whole.append(await drive_app(app, token, calls, warm))
                        call, inputs = use_case(scenario, args.seed + 2 * turn + 1)
                        alone.append(use_case_cpu(database, call, inputs, warm))
                    rows.append(
                        {
                            "scenario": scenario,
                            "backend": lookup.database_version(url),
                            "whole_ms": 1000 * statistics.median(whole),
                            "use_case_ms": 1000 * statistics.median(alone),
                            "whole_range": [
                                round(1000 * min(whole), 3),
                                round(1000 * max(whole), 3),
                            ],
                            "use_case_range": [
                                round(1000 * min(alone), 3),
                                round(1000 * max(alone), 3),
                            ],
                        }
                    )
            return rows

        return asyncio.run(measure())
    finally:
        if not args.keep:
            lookup.drop_database(backend, url)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=", ".join(SCENARIOS))
    parser.add_argument("--size", type=int, default=20_000, help="persons in the register")
    parser.add_argument("--cards", type=int, default=1_000, help="activated cards")
    parser.add_argument(
        "--space-docs", type=int, default=200, help="documents in the listed space (50 listed)"
    )
    parser.add_argument("--requests", type=int, default=2_000, help="measured requests per turn")
    parser.add_argument("--rounds", type=int, default=5, help="turns (app, use case) per scenario")
    parser.add_argument("--seed", type=int, default=2026, help="population seed")
    parser.add_argument(
        "--pg-url", default=lookup.DEFAULT_PG_URL.replace("carnet_bench", "carnet_bench_inprocess")
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "carnet-bench"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if set(args.scenarios) - set(SCENARIOS):
        parser.error(f"scenarios are {', '.join(SCENARIOS)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    rows = [row for backend in args.backends for row in run_backend(backend, args, work)]
    lines = [
        "| scenario | backend | whole app, CPU/request (range) | use case alone (range) "
        "| HTTP layers | share |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        layers = row["whole_ms"] - row["use_case_ms"]
        low, high = row["whole_range"]
        case_low, case_high = row["use_case_range"]
        lines.append(
            f"| {row['scenario']} | {row['backend']} | {row['whole_ms']:.3f} ms "
            f"({low:.2f}–{high:.2f}) | {row['use_case_ms']:.3f} ms "
            f"({case_low:.2f}–{case_high:.2f}) | {layers:.3f} ms | {layers / row['whole_ms']:.0%} |"
        )
    print("\n".join(lines))
    print(
        f"\nMedians of {args.rounds} alternating turns of {args.requests:,} requests (app, then "
        "use case), one at a time, in process; "
        f"{args.size:,} persons, {args.cards:,} cards; load average {os.getloadavg()[0]:.1f}."
    )
    print("Command: " + " ".join([sys.executable, "bench/inprocess.py", *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
