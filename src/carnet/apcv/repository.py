"""All SQL of the apcv domain: Core statements, built once (context creation is a hot path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from carnet.apcv.models import ApcvContext, ApcvSignature, CardReading
from carnet.kit.daily_counts import DailyCounts, daily_counts

contexts = cast(Table, ApcvContext.__table__)
readings = cast(Table, CardReading.__table__)
signatures = cast(Table, ApcvSignature.__table__)

_INSERT_CONTEXT = insert(contexts).returning(contexts.c.id)
_CONTEXT_BY_PUBLIC_ID = select(contexts).where(contexts.c.public_id == bindparam("p_public_id"))
_INSERT_READING = insert(readings)
_INSERT_SIGNATURE = insert(signatures).returning(signatures.c.id)


class ApcvRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- contexts -------------------------------------------------------------------------------

    def add_context(self, values: dict[str, Any]) -> int:
        return int(self.session.connection().execute(_INSERT_CONTEXT, values).scalar_one())

    def get_context(self, public_id: str) -> Row[Any] | None:
        return self.session.execute(_CONTEXT_BY_PUBLIC_ID, {"p_public_id": public_id}).first()

    def destroy_context(self, context_id: int, now: datetime) -> None:
        self.session.execute(
            update(contexts).where(contexts.c.id == context_id).values(destroyed_at=now)
        )

    def purge_contexts(self, before: datetime) -> int:
        """Delete contexts expired or destroyed before ``before`` (readings are kept)."""
        result = self.session.execute(
            delete(contexts).where(
                or_(contexts.c.expires_at < before, contexts.c.destroyed_at < before)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- readings -------------------------------------------------------------------------------

    def add_reading(self, values: dict[str, Any]) -> None:
        self.session.execute(_INSERT_READING, values)

    def readings_per_day(
        self, since: datetime, *, holder_person_id: int | None = None
    ) -> DailyCounts:
        """Beneficiaries read per day since ``since`` and in all (through one holder's card,
        when given)."""
        where = (
            readings.c.holder_person_id == holder_person_id
            if holder_person_id is not None
            else None
        )
        return daily_counts(self.session, readings.c.read_at, since, where=where)

    def readings_for_holder(
        self,
        person_id: int,
        *,
        dependant_ids: Sequence[int] = (),
        before_id: int | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """Readings of the person's card, about the person, presented by the person, or about
        one of ``dependant_ids`` whatever the card (newest first, keyset pagination on the id)."""
        condition = or_(
            readings.c.holder_person_id == person_id,
            readings.c.person_id == person_id,
            readings.c.presenter_person_id == person_id,
            *([readings.c.person_id.in_(list(dependant_ids))] if dependant_ids else []),
        )
        if before_id is not None:
            condition = and_(condition, readings.c.id < before_id)
        query = select(readings).where(condition).order_by(readings.c.id.desc()).limit(limit)
        return self.session.execute(query).all()

    # -- signatures -----------------------------------------------------------------------------

    def add_signature(self, values: dict[str, Any]) -> int:
        return int(self.session.execute(_INSERT_SIGNATURE, values).scalar_one())
