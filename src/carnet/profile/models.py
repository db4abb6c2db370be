"""The profile's one table: every version of every FHIR resource of every space.

A resource is the set of rows sharing a ``public_id`` (its FHIR id); each change adds a row with
the next ``version`` and moves ``is_current`` to it, so the history is never rewritten. A
deletion is a version too (``deleted``, no JSON). Searches read current, non-deleted rows through
``(person_id, resource_type, is_current)``; the indexed columns (category, code, effective date,
status) are copied from the JSON when it is written. Person-scoped: ``person_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime


class ProfileResource(Base):
    __tablename__ = "profile_resources"
    __table_args__ = (
        UniqueConstraint("public_id", "version", name="uq_profile_resources_public_id_version"),
        Index("ix_profile_resources_person_type", "person_id", "resource_type", "is_current"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    resource_type: Mapped[str] = mapped_column(String(32))
    # The FHIR id: a UUID, so ids say nothing about how many resources exist.
    public_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    deleted: Mapped[bool] = mapped_column(Boolean)
    # The resource as served (with id and meta), JSON text; None for a deletion.
    resource_json: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    code_system: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who wrote this version, as the audit trail names them (holder:12, client:abc…).
    author: Mapped[str] = mapped_column(String(100))
