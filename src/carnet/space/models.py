"""Tables of the space domain: one health space per register person, and the postal letters.

``spaces`` holds the opt-out lifecycle (domain.md §5.1, R1111-28 and R1111-36): ``pending`` from
creation (``information_sent_at`` NULL until the information message went out, then an objection
window up to ``objection_deadline``), ``open``, ``objected``, ``closed`` (archived until
``purge_after``) and ``purged``. The jobs' reads are index probes: ``ix_spaces_state_deadline``
(pending spaces whose window ended, and pending spaces not informed yet, deadline NULL) and
``ix_spaces_state_purge`` (closed spaces due for purging).

``space_letters`` are the information letters for persons without an e-mail address, exported
for the print shop (``carnet space letters export DIR``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow

SPACE_STATES = ("pending", "open", "objected", "closed", "purged")
CHANNELS = ("email", "letter")
OPENED_HOW = ("holder", "representative", "automatic")


class Space(Base):
    __tablename__ = "spaces"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'open', 'objected', 'closed', 'purged')", name="state"
        ),
        CheckConstraint("channel IS NULL OR channel IN ('email', 'letter')", name="channel"),
        CheckConstraint(
            "opened_how IS NULL OR opened_how IN ('holder', 'representative', 'automatic')",
            name="opened_how",
        ),
        Index("ix_spaces_state_deadline", "state", "objection_deadline", "id"),
        Index("ix_spaces_state_purge", "state", "purge_after"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("persons.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(10))
    # How the information message went out (e-mail, or a recorded postal letter) and when.
    channel: Mapped[str | None] = mapped_column(String(6))
    information_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    objection_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_how: Mapped[str | None] = mapped_column(String(14))
    objected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deletion_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SpaceLetter(Base):
    """A recorded postal letter about ``person_id``'s space, addressed to
    ``recipient_person_id`` (the person, or a representative of a minor child)."""

    __tablename__ = "space_letters"
    __table_args__ = (Index("ix_space_letters_exported_at", "exported_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    recipient_person_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
