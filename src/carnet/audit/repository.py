from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.audit.models import AuditChainHead, AuditEvent

GENESIS = bytes(32)


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def advance_head(self, chain: int) -> tuple[int, bytes]:
        """Take the next sequence number of a chain, locking its head until commit.

        The UPDATE comes first so that it takes the row lock (PostgreSQL) or the write lock
        (SQLite) before the previous hash is read: two writers can never chain onto the same entry.
        """
        row = self.session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .values(seq=AuditChainHead.seq + 1)
            .returning(AuditChainHead.seq, AuditChainHead.hash)
        ).one_or_none()
        if row is not None:
            return int(row[0]), bytes(row[1])
        try:
            with self.session.begin_nested():
                self.session.add(AuditChainHead(chain=chain, seq=1, hash=GENESIS))
        except IntegrityError:
            return self.advance_head(chain)  # another writer created it first
        return 1, GENESIS

    def append(self, event: AuditEvent) -> None:
        self.session.add(event)
        self.session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == event.chain)
            .values(hash=event.hash)
        )
        self.session.flush()

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
