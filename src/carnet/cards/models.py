"""Tables of the cards domain: accounts, activations, cards, device credentials, used nonces and
delegations (see ``docs/card.md``).

Every table is person-scoped (``person_id``). Secrets are never stored in clear: the e-mail
one-time code is kept as an HMAC keyed with the platform secret, and the PIN key (derived on the
device from the secret code, which the platform never sees) is encrypted with AES-GCM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow

ACTIVATION_STATES = ("started", "email_sent", "email_confirmed", "proofed", "completed")
ACTIVATION_END_STATES = ("expired", "failed")
CARD_STATUSES = ("active", "suspended", "revoked", "locked")
DEVICE_KINDS = ("wallet", "passkey")


class CardAccount(Base):
    """An insured person's account: the confirmed e-mail address the platform writes to."""

    __tablename__ = "card_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CardActivation(Base):
    """One activation (or one "lost phone" suspension request): a small state machine.

    ``purpose`` is ``activate`` (bind a device and create a card) or ``suspend`` (a holder who lost
    their phone proves who they are by e-mail and suspends their card).
    """

    __tablename__ = "card_activations"
    __table_args__ = (
        CheckConstraint(
            "state IN ('started', 'email_sent', 'email_confirmed', 'proofed', 'completed', "
            "'expired', 'failed')",
            name="state",
        ),
        CheckConstraint("purpose IN ('activate', 'suspend')", name="purpose"),
        Index("ix_card_activations_person_created", "person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What the device sees in URLs: random and unguessable (never the sequential id).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"))
    purpose: Mapped[str] = mapped_column(String(8), default="activate")
    state: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254))
    # HMAC-SHA256(platform-derived key, public id ‖ code): a database dump reveals no code.
    otp_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    otp_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    otp_attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Which proofing step was satisfied (e.g. "email+birth_date"; later "id_document+selfie").
    proofing_method: Mapped[str | None] = mapped_column(String(40))
    proofed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("cards.id"))


class Card(Base):
    """A digital card. One person has at most one card that is not revoked."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'revoked', 'locked')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Random, below 2**31 (compact in the QR code), unique; not a secret.
    number: Mapped[int] = mapped_column(Integer, unique=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    # AES-GCM(nonce ‖ ciphertext ‖ tag) of the 32-byte PIN key; NULL for a passkey card.
    pin_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary(60))
    failed_pin_attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeviceCredential(Base):
    """The key a card's codes are signed with: a wallet's P-256 key, or a WebAuthn passkey."""

    __tablename__ = "card_device_credentials"
    __table_args__ = (
        CheckConstraint("kind IN ('wallet', 'passkey')", name="kind"),
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cards.id"), index=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    # Named in every QR code (COSE kid): 8 random bytes.
    key_id: Mapped[bytes] = mapped_column(LargeBinary(8), unique=True)
    # Wallet: SubjectPublicKeyInfo DER of the P-256 key. Passkey: the COSE public key.
    public_key: Mapped[bytes] = mapped_column(LargeBinary(512))
    webauthn_credential_id: Mapped[bytes | None] = mapped_column(LargeBinary(1023), unique=True)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedCardNonce(Base):
    """Nonces of accepted codes, kept until the code could no longer be accepted anyway."""

    __tablename__ = "used_card_nonces"

    card_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Delegation(Base):
    """The holder (``person_id``) lets a trusted person with an active card (the delegate)
    present the card of a beneficiary (the holder or one of their dependants) for a period."""

    __tablename__ = "card_delegations"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The grantor: the insured person whose card (or dependant) is delegated.
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"), index=True)
    beneficiary_person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"))
    delegate_person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("persons.id"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
