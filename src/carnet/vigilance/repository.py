"""All SQL of identity-vigilance: structures, local identities, their history, duplicate blocking.

Duplicate candidates are found through the per-structure indexes on the blocking columns (see
``carnet.vigilance.models``): each probe is an index range, never a scan of the structure. The batch
report streams the structure's active identities sorted by one blocking key at a time (server-side
cursor on PostgreSQL) and hands out one block of equal keys at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from carnet.exceptions import Conflict
from carnet.vigilance.models import LocalIdentity, LocalIdentityEvent, Structure

identities = LocalIdentity.__table__

Blocking = Literal["name_year", "name_monthday", "date", "ins"]
BLOCKINGS: tuple[Blocking, ...] = ("name_year", "name_monthday", "date", "ins")
# Columns the duplicate scoring reads (carnet.vigilance.duplicates.Profile).
_PROFILE_COLUMNS = (
    identities.c.id,
    identities.c.person_id,
    identities.c.ipp,
    identities.c.birth_name,
    identities.c.first_names,
    identities.c.sex,
    identities.c.birth_date,
    identities.c.birth_place,
    identities.c.used_name,
    identities.c.used_name_key,
    identities.c.used_first_name,
    identities.c.ins_matricule,
    identities.c.birth_name_key,
    identities.c.status,
)
# At most this many rows per candidate probe: a guard against pathological blocks (a default date
# typed for thousands of patients); real name and date distributions stay far below it.
PROBE_LIMIT = 2000
STREAM_BATCH = 2000


def _month_day_key() -> ColumnElement[str]:
    """Month and day in increasing order ("0312" for 12 March and 3 December alike)."""
    month = func.substr(identities.c.birth_date, 6, 2, type_=String)
    day = func.substr(identities.c.birth_date, 9, 2, type_=String)
    return case((month <= day, month + day), else_=day + month)


class StructureRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, structure_id: int) -> Structure | None:
        return self.session.get(Structure, structure_id)

    def get_by_identifier(self, identifier: str) -> Structure | None:
        return self.session.scalars(
            select(Structure).where(Structure.identifier == identifier)
        ).first()

    def add(self, structure: Structure) -> Structure:
        self.session.add(structure)
        flush(self.session)
        return structure

    def list(self, only_id: int | None = None) -> Sequence[Structure]:
        query = select(Structure).order_by(Structure.id)
        if only_id is not None:
            query = query.where(Structure.id == only_id)
        return self.session.scalars(query).all()


def flush(session: Session) -> None:
    """Flush, turning a lost race into a 409 (the service checks what it can beforehand)."""
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "the identity was changed by someone else meanwhile: read it again and retry",
            code="stale_version",
        ) from exc
    except IntegrityError as exc:
        raise Conflict(
            "the change conflicts with another record (e.g. an IPP already used in this structure)",
            code="integrity_conflict",
        ) from exc


class LocalIdentityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- rows ----------------------------------------------------------------------------------

    def get(self, identity_id: int) -> LocalIdentity | None:
        return self.session.get(LocalIdentity, identity_id)

    def get_by_ipp(self, structure_id: int, ipp: str) -> LocalIdentity | None:
        return self.session.scalars(
            select(LocalIdentity).where(
                LocalIdentity.structure_id == structure_id, LocalIdentity.ipp == ipp
            )
        ).first()

    def add(self, identity: LocalIdentity) -> LocalIdentity:
        self.session.add(identity)
        flush(self.session)
        return identity

    def flush(self) -> None:
        flush(self.session)

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        structure_id: int,
        *,
        name: str | None = None,
        name_key: str | None = None,
        first_name: str | None = None,
        birth_date: str | None = None,
        birth_date_range: tuple[str, str] | None = None,
        birth_year: int | None = None,
        sex: str | None = None,
        status: str | None = None,
        ipp: str | None = None,
        include_inactive: bool = False,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[int, Sequence[LocalIdentity]]:
        query = select(LocalIdentity).where(LocalIdentity.structure_id == structure_id)
        if not include_inactive:
            query = query.where(LocalIdentity.active.is_(True))
        if name is not None:
            query = query.where(
                or_(LocalIdentity.birth_name == name, LocalIdentity.used_name == name)
            )
        if name_key is not None:
            query = query.where(
                or_(
                    LocalIdentity.birth_name_key == name_key,
                    LocalIdentity.used_name_key == name_key,
                )
            )
        if first_name is not None:
            # A normalised first name holds only A-Z, hyphen and apostrophe: no LIKE wildcard.
            query = query.where(
                (literal(" ") + LocalIdentity.first_names + literal(" ")).like(f"% {first_name} %")
            )
        if birth_date is not None:
            query = query.where(LocalIdentity.birth_date == birth_date)
        if birth_date_range is not None:
            query = query.where(LocalIdentity.birth_date.between(*birth_date_range))
        if birth_year is not None:
            query = query.where(LocalIdentity.birth_year == birth_year)
        if sex is not None:
            query = query.where(LocalIdentity.sex == sex)
        if status is not None:
            query = query.where(LocalIdentity.status == status)
        if ipp is not None:
            query = query.where(LocalIdentity.ipp == ipp)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(LocalIdentity.id).limit(limit).offset(offset)
        ).all()
        return total, rows

    # -- duplicates ----------------------------------------------------------------------------

    def candidates(
        self,
        structure_id: int,
        exclude_id: int,
        *,
        name_keys: Sequence[str],
        birth_year: int,
        month_days: Sequence[str],
        birth_dates: Sequence[str],
        ins_matricule: str | None,
        birth_date_range: tuple[str, str] | None = None,
    ) -> list[Row[Any]]:
        """Active identities sharing a blocking key with the given one (a few index probes).

        Name probes: the birth-name or used-name key is one of ``name_keys`` and the birth date is
        in ``birth_year`` or has one of ``month_days`` ("MM-DD") whatever the year; both date
        conditions are checked on the (structure, name key, birth date) index entries. Date probe:
        the birth date is one of ``birth_dates``, or within ``birth_date_range`` (the days of the
        month of a date whose day is unknown). INS probe: the same matricule.
        """
        t = identities.c
        base = select(*_PROFILE_COLUMNS).where(
            t.structure_id == structure_id, t.active.is_(True), t.id != exclude_id
        )
        near = or_(
            t.birth_date.between(f"{birth_year:04d}-00-00", f"{birth_year:04d}-99-99"),
            func.substr(t.birth_date, 6, 5, type_=String).in_(month_days),
        )
        probes: list[Select[Any]] = [
            base.where(t.birth_name_key.in_(name_keys), near),
            base.where(t.used_name_key.in_(name_keys), near),
            base.where(t.birth_date.in_(birth_dates)),
        ]
        if ins_matricule is not None:
            probes.append(base.where(t.ins_matricule == ins_matricule))
        if birth_date_range is not None:
            probes.append(base.where(t.birth_date.between(*birth_date_range)))
        found: dict[int, Row[Any]] = {}
        for probe in probes:
            for row in self.session.execute(probe.order_by(t.id).limit(PROBE_LIMIT)):
                found.setdefault(row.id, row)
        return [found[key] for key in sorted(found)]

    def iter_blocks(self, structure_id: int, blocking: Blocking) -> Iterator[list[Row[Any]]]:
        """The structure's active identities, grouped by one blocking key, streamed in key order.

        ``name_year``: phonetic key of the birth name *or* of the used name, and birth year (an
        identity with a used name appears under both keys); ``name_monthday``: the same names with
        the unordered (month, day) pair, which catches a mistyped year; ``date``: birth year and
        unordered (month, day), which catches any name error, including transposed day and month;
        ``ins``: the INS matricule.
        """
        base = and_(identities.c.structure_id == structure_id, identities.c.active.is_(True))
        t = identities.c
        query: Select[Any]
        if blocking in ("name_year", "name_monthday"):
            second: ColumnElement[Any] = (
                t.birth_year if blocking == "name_year" else _month_day_key()
            )
            by_birth = select(
                *_PROFILE_COLUMNS, t.birth_name_key.label("k1"), second.label("k2")
            ).where(base)
            by_used = select(
                *_PROFILE_COLUMNS, t.used_name_key.label("k1"), second.label("k2")
            ).where(base, t.used_name_key.is_not(None), t.used_name_key != t.birth_name_key)
            union = union_all(by_birth, by_used).subquery()
            query = select(union).order_by(union.c.k1, union.c.k2, union.c.id)
        elif blocking == "date":
            key = func.substr(t.birth_date, 1, 4, type_=String) + _month_day_key()
            query = (
                select(*_PROFILE_COLUMNS, key.label("k1"), literal("").label("k2"))
                .where(base)
                .order_by(key, t.id)
            )
        else:
            query = (
                select(*_PROFILE_COLUMNS, t.ins_matricule.label("k1"), literal("").label("k2"))
                .where(base, t.ins_matricule.is_not(None))
                .order_by(t.ins_matricule, t.id)
            )
        result = self.session.execute(query.execution_options(yield_per=STREAM_BATCH))
        for _key, rows in groupby(result, key=lambda row: (row.k1, row.k2)):
            block = list(rows)
            if len(block) > 1:
                yield block

    def find_qualified_by_ins(
        self, structure_id: int, matricule: str, oid: str | None, limit: int, offset: int
    ) -> tuple[int, Sequence[LocalIdentity]]:
        """QUAL identities of a structure holding this INS (probes ix_local_identities_ins)."""
        query = select(LocalIdentity).where(
            LocalIdentity.structure_id == structure_id,
            LocalIdentity.ins_matricule == matricule,
            LocalIdentity.status == "QUAL",
        )
        if oid is not None:
            query = query.where(LocalIdentity.ins_oid == oid)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(query.order_by(LocalIdentity.id).limit(limit).offset(offset))
        return int(total), rows.all()

    # -- history -------------------------------------------------------------------------------

    def add_event(self, event: LocalIdentityEvent) -> None:
        self.session.add(event)

    def last_event(self, identity_id: int, actions: Sequence[str]) -> LocalIdentityEvent | None:
        return self.session.scalars(
            select(LocalIdentityEvent)
            .where(
                LocalIdentityEvent.identity_id == identity_id,
                LocalIdentityEvent.action.in_(actions),
            )
            .order_by(LocalIdentityEvent.id.desc())
            .limit(1)
        ).first()

    def events(self, identity_id: int, limit: int = 200) -> Sequence[LocalIdentityEvent]:
        return self.session.scalars(
            select(LocalIdentityEvent)
            .where(LocalIdentityEvent.identity_id == identity_id)
            .order_by(LocalIdentityEvent.id)
            .limit(limit)
        ).all()
