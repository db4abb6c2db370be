"""Tables of the operators domain: back-office accounts, their passkeys, enrolment invitations
and the nonces of accepted sign-in challenges (single use)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow

ROLE_NAMES = ("support", "cards", "audit", "admin")


class Operator(Base):
    """A back-office agent: who they are, their role, whether they may still sign in."""

    __tablename__ = "operators"
    __table_args__ = (
        CheckConstraint("role IN ('support', 'cards', 'audit', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorPasskey(Base):
    __tablename__ = "operator_passkeys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operators.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(1023))  # COSE
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorInvitation(Base):
    """A one-time enrolment link: only the SHA-256 of its token is stored."""

    __tablename__ = "operator_invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    operator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operators.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorUsedNonce(Base):
    """The nonce of each sign-in challenge accepted: a replayed assertion is refused."""

    __tablename__ = "operator_used_nonces"

    nonce: Mapped[bytes] = mapped_column(LargeBinary(12), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
