from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet.audit.models import AuditChainHead, AuditEvent

GENESIS = bytes(32)

_events = cast(Table, AuditEvent.__table__)
_heads = cast(Table, AuditChainHead.__table__)
_EVENT_COLUMNS = [c.key for c in _events.columns if c.key != "id"]
# Built once: the audit append is on the path of every access to a person's data.
# Each advances the head by ``p_n`` entries at once (one claim per transaction, whatever the
# number of entries it records) and returns the new last sequence number.
_ADVANCE_HEAD = (
    update(_heads)
    .where(_heads.c.chain == bindparam("p_chain"))
    .values(seq=_heads.c.seq + bindparam("p_n"))
    .returning(_heads.c.seq, _heads.c.hash)
)
# PostgreSQL: take whichever chain no other transaction holds, instead of queueing behind one.
_CLAIM_FREE_HEAD = (
    update(_heads)
    .where(
        _heads.c.chain
        == select(_heads.c.chain)
        .order_by(func.random())
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(seq=_heads.c.seq + bindparam("p_n"))
    .returning(_heads.c.chain, _heads.c.seq, _heads.c.hash)
)
_INSERT_EVENT = insert(_events)
_SET_HEAD_HASH = (
    update(_heads).where(_heads.c.chain == bindparam("p_chain")).values(hash=bindparam("p_hash"))
)
# PostgreSQL's appends of a few entries (one access), compiled once per number of entries (up
# to _PREBUILT_ROWS): the rows' values are bound as "<column>_<i>". Larger batches use
# executemany of _INSERT_EVENT (compiling a statement per batch cost more than the inserts).
_PREBUILT_ROWS = 8
_driver_sql: dict[int, str] = {}


def _rows_insert(count: int) -> Any:
    return insert(_events).values(
        [{key: bindparam(f"{key}_{i}") for key in _EVENT_COLUMNS} for i in range(count)]
    )


def _append_statement(count: int) -> Any:
    """PostgreSQL: the statement appending ``count`` entries and moving the chain head onto the
    last one (a data-modifying CTE: one round trip)."""
    return _SET_HEAD_HASH.add_cte(_rows_insert(count).cte("appended"))


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_free_head(self, chains: int, count: int = 1) -> tuple[int, int, bytes] | None:
        """PostgreSQL only: advance a chain that no concurrent transaction holds (SKIP LOCKED)
        by ``count`` entries.

        Returns (chain, last seq, previous hash), or None when every chain is busy (the caller
        then waits on one). The heads of all ``chains`` are created on first use.
        """
        connection = self.session.connection()
        row = connection.execute(_CLAIM_FREE_HEAD, {"p_n": count}).one_or_none()
        if row is None:
            existing = self.session.scalar(select(func.count()).select_from(_heads)) or 0
            if existing >= chains:
                return None
            connection.execute(
                postgresql.insert(_heads).on_conflict_do_nothing(index_elements=["chain"]),
                [{"chain": c, "seq": 0, "hash": GENESIS} for c in range(chains)],
            )
            row = connection.execute(_CLAIM_FREE_HEAD, {"p_n": count}).one_or_none()
            if row is None:
                return None
        return int(row[0]), int(row[1]), bytes(row[2])

    def advance_head(self, chain: int, count: int = 1) -> tuple[int, bytes]:
        """Take the next ``count`` sequence numbers of a chain (returns the last one and the
        previous hash), locking its head until commit.

        The UPDATE comes first so that it takes the row lock (PostgreSQL) or the write lock
        (SQLite) before the previous hash is read: two writers can never chain onto the same entry.
        """
        connection = self.session.connection()
        row = connection.execute(_ADVANCE_HEAD, {"p_chain": chain, "p_n": count}).one_or_none()
        if row is not None:
            return int(row[0]), bytes(row[1])
        # First entry of this chain: create its head. If a concurrent writer created it first, the
        # insert does nothing and the UPDATE above, retried, waits on that writer's lock.
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        insert_head = (
            dialect.insert(_heads)
            .on_conflict_do_nothing(index_elements=["chain"])
            .returning(_heads.c.chain)
        )
        created = connection.execute(insert_head, {"chain": chain, "seq": count, "hash": GENESIS})
        if created.first() is not None:
            return count, GENESIS
        return self.advance_head(chain, count)

    def append_rows(self, chain: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert consecutive entries of one chain (values by column name, hashes computed) and
        move the chain head onto the last one.

        PostgreSQL, up to ``_PREBUILT_ROWS`` entries (an access): one statement, compiled once
        per number of entries. Otherwise (batches, SQLite): the cached INSERT executed with
        executemany (psycopg pipelines it; nothing is compiled per batch), then the head moved.
        """
        connection = self.session.connection()
        head = {"p_chain": chain, "p_hash": rows[-1]["hash"]}
        if len(rows) <= _PREBUILT_ROWS and connection.dialect.name == "postgresql":
            # SQLAlchemy does not cache statements with a DML CTE: compile each shape once and
            # send the SQL text (values already in the driver's types: aware UTC datetimes).
            sql = _driver_sql.get(len(rows))
            if sql is None:
                sql = str(_append_statement(len(rows)).compile(dialect=connection.dialect))
                _driver_sql[len(rows)] = sql
            params: dict[str, Any] = dict(head)
            for i, row in enumerate(rows):
                for key in _EVENT_COLUMNS:
                    params[f"{key}_{i}"] = row[key]
            connection.exec_driver_sql(sql, params)
        else:
            connection.execute(_INSERT_EVENT, list(rows))  # one executemany
            connection.execute(_SET_HEAD_HASH, head)

    def heads(self) -> dict[int, tuple[int, bytes]]:
        rows = self.session.execute(
            select(AuditChainHead.chain, AuditChainHead.seq, AuditChainHead.hash)
        )
        return {int(c): (int(s), bytes(h)) for c, s, h in rows}

    def stream_chain(self, chain: int, batch: int = 5000) -> Iterator[AuditEvent]:
        last = 0
        while True:
            rows: Sequence[AuditEvent] = self.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.chain == chain, AuditEvent.seq > last)
                .order_by(AuditEvent.seq)
                .limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq
            self.session.expunge_all()

    def chains_with_events(self) -> list[int]:
        return [int(c) for c in self.session.scalars(select(AuditEvent.chain).distinct())]

    def get(self, event_id: int) -> AuditEvent | None:
        return self.session.get(AuditEvent, event_id)

    def search(
        self,
        *,
        person_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        stmt = select(AuditEvent)
        if person_id is not None:
            stmt = stmt.where(AuditEvent.person_id == person_id)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        stmt = (
            stmt.order_by(AuditEvent.recorded_at.desc(), AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(stmt))

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)

    # -- paged search (FHIR AuditEvent) -----------------------------------------------------------

    def search_page(
        self, query: AuditQuery, *, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """Events matching every filter of ``query``, newest first (by id), at most ``limit``.

        ``before_id`` is the keyset cursor: only events with a smaller id, so that pages stay
        stable while new events are appended.
        """
        stmt = select(AuditEvent).where(*self._page_filters(query))
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def count_page(self, query: AuditQuery) -> int:
        """How many events ``search_page`` would walk through over all pages."""
        stmt = select(func.count()).select_from(AuditEvent).where(*self._page_filters(query))
        return int(self.session.scalar(stmt) or 0)

    @staticmethod
    def _page_filters(query: AuditQuery) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        if query.person_id is not None:
            filters.append(AuditEvent.person_id == query.person_id)
        if query.actors:
            filters.append(AuditEvent.actor.in_(list(query.actors)))
        if query.recorded_from is not None:
            filters.append(AuditEvent.recorded_at >= query.recorded_from)
        if query.recorded_before is not None:
            filters.append(AuditEvent.recorded_at < query.recorded_before)
        for alternatives in query.action_clauses:
            filters.append(or_(*(_action_condition(clause) for clause in alternatives)))
        return filters


# One alternative of an action filter:
#   ("in", names)          the action is one of the names;
#   ("suffix", suffixes)   the action ends with one of the suffixes (".read");
#   ("no_suffix", suffixes) the action ends with none of them.
ActionClause = tuple[Literal["in", "suffix", "no_suffix"], tuple[str, ...]]


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit-trail search, all optional and combined with AND.

    ``action_clauses`` is an AND of ORs of ``ActionClause``; ``recorded_from`` is inclusive,
    ``recorded_before`` exclusive.
    """

    person_id: int | None = None
    actors: tuple[str, ...] = ()
    action_clauses: tuple[tuple[ActionClause, ...], ...] = ()
    recorded_from: datetime | None = None
    recorded_before: datetime | None = None


def _like_suffix(suffix: str) -> ColumnElement[bool]:
    escaped = suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return AuditEvent.action.like("%" + escaped, escape="\\")


def _action_condition(clause: ActionClause) -> ColumnElement[bool]:
    kind, values = clause
    if kind == "in":
        return AuditEvent.action.in_(list(values))
    if kind == "suffix":
        return or_(false(), *(_like_suffix(s) for s in values))
    return and_(true(), *(not_(_like_suffix(s)) for s in values))
