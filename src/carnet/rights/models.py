"""Tables of the rights domain: coverage periods and special situations, per beneficiary.

A coverage period says: from ``start_date`` to ``end_date`` (NULL: open), the beneficiary
``person_id`` is covered by this scheme, fund and centre, attached to the insured person
``insured_person_id`` (the beneficiary themselves when ``quality`` is "00") with this birth rank.
A change of fund or of attachment is a new period; periods of one beneficiary never overlap (the
service and the import refuse it). ``(person_id, start_date)`` is the natural key: a re-import of
the same line updates its period.

The hot reads (``rights_at``, ``dependants_of``, ``is_attached``) are one probe of
``uq_rights_coverages_person_start`` or ``ix_rights_coverages_insured`` each.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow


class Coverage(Base):
    __tablename__ = "rights_coverages"
    __table_args__ = (
        UniqueConstraint("person_id", "start_date", name="uq_rights_coverages_person_start"),
        Index("ix_rights_coverages_insured", "insured_person_id", "start_date"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="period"),
        CheckConstraint("rank BETWEEN 1 AND 9", name="rank"),
        # The insured person is attached to themselves, and only they are.
        CheckConstraint(
            "(quality = '00') = (insured_person_id = person_id)",
            name="attachment",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id", ondelete="CASCADE"))
    # The insured person (ouvrant droit) whose rights this beneficiary's derive from.
    insured_person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"))
    quality: Mapped[str] = mapped_column(String(2))
    rank: Mapped[int] = mapped_column(SmallInteger, default=1)
    # Codes of carnet.rights.codes: scheme (2 digits), fund (3), centre (4).
    regime: Mapped[str] = mapped_column(String(2))
    fund: Mapped[str] = mapped_column(String(3))
    centre: Mapped[str] = mapped_column(String(4))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Situation(Base):
    """A special situation (ALD, C2S, maternity…) during part of a coverage period."""

    __tablename__ = "rights_situations"
    __table_args__ = (
        Index("ix_rights_situations_coverage", "coverage_id", "start_date"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    coverage_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("rights_coverages.id", ondelete="CASCADE")
    )
    # The beneficiary (person-scoped table), a copy of the coverage's.
    person_id: Mapped[int] = mapped_column(BigInteger, index=True)
    code: Mapped[str] = mapped_column(String(4))
    # ALD: the ALD number ("15"); C2S: "P" with a financial participation; otherwise empty.
    qualifier: Mapped[str] = mapped_column(String(4), default="")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
