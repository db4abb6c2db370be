"""Tables of the access domain: who may reach a health space, and who did.

* ``access_grants``: a professional's access to one person's space, with its basis (``consent``
  given by the holder, ``care`` relationship started by reading the card, ``emergency``
  break-glass, ``regulation`` by the SAMU-Centre 15), its end and its revocation;
* ``access_blocks``: professionals the holder blocked (they reach nothing, not even by
  break-glass);
* ``access_settings``: the holder's privacy choices (emergency access refused, e-mail notices);
* ``access_aidants``: relatives the holder let into their space (scope, end date, revocation);
* ``access_matrix``: the access matrix (R1111-46): profession × specialty × document type;
* ``access_history``: every access by someone other than the holder, as the holder sees it.

No foreign keys to other domains' tables (as in ``apcv``): the history keeps a snapshot of the
professional as they were, and must outlive directory changes. Person-scoped tables carry
``person_id`` (the space's holder).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime

GRANT_BASES = ("consent", "care", "emergency", "regulation")
ACTOR_KINDS = ("representative", "aidant", "professional", "emergency", "regulator")


class AccessGrant(Base):
    __tablename__ = "access_grants"
    __table_args__ = (
        CheckConstraint(
            "basis IN ('consent', 'care', 'emergency', 'regulation')",
            name="basis",
        ),
        Index("ix_access_grants_person_professional", "person_id", "professional_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    professional_id: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(16))
    # Why: the break-glass reason, or where a care relationship came from (card_reading).
    reason: Mapped[str | None] = mapped_column(String(500))
    # Who opened it (audit actor: holder:…, client:…).
    granted_by: Mapped[str] = mapped_column(String(80))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessBlock(Base):
    __tablename__ = "access_blocks"
    __table_args__ = (UniqueConstraint("person_id", "professional_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    professional_id: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessSettings(Base):
    __tablename__ = "access_settings"

    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    emergency_access_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_by_email: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessAidant(Base):
    """A relative (``delegate_person_id``) let into ``person_id``'s space."""

    __tablename__ = "access_aidants"
    __table_args__ = (
        Index("ix_access_aidants_person", "person_id"),
        Index("ix_access_aidants_delegate", "delegate_person_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    delegate_person_id: Mapped[int] = mapped_column(BigInteger)
    # Space-separated: documents:read documents:write profile:read profile:write history:read.
    scope: Mapped[str] = mapped_column(String(200))
    # The relative's name as the register gave it when access was given (for the history).
    delegate_name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessMatrixRule(Base):
    """One rule of the access matrix: may ``profession_code`` (TRE_G15), optionally of
    ``specialty_code`` (TRE_R38, empty: any), read documents of ``type_code`` (``*``: any)?"""

    __tablename__ = "access_matrix"
    __table_args__ = (UniqueConstraint("profession_code", "specialty_code", "type_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profession_code: Mapped[str] = mapped_column(String(4))
    specialty_code: Mapped[str] = mapped_column(String(16))
    type_code: Mapped[str] = mapped_column(String(64))
    allowed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(300))


class AccessHistory(Base):
    """One access by someone other than the holder, as the holder's access history shows it."""

    __tablename__ = "access_history"
    __table_args__ = (
        Index("ix_access_history_person_at", "person_id", "at"),
        # The holder's history filtered by kind of actor, newest first (``?actor_kind=``).
        Index("ix_access_history_person_kind_id", "person_id", "actor_kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger)
    professional_id: Mapped[int | None] = mapped_column(BigInteger)
    # The professional's RPPS when they have one (the directory id above always): what the
    # holder's "block" action names them by.
    professional_rpps: Mapped[str | None] = mapped_column(String(11))
    profession_code: Mapped[str | None] = mapped_column(String(4))
    profession_label: Mapped[str | None] = mapped_column(String(100))
    # Who, as shown to the holder (a snapshot: "Dr Claire Morel (RPPS 10001234567)").
    actor_label: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
