"""All SQL of the documents domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet.documents.models import Document, SpaceDataKey
from carnet.kit.daily_counts import DailyCounts, daily_counts

documents = cast(Table, Document.__table__)

# Visibility bits (the same values as carnet.access.policy; a repository imports no service).
_MASQUE_PS = 1
_INVISIBLE_PATIENT = 2
_INVISIBLE_REPRESENTANTS_LEGAUX = 4


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What the blob check needs of a document row."""

    id: int
    person_id: int
    public_id: str
    blob_key: str
    sha256: str


@dataclass(frozen=True, slots=True)
class VisibilityClause:
    """``SpaceGrant.may_see`` as SQL: who is looking, and what they may see."""

    professional: bool
    professional_id: int | None = None
    readable_type_codes: frozenset[str] | None = None
    representative: bool = False
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    statuses: tuple[str, ...] = ("current",)
    class_codes: tuple[str, ...] = ()
    type_codes: tuple[str, ...] = ()
    act_from: date | None = None
    act_to: date | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    author_professional_id: int | None = None
    author_person_id: int | None = None
    author_text: str | None = None
    title_text: str | None = None


def _bit(flag: int) -> ColumnElement[bool]:
    return Document.visibility.op("&")(flag) != 0


def visibility_sql(clause: VisibilityClause) -> ColumnElement[bool]:
    if clause.professional:
        readable: ColumnElement[bool] = (
            true()
            if clause.readable_type_codes is None
            else Document.type_code.in_(sorted(clause.readable_type_codes))
            if clause.readable_type_codes
            else false()
        )
        others = and_(~_bit(_MASQUE_PS), readable)
        if clause.professional_id is None:
            return others
        return or_(Document.author_professional_id == clause.professional_id, others)
    assert clause.now is not None
    patient = or_(
        ~_bit(_INVISIBLE_PATIENT),
        and_(
            Document.patient_visible_from.is_not(None),
            Document.patient_visible_from <= clause.now,
        ),
    )
    if clause.representative:
        return and_(patient, ~_bit(_INVISIBLE_REPRESENTANTS_LEGAUX))
    return patient


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- keys ------------------------------------------------------------------------------------

    def data_key(self, person_id: int) -> SpaceDataKey | None:
        return self.session.get(SpaceDataKey, person_id)

    def add_data_key_if_absent(self, person_id: int, wrapped: bytes, master_key_id: str) -> None:
        """Insert a space's wrapped key unless one exists (concurrent first uploads)."""
        table = cast(Table, SpaceDataKey.__table__)
        values = {
            "person_id": person_id,
            "wrapped_key": wrapped,
            "master_key_id": master_key_id,
            "created_at": datetime.now(UTC),
        }
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
        else:  # pragma: no cover - other dialects
            statement = insert(table).values(**values)
        self.session.execute(statement)

    def delete_data_key(self, person_id: int) -> int:
        result = self.session.execute(
            delete(SpaceDataKey).where(SpaceDataKey.person_id == person_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- documents -------------------------------------------------------------------------------

    def created_per_day(self, since: datetime) -> DailyCounts:
        """Documents (every version) deposited per day since ``since``, and in all."""
        return daily_counts(self.session, documents.c.created_at, since)

    def add(self, document: Document) -> Document:
        self.session.add(document)
        self.session.flush()
        return document

    def by_public_id(self, public_id: str, *, for_update: bool = False) -> Document | None:
        statement = select(Document).where(Document.public_id == public_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def versions(self, set_id: str) -> Sequence[Document]:
        return self.session.scalars(
            select(Document).where(Document.set_id == set_id).order_by(Document.version.desc())
        ).all()

    def current_of_set(self, set_id: str, *, for_update: bool = False) -> Document | None:
        statement = select(Document).where(Document.set_id == set_id, Document.status == "current")
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def search(
        self,
        person_ids: Sequence[int],
        where: DocumentFilter,
        visible: VisibilityClause,
        *,
        offset: int,
        limit: int,
    ) -> Sequence[Document]:
        conditions: list[ColumnElement[bool]] = [
            Document.person_id.in_(list(person_ids))
            if len(person_ids) != 1
            else Document.person_id == person_ids[0],
            Document.status.in_(where.statuses)
            if len(where.statuses) != 1
            else Document.status == where.statuses[0],
            visibility_sql(visible),
        ]
        if where.class_codes:
            conditions.append(Document.class_code.in_(where.class_codes))
        if where.type_codes:
            conditions.append(Document.type_code.in_(where.type_codes))
        if where.act_from is not None:
            conditions.append(Document.act_date >= where.act_from)
        if where.act_to is not None:
            conditions.append(Document.act_date <= where.act_to)
        if where.created_from is not None:
            conditions.append(Document.created_at >= where.created_from)
        if where.created_before is not None:
            conditions.append(Document.created_at < where.created_before)
        if where.author_professional_id is not None:
            conditions.append(Document.author_professional_id == where.author_professional_id)
        if where.author_person_id is not None:
            conditions.append(Document.author_person_id == where.author_person_id)
        if where.author_text:
            conditions.append(
                func.lower(Document.author_label).like(_like(where.author_text), escape="\\")
            )
        if where.title_text:
            conditions.append(func.lower(Document.title).like(_like(where.title_text), escape="\\"))
        statement = (
            select(Document)
            .where(*conditions)
            .order_by(Document.created_at.desc(), Document.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return self.session.scalars(statement).all()

    def set_status(self, ids: Sequence[int], status: str, *, deleted_at: datetime | None) -> None:
        values: dict[str, Any] = {"status": status}
        if deleted_at is not None:
            values["deleted_at"] = deleted_at
        self.session.execute(
            update(Document)
            .where(Document.id.in_(list(ids)))
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )

    def announcement_due(self, visible_before: datetime, limit: int) -> Sequence[Document]:
        """Hidden documents (INVISIBLE_PATIENT) not notified yet whose automatic end is before
        ``visible_before``, oldest first, locked (SKIP LOCKED on PostgreSQL)."""
        statement = (
            select(Document)
            .where(
                Document.announcement_notified_at.is_(None),
                Document.patient_visible_from <= visible_before,
                Document.status == "current",
                _bit(_INVISIBLE_PATIENT),
            )
            .order_by(Document.patient_visible_from, Document.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self.session.scalars(statement).all()

    def unmark_announced(self, ids: Sequence[int], marked_at: datetime) -> int:
        """Make these documents due for the announcement again (their e-mail failed), unless
        another run marked them since."""
        if not ids:
            return 0
        result = self.session.execute(
            update(Document)
            .where(Document.id.in_(list(ids)), Document.announcement_notified_at == marked_at)
            .values(announcement_notified_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- the blob check (``carnet documents verify-blobs``) ----------------------------------------

    def stored_rows_after(self, after_id: int, limit: int) -> list[StoredRow]:
        """Rows whose content must be in the blob store (current or superseded), by row key."""
        rows = self.session.execute(
            select(
                Document.id,
                Document.person_id,
                Document.public_id,
                Document.blob_key,
                Document.sha256,
            )
            .where(Document.id > after_id, Document.status.in_(("current", "superseded")))
            .order_by(Document.id)
            .limit(limit)
        )
        return [StoredRow(int(i), int(p), str(u), str(k), str(h)) for i, p, u, k, h in rows]

    def wrapped_keys(self, person_ids: Sequence[int]) -> dict[int, bytes]:
        rows = self.session.execute(
            select(SpaceDataKey.person_id, SpaceDataKey.wrapped_key).where(
                SpaceDataKey.person_id.in_(list(person_ids))
            )
        )
        return {int(p): bytes(w) for p, w in rows}

    def stored_blob_keys(self, public_ids: Sequence[str]) -> set[str]:
        """The blob keys of the current or superseded rows among these public ids."""
        if not public_ids:
            return set()
        return set(
            self.session.scalars(
                select(Document.blob_key).where(
                    Document.public_id.in_(list(public_ids)),
                    Document.status.in_(("current", "superseded")),
                )
            )
        )

    def delete_person(self, person_id: int) -> int:
        result = self.session.execute(delete(Document).where(Document.person_id == person_id))
        return int(getattr(result, "rowcount", 0) or 0)
