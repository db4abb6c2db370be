"""A bare ASGI twin of ``POST /api/v1/ins/search``: the yardstick for the framework's overhead.

No FastAPI, Starlette, Pydantic or SQLAlchemy: a plain ASGI callable, the database driver itself
(``psycopg`` 3 for PostgreSQL, the standard ``sqlite3`` for SQLite) behind a small pool, and the
same work per request as Carnet's search:

1. the bearer token is checked as ``carnet.auth.service.AuthService.verify_access_token`` does
   (HS256 signature with the key derived from the platform secret; ``iss``, ``aud``, ``exp`` with
   5 s of leeway, ``sub``; the ``ins.read`` scope), with ``hmac`` and ``json`` only;
2. the traits are normalised minimally (trim, uppercase, first names split): the benchmark's
   queries are already in the INSi form, Carnet's full normalisation is not replicated;
3. in one transaction and one thread hop, as Carnet's ``UnitOfWork``: the same lookup SELECT on
   ``(birth_name, birth_date, sex)`` with the same first-name rule, the history SELECT when one
   identity matches, then the same audit append (claim a chain head, insert the hash-chained
   entry, move the head), and COMMIT. The SQL texts are those SQLAlchemy renders for Carnet
   (logged with ``echo``), so both servers send the database the same statements;
4. the same JSON answer for 00, 01 and 02.

The audit entries are HMAC-SHA256 chained exactly as ``carnet.audit.service`` does, so
``carnet audit verify`` accepts a trail that both servers wrote to (``bench/lookup.py`` checks it).
What the bare server does not do, and Carnet does: the access log line, Prometheus metrics, the
OpenAPI-validated request and response models, the INSEE place succession rule (the benchmark
sends no birth place), and, on PostgreSQL, the ``SELECT 1`` that SQLAlchemy's ``pool_pre_ping``
sends at each connection checkout (``BARE_PRE_PING=1`` adds it, to measure what it costs).

Run by ``bench/lookup.py --compare-bare`` under granian with Carnet's settings, or by hand::

    BARE_DATABASE_URL=postgresql://... BARE_SECRET_KEY=... BARE_ISSUER=http://127.0.0.1:8000 \\
        .venv/bin/python bench/bare_lookup.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import queue
import secrets
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SEARCH_PATH = "/api/v1/ins/search"
# Copies of Carnet's constants (carnet.identity.service.SEARCH_LABELS, carnet.identity.oids);
# bench/lookup.py checks that they still agree.
SEARCH_LABELS = {
    "00": "OK: exactly one identity found",
    "01": "No identity found",
    "02": "Several identities found: add the other birth first names, then the birth place",
}
OID_BY_KIND = {"NIR": "1.2.250.1.213.1.4.8", "NIA": "1.2.250.1.213.1.4.9"}
# Key derivations of carnet.auth.service.AuthService and carnet.audit.service.AuditService.
TOKEN_KEY_PREFIX = b"access-token:"
AUDIT_KEY_PREFIX = b"audit-chain:"
GENESIS = bytes(32)
LEEWAY = 5
# Carnet runs endpoints on anyio's default limiter (40 threads) with 20 + 20 pooled connections.
THREADS = 40
SEXES = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}
FIELDS = {"birth_name", "first_name", "sex", "birth_date", "birth_place"}


class Refused(Exception):
    """An answer other than 200: status, stable code, message (Carnet's error body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- token ---------------------------------------------------------------------------------------


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_token(authorization: str, key: bytes, issuer: str, now: float) -> str:
    """The audit actor of a valid ``ins.read`` bearer token; ``Refused`` (401/403) otherwise."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "missing_token", "missing bearer token: get one at POST /oauth2/token")
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64decode(header_b64))
        expected = hmac.new(
            key, f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256
        ).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(
            expected, _b64decode(signature_b64)
        ):
            raise ValueError("bad signature")
        claims = json.loads(_b64decode(payload_b64))
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if (
            claims.get("iss") != issuer
            or issuer not in audiences
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] + LEEWAY < now
            or (isinstance(claims.get("nbf"), int) and claims["nbf"] - LEEWAY > now)
            or not claims.get("sub")
        ):
            raise ValueError("invalid claims")
    except (ValueError, TypeError, UnicodeError, AttributeError) as exc:
        raise Refused(401, "invalid_token", f"invalid access token: {exc}") from exc
    if "ins.read" not in str(claims.get("scope", "")).split():
        raise Refused(403, "insufficient_scope", "this token lacks the scope(s) ins.read")
    person_id = claims.get("person_id")
    return f"holder:{person_id}" if person_id is not None else f"client:{claims['sub']}"


# -- request body --------------------------------------------------------------------------------


def parse_search(raw: bytes) -> tuple[str, list[str], str, str, str | None]:
    """(birth name, first names, sex, birth date, birth place), minimally normalised."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Refused(400, "malformed_json", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not FIELDS.issuperset(body):
        raise Refused(422, "validation_failed", "body: unexpected fields")
    name, first, sex, born = (
        body.get(k) for k in ("birth_name", "first_name", "sex", "birth_date")
    )
    place = body.get("birth_place")
    if not (isinstance(name, str) and isinstance(sex, str) and isinstance(born, str)):
        raise Refused(422, "validation_failed", "birth_name, sex, birth_date: strings required")
    if isinstance(first, str):
        first_names = first.upper().split()
    elif isinstance(first, list) and all(isinstance(f, str) for f in first):
        first_names = [f.strip().upper() for f in first]
    else:
        raise Refused(422, "validation_failed", "first_name: a string or a list of strings")
    normalised_sex = SEXES.get(sex.strip().upper())
    if not name.strip() or not first_names or normalised_sex is None or not born.strip():
        raise Refused(422, "invalid_traits", "empty trait or invalid sex")
    if place is not None and not isinstance(place, str):
        raise Refused(422, "validation_failed", "birth_place: a string")
    return (
        name.strip().upper(),
        first_names,
        normalised_sex,
        born.strip(),
        (place or "").strip().upper() or None,
    )


def first_names_match(asked: list[str], registered: list[str]) -> bool:
    # Carnet's rule: one first name is any of the birth first names; several, the ordered list.
    if len(asked) == 1:
        return asked[0] in registered or asked == registered
    return asked == registered


# -- audit chain ---------------------------------------------------------------------------------


def chain_hash(key: bytes, previous: bytes, fields: list[Any]) -> bytes:
    """HMAC-SHA256(key, previous ‖ canonical JSON of the fields): carnet.audit.service._digest."""
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, previous + canonical, hashlib.sha256).digest()


def timestamp_json(value: datetime | str | None) -> str | None:
    """A timestamp as Pydantic writes it for Carnet (``Z`` for UTC)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff", in UTC
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# -- database ------------------------------------------------------------------------------------


class Pool:
    """A minimal connection pool: idle connections in a LIFO queue, opened on demand."""

    def __init__(
        self, connect: Callable[[], Any], size: int, ping: Callable[[Any], None] | None = None
    ) -> None:
        self._connect = connect
        self._ping = ping
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self._slots:
            try:
                connection = self._idle.get_nowait()
                if self._ping is not None:
                    self._ping(connection)
            except queue.Empty:
                connection = self._connect()
            try:
                yield connection
            except BaseException:
                try:
                    connection.rollback()
                except Exception:
                    connection.close()  # broken: do not give it back
                    raise
                self._idle.put(connection)
                raise
            self._idle.put(connection)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class Cursor(Protocol):
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, query: Any, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


# The statements, as SQLAlchemy renders them for Carnet (persons: 14 columns, all selected).
_PERSON_COLUMNS = (
    "persons.id, persons.matricule, persons.kind, persons.birth_name, persons.first_names, "
    "persons.sex, persons.birth_date, persons.birth_place, persons.used_name, "
    "persons.used_first_name, persons.death_date, persons.version, persons.created_at, "
    "persons.updated_at"
)
_HISTORY_COLUMNS = (
    "ins_history.id, ins_history.person_id, ins_history.matricule, ins_history.kind, "
    "ins_history.ended_at"
)
_EVENT_COLUMNS = (
    "chain, seq, recorded_at, actor, action, outcome, person_id, resource, purpose, "
    "client_address, request_id, detail, hash"
)


class Backend:
    """One database: the lookup, the history and the audit append, in the caller's transaction."""

    dialect: str
    find: str
    history: str

    def __init__(
        self, url: str, audit_key: bytes, chains: int, pool_size: int, *, pre_ping: bool = False
    ) -> None:
        self.audit_key = audit_key
        self.chains = chains
        self.pool = Pool(lambda: self.connect(url), pool_size, self.pre_ping if pre_ping else None)

    def pre_ping(self, connection: Any) -> None:
        """What SQLAlchemy's ``pool_pre_ping`` sends on each checkout (off unless asked)."""
        connection.execute("SELECT 1").fetchone()

    def connect(self, url: str) -> Any:
        raise NotImplementedError

    def find_params(self, name: str, born: str, sex: str) -> Any:
        raise NotImplementedError

    def history_params(self, person_id: int) -> Any:
        raise NotImplementedError

    def append_audit(self, cursor: Cursor, fields: list[Any], recorded_at: datetime) -> None:
        raise NotImplementedError

    def ping(self) -> None:
        with self.pool.connection() as connection:
            connection.execute("SELECT 1").fetchone()
            connection.rollback()

    def search(
        self,
        name: str,
        first_names: list[str],
        sex: str,
        born: str,
        place: str | None,
        *,
        actor: str,
        client_address: str | None,
        request_id: str,
    ) -> dict[str, Any]:
        with self.pool.connection() as connection:
            cursor: Cursor = connection.cursor()
            cursor.execute(self.find, self.find_params(name, born, sex))
            candidates = [
                row
                for row in cursor.fetchall()
                if first_names_match(first_names, row[4].split())
                and (place is None or place == row[7])
            ]
            if len(candidates) == 1:
                row = candidates[0]
                cursor.execute(self.history, self.history_params(row[0]))
                history = cursor.fetchall()
                code, person_id, detail = "00", row[0], None
            else:
                code = "01" if not candidates else "02"
                person_id, detail = None, f"candidates={len(candidates)}"
            # Audited last, as Carnet: the chain head stays locked until the commit.
            recorded_at = datetime.now(UTC)
            fields = [
                actor[:80], "ins.search", code, person_id,
                f"Person/{person_id}" if person_id is not None else None,
                "TREAT", client_address, request_id, detail,
            ]  # fmt: skip
            self.append_audit(cursor, fields, recorded_at)
            connection.commit()
        if code != "00":
            return {"code": code, "label": SEARCH_LABELS[code], "identity": None}
        first = row[4].split()
        return {
            "code": "00",
            "label": SEARCH_LABELS["00"],
            "identity": {
                "ins": {"matricule": row[1], "kind": row[2], "oid": OID_BY_KIND[row[2]]},
                "traits": {
                    "birth_name": row[3],
                    "first_names": first,
                    "first_names_text": row[4],
                    "sex": row[5],
                    "birth_date": row[6],
                    "birth_place": row[7],
                },
                "used_name": row[8],
                "used_first_name": row[9],
                "death_date": row[10],
                "history": [
                    {
                        "matricule": h[2],
                        "kind": h[3],
                        "oid": OID_BY_KIND[h[3]],
                        "ended_at": timestamp_json(h[4]),
                    }
                    for h in history
                ],
            },
        }

    def digest(
        self, previous: bytes, chain: int, seq: int, recorded_at: datetime, fields: list[Any]
    ) -> bytes:
        # carnet.audit.service._canonical: chain, seq, timestamp, then the entry's fields.
        stamp = recorded_at.isoformat(timespec="microseconds")
        return chain_hash(self.audit_key, previous, [chain, seq, stamp, *fields])


class SqliteBackend(Backend):
    dialect = "sqlite"
    find = (
        f"SELECT {_PERSON_COLUMNS} \nFROM persons \nWHERE persons.birth_name = ? "
        "AND persons.birth_date = ? AND persons.sex = ?"
    )
    history = (
        f"SELECT {_HISTORY_COLUMNS} \nFROM ins_history \n"
        "WHERE ins_history.person_id = ? ORDER BY ins_history.id"
    )
    advance = (
        "UPDATE audit_chain_heads SET seq=(audit_chain_heads.seq + ?) "
        "WHERE audit_chain_heads.chain = ? RETURNING seq, hash"
    )
    create_head = (
        "INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (?, ?, ?) "
        "ON CONFLICT (chain) DO NOTHING RETURNING chain"
    )
    insert_event = (
        f"INSERT INTO audit_events ({_EVENT_COLUMNS}) "  # noqa: S608 - constant text
        f"VALUES ({', '.join('?' * 13)})"
    )
    set_head = "UPDATE audit_chain_heads SET hash=? WHERE audit_chain_heads.chain = ?"

    def connect(self, url: str) -> sqlite3.Connection:
        # carnet.db: same driver options and pragmas; the default isolation level, as SQLAlchemy.
        connection = sqlite3.connect(
            url.removeprefix("sqlite:///"), timeout=10, check_same_thread=False
        )
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    def find_params(self, name: str, born: str, sex: str) -> Any:
        return (name, born, sex)

    def history_params(self, person_id: int) -> Any:
        return (person_id,)

    def append_audit(self, cursor: Cursor, fields: list[Any], recorded_at: datetime) -> None:
        # SQLite has one writer anyway: a random chain, waiting for its lock.
        chain = secrets.randbelow(self.chains)
        while True:
            head = cursor.execute(self.advance, (1, chain)).fetchone()
            if head is not None:
                seq, previous = int(head[0]), bytes(head[1])
                break
            if cursor.execute(self.create_head, (chain, 1, GENESIS)).fetchone() is not None:
                seq, previous = 1, GENESIS
                break
        digest = self.digest(previous, chain, seq, recorded_at, fields)
        # SQLAlchemy's SQLite DATETIME storage format (naive, UTC).
        stamp = recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")
        cursor.execute(self.insert_event, (chain, seq, stamp, *fields, digest))
        cursor.execute(self.set_head, (digest, chain))


class PostgresBackend(Backend):
    dialect = "postgresql"
    find = (
        f"SELECT {_PERSON_COLUMNS} \nFROM persons \nWHERE persons.birth_name = %(p_name)s::VARCHAR "
        "AND persons.birth_date = %(p_date)s::VARCHAR AND persons.sex = %(p_sex)s::VARCHAR"
    )
    history = (
        f"SELECT {_HISTORY_COLUMNS} \nFROM ins_history \n"
        "WHERE ins_history.person_id = %(person_id_1)s::BIGINT ORDER BY ins_history.id"
    )
    # A chain no other transaction holds (SKIP LOCKED): carnet.audit.repository._CLAIM_FREE_HEAD.
    claim = (
        "UPDATE audit_chain_heads SET seq=(audit_chain_heads.seq + %(seq_1)s::BIGINT) "
        "WHERE audit_chain_heads.chain = (SELECT audit_chain_heads.chain \nFROM audit_chain_heads "
        "ORDER BY random() \n LIMIT %(param_1)s::INTEGER FOR UPDATE SKIP LOCKED) "
        "RETURNING audit_chain_heads.chain, audit_chain_heads.seq, audit_chain_heads.hash"
    )
    count_heads = "SELECT count(*) AS count_1 \nFROM audit_chain_heads"
    create_heads = (
        "INSERT INTO audit_chain_heads (chain, seq, hash) "
        "VALUES (%(chain)s::SMALLINT, %(seq)s::BIGINT, %(hash)s) ON CONFLICT (chain) DO NOTHING"
    )
    advance = (
        "UPDATE audit_chain_heads SET seq=(audit_chain_heads.seq + %(seq_1)s::BIGINT) "
        "WHERE audit_chain_heads.chain = %(p_chain)s::SMALLINT "
        "RETURNING audit_chain_heads.seq, audit_chain_heads.hash"
    )
    create_head = (
        "INSERT INTO audit_chain_heads (chain, seq, hash) "
        "VALUES (%(chain)s::SMALLINT, %(seq)s::BIGINT, %(hash)s) "
        "ON CONFLICT (chain) DO NOTHING RETURNING audit_chain_heads.chain"
    )
    insert_event = (
        f"INSERT INTO audit_events ({_EVENT_COLUMNS}) VALUES (%(chain)s::SMALLINT, "  # noqa: S608
        "%(seq)s::BIGINT, %(recorded_at)s::TIMESTAMP WITH TIME ZONE, %(actor)s::VARCHAR, "
        "%(action)s::VARCHAR, %(outcome)s::VARCHAR, %(person_id)s::BIGINT, %(resource)s::VARCHAR, "
        "%(purpose)s::VARCHAR, %(client_address)s::VARCHAR, %(request_id)s::VARCHAR, "
        "%(detail)s::VARCHAR, %(hash)s) RETURNING audit_events.id"
    )
    set_head = (
        "UPDATE audit_chain_heads SET hash=%(p_hash)s "
        "WHERE audit_chain_heads.chain = %(p_chain)s::SMALLINT"
    )
    _FIELD_NAMES = (
        "actor", "action", "outcome", "person_id", "resource", "purpose",
        "client_address", "request_id", "detail",
    )  # fmt: skip

    def connect(self, url: str) -> Any:
        import psycopg

        # carnet.db: the same lock and statement timeouts.
        return psycopg.connect(url, options="-c lock_timeout=10000 -c statement_timeout=60000")

    def pre_ping(self, connection: Any) -> None:
        # SQLAlchemy's psycopg dialect pings in autocommit, so that no transaction is left open.
        connection.autocommit = True
        try:
            connection.execute("SELECT 1").fetchone()
        finally:
            connection.autocommit = False

    def find_params(self, name: str, born: str, sex: str) -> Any:
        return {"p_name": name, "p_date": born, "p_sex": sex}

    def history_params(self, person_id: int) -> Any:
        return {"person_id_1": person_id}

    def _claim_free(self, cursor: Cursor) -> tuple[int, int, bytes] | None:
        row = cursor.execute(self.claim, {"seq_1": 1, "param_1": 1}).fetchone()
        if row is None:
            if int(cursor.execute(self.count_heads).fetchone()[0]) >= self.chains:
                return None  # every chain is busy
            cursor.executemany(
                self.create_heads,
                [{"chain": c, "seq": 0, "hash": GENESIS} for c in range(self.chains)],
            )
            row = cursor.execute(self.claim, {"seq_1": 1, "param_1": 1}).fetchone()
            if row is None:
                return None
        return int(row[0]), int(row[1]), bytes(row[2])

    def _advance(self, cursor: Cursor, chain: int) -> tuple[int, bytes]:
        while True:
            row = cursor.execute(self.advance, {"seq_1": 1, "p_chain": chain}).fetchone()
            if row is not None:
                return int(row[0]), bytes(row[1])
            created = cursor.execute(self.create_head, {"chain": chain, "seq": 1, "hash": GENESIS})
            if created.fetchone() is not None:
                return 1, GENESIS

    def append_audit(self, cursor: Cursor, fields: list[Any], recorded_at: datetime) -> None:
        claimed = self._claim_free(cursor)
        if claimed is not None:
            chain, seq, previous = claimed
        else:
            chain = secrets.randbelow(self.chains)
            seq, previous = self._advance(cursor, chain)
        digest = self.digest(previous, chain, seq, recorded_at, fields)
        values = dict(zip(self._FIELD_NAMES, fields, strict=True))
        values.update(chain=chain, seq=seq, recorded_at=recorded_at, hash=digest)
        cursor.execute(self.insert_event, values).fetchone()
        cursor.execute(self.set_head, {"p_hash": digest, "p_chain": chain})


# -- the ASGI application ------------------------------------------------------------------------


class BareApp:
    def __init__(self) -> None:
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="bare")
        secret = os.environ.get("BARE_SECRET_KEY", "")
        self.token_key = hashlib.sha256(TOKEN_KEY_PREFIX + secret.encode()).digest()
        self.audit_key = hashlib.sha256(AUDIT_KEY_PREFIX + secret.encode()).digest()
        self.issuer = os.environ.get("BARE_ISSUER", "http://127.0.0.1:8000")

    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                url = os.environ["BARE_DATABASE_URL"]
                chains = int(os.environ.get("BARE_AUDIT_CHAINS", "16"))
                kind = SqliteBackend if url.startswith("sqlite") else PostgresBackend
                if url.startswith("postgresql+psycopg://"):
                    url = "postgresql://" + url.removeprefix("postgresql+psycopg://")
                pre_ping = os.environ.get("BARE_PRE_PING", "") == "1"
                self._backend = kind(url, self.audit_key, chains, THREADS, pre_ping=pre_ping)
            return self._backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else str(uuid.uuid4())
        )
        try:
            status, answer = await self._route(scope, receive, headers, request_id)
        except Refused as refused:
            status = refused.status
            answer = {
                "error": {
                    "code": refused.code,
                    "message": refused.message,
                    "request_id": request_id,
                }
            }
        except Exception as exc:  # never a traceback to the client, as Carnet
            print(f"bare: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            status = 500
            answer = {"error": {"code": "internal_error", "message": "internal error"}}
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        if status == 401:
            response_headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _route(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], request_id: str
    ) -> tuple[int, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        path, method = scope["path"], scope["method"]
        if path == "/readyz" and method == "GET":
            backend = self.backend
            await loop.run_in_executor(self._executor, backend.ping)
            return 200, {"status": "ready", "database": backend.dialect}
        if path != SEARCH_PATH:
            raise Refused(404, "not_found", "Not Found")
        if method != "POST":
            raise Refused(405, "method_not_allowed", "Method Not Allowed")
        actor = verify_token(
            headers.get(b"authorization", b"").decode("latin-1"),
            self.token_key,
            self.issuer,
            time.time(),
        )
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        name, first_names, sex, born, place = parse_search(b"".join(chunks))
        client = scope.get("client")
        answer = await loop.run_in_executor(
            self._executor,
            lambda: self.backend.search(
                name, first_names, sex, born, place,
                actor=actor, client_address=client[0] if client else None, request_id=request_id,
            ),
        )  # fmt: skip
        return 200, answer

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._backend is not None:
                    self._backend.pool.close()
                self._executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


app = BareApp()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Serve the bare lookup with granian (Carnet's `carnet serve` settings). "
        "Configuration: BARE_DATABASE_URL, BARE_SECRET_KEY, BARE_ISSUER, BARE_AUDIT_CHAINS, "
        "BARE_PRE_PING=1."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if not os.environ.get("BARE_DATABASE_URL") or not os.environ.get("BARE_SECRET_KEY"):
        parser.error("set BARE_DATABASE_URL and BARE_SECRET_KEY")
    from granian.constants import Interfaces
    from granian.server import Server

    here = Path(__file__).resolve().parent
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(here), os.environ.get("PYTHONPATH", "")) if p
    )
    # The same arguments as carnet.cli.serve, so that only the application differs.
    Server(
        "bare_lookup:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        log_access=False,
        working_dir=here,
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
