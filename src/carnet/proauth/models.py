"""Tables of the professionals' sign-in: their passkeys, enrolment invitations, used nonces.

Keyed by the directory's professional (``professionals.id``). Invitation tokens are stored as
their SHA-256 only; nonces as a SHA-256 of what they were for and the nonce.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow


class ProPasskey(Base):
    """A professional's passkey (WebAuthn, discoverable, user verification)."""

    __tablename__ = "pro_passkeys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    professional_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("professionals.id"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(1023))  # COSE
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProInvitation(Base):
    """A one-time link to enrol a first passkey (``carnet pro invite --rpps``)."""

    __tablename__ = "pro_invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    professional_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("professionals.id"), index=True
    )
    rpps: Mapped[str] = mapped_column(String(11))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProUsedNonce(Base):
    """Nonces accepted once (passkey sign-in challenges, OpenID Connect nonces), kept until the
    challenge or ID token they came with could no longer be accepted anyway."""

    __tablename__ = "pro_used_nonces"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
