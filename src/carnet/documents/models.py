"""Tables of the documents domain: the per-space data keys and the documents' metadata.

Contents are not in the database: they are encrypted (AES-256-GCM under the space's data key)
in a blob store (``carnet.kit.blobstore``), named by ``blob_key``. Every table is person-scoped.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, BigId, UTCDateTime, utcnow

DOCUMENT_STATUSES = ("current", "superseded", "deleted")


class SpaceDataKey(Base):
    """A health space's data key, wrapped by the master key (deleting it is a crypto-erase)."""

    __tablename__ = "space_data_keys"

    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("persons.id"), primary_key=True, autoincrement=False
    )
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(40))
    master_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    """One version of a document of a health space.

    Versions of one document share ``set_id`` (the public id of the first version); exactly one
    is ``current`` until the document is deleted (every version then ``deleted``).
    """

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('current', 'superseded', 'deleted')", name="status"),
        CheckConstraint("visibility >= 0 AND visibility <= 7", name="visibility"),
        CheckConstraint(
            "author_professional_id IS NOT NULL OR author_person_id IS NOT NULL", name="author"
        ),
        # A space's listing: newest first among its current documents.
        Index("ix_documents_person_status_created", "person_id", "status", "created_at", "id"),
        Index("ix_documents_set_version", "set_id", "version", unique=True),
        # The announcement job (R1111-53): hidden documents whose holder is not notified yet.
        Index("ix_documents_announcement", "announcement_notified_at", "patient_visible_from"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"))
    set_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), default="current")
    class_code: Mapped[str] = mapped_column(String(8))
    type_code: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    act_date: Mapped[date | None] = mapped_column(Date)
    author_professional_id: Mapped[int | None] = mapped_column(BigInteger)
    author_person_id: Mapped[int | None] = mapped_column(BigInteger)
    author_label: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(128))
    visibility: Mapped[int] = mapped_column(SmallInteger, default=0)
    patient_visible_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announcement_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
