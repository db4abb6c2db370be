"""Care structures and their local identities (identity-vigilance, RNIV).

A structure (hospital, practice, laboratory) keeps its own *local identities*: the traits typed at
the reception desk or retrieved from INSi, a trust status (PROV, RECUP, VALI, QUAL: domain.md
§2.1), identity attributes (DOUT, FICT, HOMA…: §2.3) and, once retrieved, the INS. A local identity
may be linked to the register person it was retrieved from (``person_id``, the person key).

Blocking columns for duplicate detection (see ``carnet.vigilance.duplicates``): the phonetic key of
the birth name and of the used name, and the birth year, are computed by the service on every
write and indexed per structure together with the birth date and the INS matricule, so that the
candidates of one identity are found by a handful of index probes, never by scanning the
structure.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow


class Structure(Base):
    """A hospital, a practice or a laboratory that keeps its own patient identities."""

    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # FINESS or SIRET number when known.
    identifier: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalIdentity(Base):
    """One patient identity as a care structure knows it."""

    __tablename__ = "local_identities"
    __table_args__ = (
        CheckConstraint("status IN ('PROV', 'RECUP', 'VALI', 'QUAL')", name="status"),
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        # The IPP is unique within a structure (NULLs are allowed several times).
        Index("uq_local_identities_structure_ipp", "structure_id", "ipp", unique=True),
        # Blocking keys for duplicate detection, per structure.
        # The birth date in the name indexes lets a name probe keep only near dates from the
        # index entries (same year, or same month and day) without reading the rows.
        Index("ix_local_identities_name_key", "structure_id", "birth_name_key", "birth_date"),
        Index("ix_local_identities_used_name_key", "structure_id", "used_name_key", "birth_date"),
        Index("ix_local_identities_birth_date", "structure_id", "birth_date"),
        Index("ix_local_identities_birth_year", "structure_id", "birth_year"),
        Index("ix_local_identities_ins", "structure_id", "ins_matricule"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    structure_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("structures.id", ondelete="RESTRICT")
    )
    # The register person this identity was retrieved from (the person key); the matricule is
    # copied below, so the local record stays traceable even if the link is removed.
    person_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    # Local patient identifier (IPP).
    ipp: Mapped[str | None] = mapped_column(String(64))

    # Strict traits, normalised like the register's; first names space-separated, in order.
    birth_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(255))
    sex: Mapped[str] = mapped_column(String(1))
    # "YYYY-MM-DD", 00 for an unknown month or day.
    birth_date: Mapped[str] = mapped_column(String(10))
    birth_place: Mapped[str | None] = mapped_column(String(5))
    # Complementary traits, never sent to INSi.
    used_name: Mapped[str | None] = mapped_column(String(100))
    used_first_name: Mapped[str | None] = mapped_column(String(100))

    status: Mapped[str] = mapped_column(String(5), default="PROV")
    # Identity attributes (domain.md §2.3), space-separated, sorted.
    attributes: Mapped[str] = mapped_column(String(200), default="")
    validation_mode: Mapped[str | None] = mapped_column(String(4))
    validation_date: Mapped[date | None] = mapped_column(Date)
    insi_retrieved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collection_method: Mapped[str | None] = mapped_column(String(4))
    ins_matricule: Mapped[str | None] = mapped_column(String(15))
    ins_oid: Mapped[str | None] = mapped_column(String(64))

    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # NO ACTION (checked at the end of the statement), so that a statement deleting a whole
    # structure's identities is not refused row by row as RESTRICT would.
    merged_into_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("local_identities.id")
    )

    # Blocking keys (computed by the service).
    birth_name_key: Mapped[str] = mapped_column(String(100))
    used_name_key: Mapped[str | None] = mapped_column(String(100))
    birth_year: Mapped[int] = mapped_column(SmallInteger)

    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # UPDATE ... WHERE version = :seen: a concurrent writer makes the second flush fail.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration


class LocalIdentityEvent(Base):
    """The history of a local identity: each change keeps the state *before* it (JSON snapshot).

    It is what makes an unmerge exact and a change traceable; it carries the person key like every
    person-scoped table. Rows are never updated or deleted.
    """

    __tablename__ = "local_identity_events"
    __table_args__ = (Index("ix_local_identity_events_identity", "identity_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identity_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("local_identities.id"))
    structure_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(500))
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
