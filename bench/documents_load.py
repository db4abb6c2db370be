"""Document list and read under load, against the real server (used by ``bench/suite.py``).

``bench/documents.py`` measures in process (TestClient); this is its load phase over loopback:

1. ``holders`` persons of the register get a holder token (issued with the server's secret and
   issuer, as a card sign-in would), open their space through the API and upload ``uploads`` PDFs
   of ``doc_kb`` KiB each (``POST /api/v1/spaces/me/documents``: encrypted blob, row, audit);
2. metadata rows are bulk-inserted (``documents.bulk_documents``) until the table holds
   ``documents`` rows, the first holder's space holding ``space_docs`` of them;
3. wrk drives ``GET /api/v1/spaces/{id}/documents?limit=50`` (each holder's first page, in turn)
   and ``GET /api/v1/spaces/{id}/documents/{doc}/content`` (every uploaded document, in turn:
   blob read, AES-GCM decryption, checksum, audit row), each request with its holder's token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lookup

LUA = r"""
local items = {}
for line in io.lines("%(items)s") do
  local path, token = line:match("^(%%S+) (%%S+)$")
  items[#items + 1] = {path, {["Authorization"] = "Bearer " .. token}}
end
local threads = {}
local position = 0
ok, bad = 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads * 7919)
end

function init(args)
  position = offset
end

function request()
  position = position + 1
  local item = items[(position %% #items) + 1]
  return wrk.format("GET", item[1], item[2])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local nok, nbad = 0, 0
  for _, thread in ipairs(threads) do
    nok = nok + thread:get("ok")
    nbad = nbad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "socket_errors": %%d, "ok": %%d, "other": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, nok, nbad))
end
"""


def quiet_import_documents() -> Any:
    """``bench/documents.py`` (PDFs, the bulk metadata insert) sets test defaults in the
    environment when imported; servers or applications created afterwards must not inherit them."""
    before = dict(os.environ)
    import documents

    for key in set(os.environ) - set(before):
        del os.environ[key]
    os.environ.update(before)
    return documents


def prepare(
    url: str,
    base: str,
    secret: str,
    *,
    holders: int,
    uploads: int,
    doc_kb: int,
    documents: int,
    space_docs: int,
) -> dict[str, Any]:
    """Open spaces, upload through the server, fill the table: the requests to cycle over."""
    import httpx2
    from sqlalchemy import text

    import documents as offline  # bench/documents.py: PDFs and the bulk metadata insert
    from carnet.auth.service import AuthService
    from carnet.db import Database

    database = Database(url, pool_size=2)
    try:
        with database.engine.connect() as connection:
            persons = [
                int(row[0])
                for row in connection.execute(
                    text("SELECT id FROM persons WHERE death_date IS NULL ORDER BY id LIMIT :n"),
                    {"n": max(holders * 20, 1000)},
                )
            ]
        chosen = persons[:: max(1, len(persons) // holders)][:holders]
        auth = AuthService(secret, base, 3600, 300)
        tokens = {
            person: auth.issue_holder_token(person_id=person, card_id=0, now=datetime.now(UTC))[
                "access_token"
            ]
            for person in chosen
        }
        pdfs = [offline.make_pdf(doc_kb, i) for i in range(min(uploads, 8) or 1)]
        reads: list[tuple[str, str]] = []
        with httpx2.Client(base_url=base, timeout=60) as client:
            for person, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"}
                opened = client.post(f"/api/v1/spaces/{person}/opening", headers=headers)
                if opened.status_code != 200:
                    raise SystemExit(f"space opening refused: {opened.status_code} {opened.text}")
                for index in range(uploads):
                    response = client.post(
                        "/api/v1/spaces/me/documents",
                        files={
                            "file": (f"doc{index}.pdf", pdfs[index % len(pdfs)], "application/pdf")
                        },
                        data={
                            "class_code": "10",
                            "type_code": "11502-2",
                            "title": f"Bench {index}",
                        },
                        headers=headers,
                    )
                    if response.status_code != 201:
                        raise SystemExit(f"upload refused: {response.status_code} {response.text}")
                    doc = response.json()["id"]
                    reads.append((f"/api/v1/spaces/{person}/documents/{doc}/content", token))
        bulk_seconds = offline.bulk_documents(database, persons, chosen[0], documents, space_docs)
        with database.engine.connect() as connection:
            total = int(connection.execute(text("SELECT count(*) FROM documents")).scalar_one())
    finally:
        database.dispose()
    lists = [(f"/api/v1/spaces/{p}/documents?limit=50", t) for p, t in tokens.items()]
    return {
        "holders": len(tokens),
        "uploaded": len(reads),
        "pdf_bytes": len(pdfs[0]),
        "documents": total,
        "bulk_seconds": bulk_seconds,
        "lists": lists,
        "reads": reads,
    }


def load(
    label: str,
    server: lookup.Server,
    requests: list[tuple[str, str]],
    args: Any,
    work: Path,
    wrk: str,
    seconds: int,
) -> dict[str, Any]:
    """wrk over ``requests`` ((path, token) pairs, cycled) for ``seconds``."""
    lookup.say(f"{label}: {seconds} s with wrk …")
    slug = label.replace(" ", "-")
    items = work / f"{slug}-requests.txt"
    items.write_text("".join(f"{path} {token}\n" for path, token in requests), encoding="utf-8")
    script = work / f"{slug}.lua"
    script.write_text(LUA % {"items": items}, encoding="utf-8")
    cpu_before = lookup.server_cpu_seconds(server)
    command = [
        wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
        "--latency", "-s", str(script), server.base,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            elapsed = data["duration_us"] / 1e6
            run: dict[str, Any] = {
                "requests": data["requests"],
                "seconds": elapsed,
                "rps": data["requests"] / elapsed,
                "p50_ms": data["p50_us"] / 1000,
                "p90_ms": data["p90_us"] / 1000,
                "p99_ms": data["p99_us"] / 1000,
                "max_ms": data["max_us"] / 1000,
                "errors": data["socket_errors"] + data["other"],
            }
            run["server_cpu_s"] = lookup.server_cpu_seconds(server) - cpu_before
            run["cpu_ms_per_request"] = 1000 * run["server_cpu_s"] / max(run["requests"], 1)
            return run
    raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
