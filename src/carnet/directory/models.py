"""Tables of the directory domain: health professionals and their places of practice.

A professional is identified by the idNat_PS (domain.md §8.1; unique, always present) and, for
RPPS holders, by the RPPS number (then idNat_PS = "8" + RPPS). The profession is a TRE_G15 code,
the specialty a TRE_R38 code (labels in ``carnet.directory.codes``).

Places of practice: a practice row links a professional to a care structure of the
identity-vigilance domain (``structures.id``, created by the directory import when unknown) and
keeps the structure's identifier and name *as the directory gives them*, plus the commune. The
directory reads only its own tables (architecture rule: no other domain's tables), so it needs
these columns to answer without asking vigilance; they are the directory's copy of the place, and
the import keeps them up to date.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, UTCDateTime, utcnow


class Professional(Base):
    """One health professional of the directory (RPPS/idNat_PS, profession, specialty)."""

    __tablename__ = "professionals"
    __table_args__ = (
        # Name search: a prefix probe of the normalised family name.
        Index("ix_professionals_family_name_key", "family_name_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # 11 digits; None for a professional known by another idNat_PS only (ADELI: "0" + ADELI).
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True)
    idnat_ps: Mapped[str] = mapped_column(String(40), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    # Upper case, without accents or punctuation: what a name search compares.
    family_name_key: Mapped[str] = mapped_column(String(100))
    profession_code: Mapped[str] = mapped_column(String(4))
    specialty_code: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Practice(Base):
    """A place where a professional practises: a care structure, as the directory names it."""

    __tablename__ = "professional_practices"
    __table_args__ = (
        UniqueConstraint("professional_id", "structure_id"),
        # "Who practises at this structure" (a structure-bound client acting for a professional).
        Index("ix_professional_practices_structure", "structure_id", "professional_id"),
        # The import resolves identifiers it already knows without asking vigilance.
        Index("ix_professional_practices_structure_identifier", "structure_identifier"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    professional_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("professionals.id", ondelete="CASCADE")
    )
    structure_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("structures.id", ondelete="RESTRICT")
    )
    # FINESS (9) or SIRET (14), normalised like vigilance's structure identifiers.
    structure_identifier: Mapped[str] = mapped_column(String(20))
    structure_name: Mapped[str] = mapped_column(String(200))
    commune: Mapped[str | None] = mapped_column(String(100))
