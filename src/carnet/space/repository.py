"""All SQL of the space domain.

Creating the spaces of a whole register (69 M persons) is set-based: ``create_pending`` inserts
the pending spaces of one range of person keys with one ``INSERT ... SELECT`` (an anti-join on
``uq_spaces_person_id``), and the jobs take their work in bounded batches, locked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that two servers never take the same rows (SQLite
has one writer anyway).

Known exception to the layering rule (as in ``rights/repository.py``): the bulk creation and the
information batches read the register's ``persons`` table directly (id, names, birth and death
dates), read-only: ``identity.service`` offers audited reads by one person, not range scans of
the whole register. The statements doing so are marked "register read".
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from carnet.identity.models import Person
from carnet.space.models import Space, SpaceLetter

spaces = typing.cast(Table, Space.__table__)
letters = typing.cast(Table, SpaceLetter.__table__)
_persons = typing.cast(Table, Person.__table__)
# A row of any shape (the statements select labelled columns).
Record = Row[*tuple[Any, ...]]


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class SpaceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _skip_locked(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # -- one space --------------------------------------------------------------------------------

    def state_of(self, person_id: int) -> tuple[str, datetime | None] | None:
        """(state, objection deadline): one probe of ``uq_spaces_person_id``."""
        row = self.session.execute(
            select(spaces.c.state, spaces.c.objection_deadline).where(
                spaces.c.person_id == person_id
            )
        ).first()
        return None if row is None else (str(row.state), row.objection_deadline)

    def get(self, person_id: int, *, for_update: bool = False) -> Space | None:
        statement = select(Space).where(Space.person_id == person_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).first()

    def add(self, space: Space) -> Space:
        self.session.add(space)
        self.session.flush()
        return space

    def person_exists(self, person_id: int) -> bool:
        # Register read: a space belongs to a register person.
        return (
            self.session.execute(select(_persons.c.id).where(_persons.c.id == person_id)).first()
            is not None
        )

    # -- national creation ------------------------------------------------------------------------

    def highest_person_with_space(self) -> int:
        """Where the incremental creation resumes: the highest person key among the spaces the
        creation made (still pending, or informed: a channel is set).

        Not among all spaces: a space created on demand (objected to or opened before the
        information message) can be far ahead of the creation, and resuming after it would skip
        everyone in between. A lower bound only costs a re-scan of ranges already done (the
        statement skips persons who have a space). Walks ``uq_spaces_person_id`` from its end.
        """
        made_by_creation = or_(spaces.c.state == "pending", spaces.c.channel.is_not(None))
        value = self.session.execute(
            select(func.max(spaces.c.person_id)).where(made_by_creation)
        ).scalar()
        return int(value or 0)

    def range_end(self, after: int, size: int) -> int | None:
        """The ``size``-th register person key after ``after`` (or the last one), None at the end.

        Register read.
        """
        keys = (
            select(_persons.c.id)
            .where(_persons.c.id > after)
            .order_by(_persons.c.id)
            .limit(size)
            .subquery()
        )
        value = self.session.execute(select(func.max(keys.c.id))).scalar()
        return None if value is None else int(value)

    def create_pending(self, after: int, upto: int, now: datetime) -> int:
        """Pending spaces for the living register persons with ``after < id <= upto`` that have
        none. Register read, one set-based statement."""
        candidates = select(
            _persons.c.id,
            literal("pending"),
            literal(1),
            literal(now, type_=spaces.c.created_at.type),
            literal(now, type_=spaces.c.updated_at.type),
        ).where(
            _persons.c.id > after,
            _persons.c.id <= upto,
            _persons.c.death_date.is_(None),
            # The range bound on spaces too: without it the planner may read the whole spaces
            # table for every batch (a hash anti-join), quadratic over a national creation.
            ~exists().where(
                spaces.c.person_id == _persons.c.id,
                spaces.c.person_id > after,
                spaces.c.person_id <= upto,
            ),
        )
        # RETURNING: the row count of INSERT ... SELECT is not reported on PostgreSQL (-1).
        result = self.session.connection().execute(
            insert(spaces)
            .from_select(["person_id", "state", "version", "created_at", "updated_at"], candidates)
            .returning(spaces.c.id)
        )
        return len(result.all())

    def uninformed(self, after_id: int, limit: int) -> Sequence[Record]:
        """Pending spaces whose information message has not gone out, after space ``after_id``
        in key order (a range of ``ix_spaces_state_deadline``), with the register traits the
        message needs (register read); locked, skipping rows another server holds."""
        statement = (
            select(
                spaces.c.id,
                spaces.c.person_id,
                _persons.c.birth_name,
                _persons.c.used_name,
                _persons.c.first_names,
                _persons.c.used_first_name,
                _persons.c.sex,
                _persons.c.birth_date,
            )
            .join(_persons, _persons.c.id == spaces.c.person_id)
            .where(
                spaces.c.state == "pending",
                spaces.c.objection_deadline.is_(None),
                spaces.c.id > after_id,
            )
            .order_by(spaces.c.id)
            .limit(limit)
        )
        if self._skip_locked():
            statement = statement.with_for_update(of=spaces, skip_locked=True)
        return self.session.execute(statement).all()

    def persons(self, person_ids: Sequence[int]) -> dict[int, Record]:
        """Names of persons (the representatives a message is addressed to). Register read."""
        if not person_ids:
            return {}
        rows = self.session.execute(
            select(
                _persons.c.id,
                _persons.c.birth_name,
                _persons.c.used_name,
                _persons.c.first_names,
                _persons.c.used_first_name,
                _persons.c.sex,
            ).where(_persons.c.id.in_(list(person_ids)))
        ).all()
        return {int(row.id): row for row in rows}

    def mark_informed(
        self, space_ids: Sequence[int], channel: str, now: datetime, deadline: datetime
    ) -> None:
        if not space_ids:
            return
        self.session.execute(
            update(spaces)
            .where(spaces.c.id.in_(list(space_ids)), spaces.c.state == "pending")
            .values(
                channel=channel,
                information_sent_at=now,
                objection_deadline=deadline,
                version=spaces.c.version + 1,
                updated_at=now,
            )
        )

    def add_letters(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(letters), rows)

    # -- jobs -------------------------------------------------------------------------------------

    def _due(self, state: str, column: Any, now: datetime, limit: int) -> list[tuple[int, int]]:
        statement = (
            select(spaces.c.id, spaces.c.person_id)
            .where(spaces.c.state == state, column.is_not(None), column <= now)
            .order_by(column)
            .limit(limit)
        )
        if self._skip_locked():
            statement = statement.with_for_update(skip_locked=True)
        return [(int(r.id), int(r.person_id)) for r in self.session.execute(statement).all()]

    def due_for_opening(self, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(space id, person id) of pending spaces whose objection window has ended."""
        return self._due("pending", spaces.c.objection_deadline, now, limit)

    def due_for_purge(self, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(space id, person id) of closed spaces whose archive period (or deletion) is due."""
        return self._due("closed", spaces.c.purge_after, now, limit)

    def open_automatically(self, space_ids: Sequence[int], now: datetime) -> int:
        result = self.session.connection().execute(
            update(spaces)
            .where(
                spaces.c.id.in_(list(space_ids)),
                spaces.c.state == "pending",
                spaces.c.objection_deadline <= now,
            )
            .values(
                state="open",
                opened_at=spaces.c.objection_deadline,  # the legal moment it opened
                opened_how="automatic",
                version=spaces.c.version + 1,
                updated_at=now,
            )
        )
        return _rowcount(result)

    def mark_purged(self, space_ids: Sequence[int], now: datetime) -> int:
        result = self.session.connection().execute(
            update(spaces)
            .where(spaces.c.id.in_(list(space_ids)), spaces.c.state == "closed")
            .values(state="purged", purged_at=now, version=spaces.c.version + 1, updated_at=now)
        )
        return _rowcount(result)

    # -- letters ----------------------------------------------------------------------------------

    def letters_to_export(self, after_id: int, limit: int) -> Sequence[SpaceLetter]:
        statement = (
            select(SpaceLetter)
            .where(SpaceLetter.exported_at.is_(None), SpaceLetter.id > after_id)
            .order_by(SpaceLetter.id)
            .limit(limit)
        )
        if self._skip_locked():
            statement = statement.with_for_update(skip_locked=True)
        return self.session.scalars(statement).all()

    def mark_exported(self, letter_ids: Sequence[int], now: datetime) -> None:
        if letter_ids:
            self.session.execute(
                update(letters)
                .where(and_(letters.c.id.in_(list(letter_ids)), letters.c.exported_at.is_(None)))
                .values(exported_at=now)
            )

    def letters_of(self, person_id: int) -> Sequence[SpaceLetter]:
        return self.session.scalars(
            select(SpaceLetter).where(SpaceLetter.person_id == person_id).order_by(SpaceLetter.id)
        ).all()
