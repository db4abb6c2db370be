"""Tables of the apcv domain: reading contexts, the reading history, invoice signatures.

No foreign keys to other domains' tables on purpose: contexts are short-lived and written on the
hottest path (one insert, no extra index probes into ``cards`` or ``professionals``), and the
history and the signatures must outlive both the context they came from (purged once expired)
and any change in the directory (they keep a snapshot of the professional as seen at reading).
Person-scoped tables carry ``person_id`` (see docs/architecture.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime


class ApcvContext(Base):
    """A card presented to a professional's software: who may be read, by whom, until when."""

    __tablename__ = "apcv_contexts"
    __table_args__ = (Index("ix_apcv_contexts_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What the software holds: 256 random bits, so a context id cannot be guessed.
    public_id: Mapped[str] = mapped_column(String(43), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    card_id: Mapped[int] = mapped_column(BigInteger)
    card_number: Mapped[int] = mapped_column(BigInteger)
    # The card holder (the person key of the context).
    person_id: Mapped[int] = mapped_column(BigInteger)
    # Who showed the code: the holder, or a delegate using their own card.
    presenter_person_id: Mapped[int] = mapped_column(BigInteger)
    delegation_id: Mapped[int | None] = mapped_column(BigInteger)
    professional_id: Mapped[int] = mapped_column(BigInteger)
    structure_id: Mapped[int | None] = mapped_column(Integer)
    structure_identifier: Mapped[str | None] = mapped_column(String(20))
    # [{"ref", "person_id", "quality", "rank"}]: the beneficiaries this presentation opens.
    beneficiaries: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The professional as the directory described them when the card was read (for the history).
    professional: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CardReading(Base):
    """One beneficiary read through a card: what the holder sees in their history."""

    __tablename__ = "card_readings"
    __table_args__ = (
        Index("ix_card_readings_person_read", "person_id", "read_at"),
        Index("ix_card_readings_holder_read", "holder_person_id", "read_at"),
        Index("ix_card_readings_presenter_read", "presenter_person_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The beneficiary whose identity and rights were read.
    person_id: Mapped[int] = mapped_column(BigInteger)
    holder_person_id: Mapped[int] = mapped_column(BigInteger)
    presenter_person_id: Mapped[int] = mapped_column(BigInteger)
    delegation_id: Mapped[int | None] = mapped_column(BigInteger)
    card_id: Mapped[int] = mapped_column(BigInteger)
    context_id: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[str] = mapped_column(String(64))
    professional_id: Mapped[int] = mapped_column(BigInteger)
    rpps: Mapped[str | None] = mapped_column(String(11))
    professional_last_name: Mapped[str | None] = mapped_column(String(100))
    professional_first_name: Mapped[str | None] = mapped_column(String(100))
    profession_code: Mapped[str | None] = mapped_column(String(4))
    profession_label: Mapped[str | None] = mapped_column(String(100))
    structure_name: Mapped[str | None] = mapped_column(String(200))
    structure_identifier: Mapped[str | None] = mapped_column(String(20))
    # Names as they were at reading time, so the history reads one table (and stays true to what
    # the professional saw even after a change of name).
    beneficiary_first_name: Mapped[str | None] = mapped_column(String(100))
    beneficiary_last_name: Mapped[str | None] = mapped_column(String(100))
    beneficiary_quality: Mapped[str] = mapped_column(String(16))
    presenter_first_name: Mapped[str | None] = mapped_column(String(100))
    presenter_last_name: Mapped[str | None] = mapped_column(String(100))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApcvSignature(Base):
    """An invoice (FSE/DRE) hash signed on the beneficiary's behalf: kept as evidence."""

    __tablename__ = "apcv_signatures"
    __table_args__ = (
        Index("ix_apcv_signatures_person_signed", "person_id", "signed_at"),
        Index("ix_apcv_signatures_context_id", "context_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    context_id: Mapped[int] = mapped_column(BigInteger)
    # The beneficiary the invoice is for.
    person_id: Mapped[int] = mapped_column(BigInteger)
    professional_id: Mapped[int] = mapped_column(BigInteger)
    invoice_type: Mapped[str] = mapped_column(String(3))
    invoice_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(2000))
    kid: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
