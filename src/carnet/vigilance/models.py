"""Care structures and their local identities (identity-vigilance, RNIV)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, UTCDateTime, utcnow


class Structure(Base):
    """A hospital, a practice or a laboratory that keeps its own patient identities."""

    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # FINESS or SIRET number when known.
    identifier: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
