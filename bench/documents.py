"""Benchmark of health-space documents on SQLite and PostgreSQL.

``.venv/bin/python bench/documents.py --help``. For each backend:

1. a fresh database, migrated; ``--spaces`` register persons written in bulk; one holder whose
   space is opened through the API (``POST /api/v1/spaces/{id}/opening``);
2. **upload**: ``--uploads`` PDFs of ``--doc-kb`` KiB each sent as the holder through the real API
   in process (``POST /api/v1/spaces/me/documents``, multipart): content check (pypdf), SHA-256,
   AES-256-GCM under the space key, blob written with fsync + rename, metadata row, audit row;
3. **download**: each document read back (``GET …/content``): blob read, decryption, checksum;
4. **listing among --size documents**: metadata rows bulk-inserted directly (as migrated data
   would be) until the table holds ``--size`` documents spread over the spaces, the holder's space
   holding ``--space-docs`` of them; then ``GET /api/v1/spaces/me/documents`` (first page, a type
   filter, a text search, a deep page) timed ``--lists`` times each: p50/p99.

Measures go through the application (FastAPI TestClient, no network): they include the request
handling, the authorization chokepoint and the audit write of each call.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

os.environ.setdefault("CARNET_ENV", "test")
os.environ.setdefault("CARNET_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
os.environ.setdefault("CARNET_LOG_LEVEL", "WARNING")
os.environ.setdefault("CARNET_LOG_JSON", "false")

TYPES = ["11502-2", "18748-4", "11490-0", "57833-6", "60593-1", "DOCPAT05", "89601-9"]
CLASSES = {
    "11502-2": "10",
    "18748-4": "31",
    "11490-0": "10",
    "57833-6": "42",
    "60593-1": "43",
    "DOCPAT05": "90",
    "89601-9": "52",
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_pdf(kib: int, seed: int) -> bytes:
    """A valid one-page PDF of about ``kib`` KiB (random padding in its metadata)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    pad = max(0, kib * 1024 - 600)
    writer.add_metadata({"/Subject": f"bench {seed}", "/Padding": os.urandom(pad // 2).hex()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def fresh_database(backend: str, pg_url: str, workdir: Path) -> str:
    if backend == "sqlite":
        path = workdir / "documents-bench.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = make_url(pg_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    return url.render_as_string(hide_password=False)


def nir(i: int) -> str:
    first13 = (
        f"{1 + i % 2}{80 + i % 20:02d}{1 + i % 12:02d}75{(i // 1000) % 1000:03d}{i % 1000:03d}"
    )
    return first13 + f"{97 - int(first13) % 97:02d}"


def add_persons(database: Any, count: int) -> list[int]:
    from carnet.identity.models import Person

    with database.session() as s:
        s.execute(
            insert(Person),
            [
                {
                    "matricule": nir(i),
                    "kind": "NIR",
                    "birth_name": f"BENCH{i}",
                    "first_names": "ALEX",
                    "sex": "M" if i % 2 == 0 else "F",
                    "birth_date": f"19{80 + i % 20}-{1 + i % 12:02d}-15",
                    "birth_place": "75056",
                }
                for i in range(count)
            ],
        )
        return [int(r[0]) for r in s.execute(text("SELECT id FROM persons ORDER BY id"))]


def bulk_documents(
    database: Any, person_ids: list[int], holder: int, total: int, space_docs: int
) -> float:
    """Insert metadata rows until the table holds ``total``; the holder's space gets
    ``space_docs`` of them. Returns the seconds taken."""
    from carnet.documents.models import Document
    from carnet.kit.bulk_staging import stage_rows

    with database.engine.connect() as c:
        existing = int(c.execute(text("SELECT count(*) FROM documents")).scalar_one())
        mine = int(
            c.execute(
                text("SELECT count(*) FROM documents WHERE person_id = :p"), {"p": holder}
            ).scalar_one()
        )
    others = [p for p in person_ids if p != holder]
    rng = random.Random(7)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    todo = total - existing
    holder_left = max(0, space_docs - mine)
    began = time.perf_counter()
    batch: list[dict[str, Any]] = []
    table = Document.__table__
    session = database.session_factory()
    if database.dialect == "postgresql":  # one transaction of many COPYs, longer than a request's
        session.execute(text("SET LOCAL statement_timeout = 0"))

    def flush() -> None:
        columns = list(batch[0])
        stage_rows(session, table, columns, [tuple(row[c] for c in columns) for row in batch])
        batch.clear()

    for n in range(todo):
        person = holder if n < holder_left else others[rng.randrange(len(others))]
        type_code = TYPES[rng.randrange(len(TYPES))]
        public_id = secrets.token_hex(16)
        batch.append(
            {
                "public_id": public_id,
                "person_id": person,
                "set_id": public_id,
                "version": 1,
                "status": "current",
                "class_code": CLASSES[type_code],
                "type_code": type_code,
                "title": f"Document {n} {type_code}",
                "act_date": (start + timedelta(days=n % 2000)).date(),
                "author_professional_id": 1000 + n % 5000,
                "author_person_id": None,
                "author_label": f"Dr Bench {n % 5000}",
                "content_type": "application/pdf",
                "filename": None,
                "size": 100_000,
                "sha256": "0" * 64,
                "blob_key": f"{person}/{public_id}",
                "visibility": 0,
                "patient_visible_from": None,
                "announcement_notified_at": None,
                "created_at": start + timedelta(seconds=n * 60),
                "deleted_at": None,
            }
        )
        if len(batch) >= 20_000:
            flush()
            if (n + 1) % 200_000 == 0:
                say(f"    {existing + n + 1:,} documents")
    try:
        if batch:
            flush()
        session.commit()
    finally:
        session.close()
    with database.engine.begin() as c:
        if database.dialect == "postgresql":
            c.execute(text("ANALYZE documents"))
        else:
            c.execute(text("ANALYZE"))
    return time.perf_counter() - began


def service_throughput(
    database: Any, settings: Any, holder: int, docs: list[bytes], count: int
) -> tuple[float, float]:
    """Seconds to upload then read ``count`` documents through ``documents_service`` directly
    (one transaction each, as a request), without the HTTP layer."""
    from carnet.auth.principal import Principal
    from carnet.documents import schemas
    from carnet.documents.service import documents_service

    principal = Principal(client_id="card:0", scopes=frozenset({"holder"}), person_id=holder)
    meta = schemas.DocumentMetadata(class_code="10", type_code="11502-2", title="Bench")
    ids = []
    began = time.perf_counter()
    for i in range(count):
        with database.session() as s:
            out = documents_service.create(
                s,
                settings,
                principal,
                "me",
                meta,
                docs[i % len(docs)],
                "application/pdf",
                "bench.pdf",
                now=datetime.now(UTC),
            )
        ids.append(out.id)
    uploaded = time.perf_counter() - began
    began = time.perf_counter()
    for doc_id in ids:
        with database.session() as s:
            documents_service.content(s, settings, principal, "me", doc_id, now=datetime.now(UTC))
    return uploaded, time.perf_counter() - began


def run(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from carnet import migrate
    from carnet.config import Settings
    from carnet.db import Database
    from carnet.main import create_app

    url = fresh_database(backend, args.pg_url, workdir)
    say(f"[{backend}] migrating {make_url(url).render_as_string(hide_password=True)}")
    migrate.upgrade(url)
    blob_dir = workdir / f"blobs-{backend}"
    shutil.rmtree(blob_dir, ignore_errors=True)
    settings = Settings(
        database_url=url,
        blob_dir=blob_dir,
        data_dir=workdir,
        document_max_bytes=max(args.doc_kb * 1024 * 2, 1024 * 1024),
    )
    database = Database(url, pool_size=5)
    persons = add_persons(database, args.spaces)
    holder = persons[0]
    app = create_app(settings, database)
    results: dict[str, Any] = {"backend": backend}
    with TestClient(app) as client:
        token = app.state.auth_service.issue_holder_token(
            person_id=holder, card_id=0, now=datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        opened = client.post(f"/api/v1/spaces/{holder}/opening", headers=headers)
        assert opened.status_code == 200, opened.text
        docs = [make_pdf(args.doc_kb, i) for i in range(min(args.uploads, 20))]
        say(f"[{backend}] uploading {args.uploads} × {args.doc_kb} KiB")
        ids = []
        began = time.perf_counter()
        for i in range(args.uploads):
            data = docs[i % len(docs)]
            response = client.post(
                "/api/v1/spaces/me/documents",
                files={"file": (f"doc{i}.pdf", data, "application/pdf")},
                data={"class_code": "10", "type_code": "11502-2", "title": f"Bench {i}"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        elapsed = time.perf_counter() - began
        volume = args.uploads * len(docs[0]) / 1e6
        results["upload_docs_s"] = args.uploads / elapsed
        results["upload_mb_s"] = volume / elapsed
        say(f"[{backend}] downloading")
        began = time.perf_counter()
        for doc_id in ids:
            response = client.get(f"/api/v1/spaces/me/documents/{doc_id}/content", headers=headers)
            assert response.status_code == 200
        elapsed = time.perf_counter() - began
        results["download_docs_s"] = len(ids) / elapsed
        results["download_mb_s"] = volume / elapsed
        say(f"[{backend}] the same through the service (no HTTP layer)")
        service_upload, service_download = service_throughput(
            database, settings, holder, docs, args.uploads
        )
        results["service_upload_docs_s"] = args.uploads / service_upload
        results["service_upload_mb_s"] = volume / service_upload
        results["service_download_docs_s"] = args.uploads / service_download
        results["service_download_mb_s"] = volume / service_download
        say(f"[{backend}] bulk-inserting metadata up to {args.size:,} documents")
        results["bulk_insert_s"] = bulk_documents(
            database, persons, holder, args.size, args.space_docs
        )
        token = app.state.auth_service.issue_holder_token(  # the first one expired meanwhile
            person_id=holder, card_id=0, now=datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with database.engine.connect() as c:
            results["documents"] = int(
                c.execute(text("SELECT count(*) FROM documents")).scalar_one()
            )
        variants = {
            "first page": {"limit": 50},
            "type filter": {"type": "18748-4", "limit": 50},
            "text in title": {"text": "DOCPAT05", "limit": 50},
            "page 10": {"limit": 50, "offset": 450},
        }
        for name, params in variants.items():
            client.get("/api/v1/spaces/me/documents", params=params, headers=headers)
            times = []
            for _ in range(args.lists):
                t0 = time.perf_counter()
                response = client.get("/api/v1/spaces/me/documents", params=params, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text
            results[f"list {name}"] = (
                pct(times, 0.5),
                pct(times, 0.99),
                len(response.json()["items"]),
            )
    database.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--size", type=int, default=1_000_000, help="documents in the table")
    parser.add_argument("--spaces", type=int, default=20_000, help="spaces (persons) sharing them")
    parser.add_argument(
        "--space-docs", type=int, default=2_000, help="documents in the listed space"
    )
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--doc-kb", type=int, default=256)
    parser.add_argument("--lists", type=int, default=300)
    parser.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/carnet_bench_documents"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="carnet-docbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = [run(b, args, workdir) for b in backends]
    print(
        f"\nDocuments benchmark: {args.uploads} uploads of {args.doc_kb} KiB PDFs, listing one "
        f"space of {args.space_docs:,} among {args.size:,} documents ({args.spaces:,} spaces)"
    )
    for r in rows:
        print(f"\n[{r['backend']}] {r['documents']:,} documents")
        print(
            f"  upload   {r['upload_docs_s']:8.1f} docs/s  {r['upload_mb_s']:7.1f} MB/s"
            "  (check + SHA-256 + AES-GCM + fsync'd blob + row + audit)"
        )
        print(
            f"  download {r['download_docs_s']:8.1f} docs/s  {r['download_mb_s']:7.1f} MB/s"
            "  (blob + AES-GCM + SHA-256 check + audit)"
        )
        print(
            f"  service upload   {r['service_upload_docs_s']:8.1f} docs/s  "
            f"{r['service_upload_mb_s']:7.1f} MB/s  (same work, no HTTP layer)"
        )
        print(
            f"  service download {r['service_download_docs_s']:8.1f} docs/s  "
            f"{r['service_download_mb_s']:7.1f} MB/s"
        )
        print(f"  bulk metadata insert {r['bulk_insert_s']:.1f} s")
        for key, value in r.items():
            if key.startswith("list "):
                p50, p99, n = value
                print(f"  {key:22s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({n} items)")


if __name__ == "__main__":
    main()
