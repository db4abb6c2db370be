"""The national health identity register (RNIPP/SNGI-like): persons and their INS history.

Traits are stored normalised (uppercase, no diacritics, per domain.md §1.5), which is also how
they are searched: the INSi-like lookup is one index probe on (birth_name, birth_date, sex).
``birth_date`` keeps the register's partial form "YYYY-MM-DD" with "00" for an unknown month/day.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        Index("ix_persons_lookup", "birth_name", "birth_date", "sex"),
        CheckConstraint("kind IN ('NIR', 'NIA')", name="kind"),
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The matricule INS: NIR or NIA, 15 characters with the key.
    matricule: Mapped[str] = mapped_column(String(15), unique=True)
    kind: Mapped[str] = mapped_column(String(3))
    birth_name: Mapped[str] = mapped_column(String(100))
    # Ordered birth first names, space-separated (INSi "ListePrenom").
    first_names: Mapped[str] = mapped_column(String(255))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[str] = mapped_column(String(10))
    # INSEE COG code: commune, or 99xxx country for people born abroad.
    birth_place: Mapped[str | None] = mapped_column(String(5))
    used_name: Mapped[str | None] = mapped_column(String(100))
    used_first_name: Mapped[str | None] = mapped_column(String(100))
    death_date: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InsHistory(Base):
    """A matricule the person held before (NIA replaced by a NIR, or identities merged)."""

    __tablename__ = "ins_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    matricule: Mapped[str] = mapped_column(String(15), index=True)
    kind: Mapped[str] = mapped_column(String(3))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
