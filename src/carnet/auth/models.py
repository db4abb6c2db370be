"""Software clients (professional software, hospital systems) and their used assertion ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # "client_secret_basic" or "private_key_jwt".
    auth_method: Mapped[str] = mapped_column(String(32))
    # "salt$sha256hex": secrets are 256-bit random values, so a fast salted hash is enough.
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    # Public keys (JWKS JSON) for private_key_jwt.
    jwks: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1000))
    # A client may act for a care structure (identity-vigilance) — None for national services.
    structure_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("structures.id", ondelete="RESTRICT")
    )
    # A professional's own software acts for that directory entry (apCV) — tokens carry it.
    professional_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("professionals.id", ondelete="RESTRICT")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedClientAssertion(Base):
    """JWT ids of private_key_jwt assertions already accepted: a replayed assertion is refused."""

    __tablename__ = "oauth_used_assertions"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
