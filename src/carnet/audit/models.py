"""The append-only, hash-chained audit trail.

Kept narrow because it receives hundreds of millions of rows: short codes, no foreign keys (an
audit row must outlive what it talks about), one index for "who accessed this person".
Appends are serialised per chain through ``audit_chain_heads``; each writer takes a chain no other
transaction holds (PostgreSQL ``SKIP LOCKED``), so concurrent writers do not queue behind one lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
        Index("ix_audit_events_person_recorded", "person_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    # e.g. "ins.search", "person.read", "identity.update" (see carnet.audit.service.ACTIONS).
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    resource: Mapped[str | None] = mapped_column(String(80))
    purpose: Mapped[str | None] = mapped_column(String(40))
    client_address: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str | None] = mapped_column(String(500))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditChainHead(Base):
    __tablename__ = "audit_chain_heads"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
