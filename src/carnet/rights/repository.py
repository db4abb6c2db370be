"""All SQL of the rights domain. The reads used on every card reading are prebuilt Core statements.

The register's tables are never read here: the answers' names and matricules come from
``carnet.identity.service`` (``register_names``: one bulk statement, called by the rights
service), and the import's set-based statements use the SQL expressions the identity service
offers for that (``current_person_id_sql``, ``previous_person_id_sql``, ``birth_date_sql``).
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    MetaData,
    Row,
    Select,
    SmallInteger,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    distinct,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from carnet.db import UTCDateTime
from carnet.identity import service as identity_service
from carnet.kit.bulk_staging import begin_import, stage_rows
from carnet.rights.models import Coverage, Situation

coverages = typing.cast(Table, Coverage.__table__)
situations = typing.cast(Table, Situation.__table__)

# "Open" end of a period, for overlap tests: NULL means no end.
FAR_FUTURE = date(9999, 12, 31)


def _covers(table: Table, on: Any) -> Any:
    return and_(table.c.start_date <= on, or_(table.c.end_date.is_(None), table.c.end_date >= on))


def _overlap(a_start: Any, a_end: Any, b_start: Any, b_end: Any) -> Any:
    far = literal(FAR_FUTURE, Date)
    return and_(a_start <= func.coalesce(b_end, far), b_start <= func.coalesce(a_end, far))


# rights_at: the period covering the day (periods never overlap: at most one) with its special
# situations active that day (none: one row with NULL situation columns).
_COVERAGE_AT: Select[Any] = (
    select(
        coverages,
        situations.c.code.label("situation_code"),
        situations.c.qualifier.label("situation_qualifier"),
        situations.c.start_date.label("situation_start"),
        situations.c.end_date.label("situation_end"),
    )
    .select_from(
        coverages.outerjoin(
            situations,
            and_(
                situations.c.coverage_id == coverages.c.id,
                _covers(situations, bindparam("p_on")),
            ),
        )
    )
    .where(coverages.c.person_id == bindparam("p_person"), _covers(coverages, bindparam("p_on")))
    .order_by(coverages.c.start_date.desc(), situations.c.code, situations.c.start_date)
)
# dependants_of: the persons attached to an insured person on a day.
_DEPENDANTS_AT: Select[Any] = select(
    coverages.c.person_id,
    coverages.c.insured_person_id,
    coverages.c.quality,
    coverages.c.rank,
).where(
    coverages.c.insured_person_id == bindparam("p_insured"),
    coverages.c.person_id != bindparam("p_insured"),
    _covers(coverages, bindparam("p_on")),
)
# household_at: the person's own coverage that day and the persons attached to them, in one probe
# of each index.
_HOUSEHOLD_AT: Select[Any] = select(
    coverages.c.person_id,
    coverages.c.insured_person_id,
    coverages.c.quality,
    coverages.c.rank,
).where(
    or_(
        coverages.c.person_id == bindparam("p_person"),
        coverages.c.insured_person_id == bindparam("p_person"),
    ),
    _covers(coverages, bindparam("p_on")),
)
_IS_ATTACHED = select(literal(1)).where(
    coverages.c.person_id == bindparam("p_person"),
    coverages.c.insured_person_id == bindparam("p_insured"),
    _covers(coverages, bindparam("p_on")),
)


class RightsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- hot reads ------------------------------------------------------------------------------

    def coverage_at(self, person_id: int, on: date) -> Sequence[Row[Any]]:
        """The coverage of the day, one row per active situation (or one with NULL situation
        columns); empty when not covered."""
        return (
            self.session.connection()
            .execute(_COVERAGE_AT, {"p_person": person_id, "p_on": on})
            .all()
        )

    def household_at(self, person_id: int, on: date) -> Sequence[Row[Any]]:
        return (
            self.session.connection()
            .execute(_HOUSEHOLD_AT, {"p_person": person_id, "p_on": on})
            .all()
        )

    def dependants_at(self, insured_person_id: int, on: date) -> Sequence[Row[Any]]:
        return (
            self.session.connection()
            .execute(_DEPENDANTS_AT, {"p_insured": insured_person_id, "p_on": on})
            .all()
        )

    def insured_of(self, person_ids: Sequence[int], on: date) -> list[tuple[int, int]]:
        """(person_id, insured_person_id) of the coverages of these persons covering ``on``
        whose insured person is someone else (a child attached to a parent): one statement."""
        if not person_ids:
            return []
        rows = self.session.connection().execute(
            select(coverages.c.person_id, coverages.c.insured_person_id).where(
                coverages.c.person_id.in_(list(person_ids)),
                coverages.c.insured_person_id != coverages.c.person_id,
                _covers(coverages, on),
            )
        )
        return [(int(person), int(insured)) for person, insured in rows]

    def is_attached(self, person_id: int, insured_person_id: int, on: date) -> bool:
        row = (
            self.session.connection()
            .execute(
                _IS_ATTACHED,
                {"p_person": person_id, "p_insured": insured_person_id, "p_on": on},
            )
            .first()
        )
        return row is not None

    # -- the ADRi-like query ----------------------------------------------------------------------

    def has_coverage(self, person_id: int) -> bool:
        return (
            self.session.execute(
                select(literal(1)).where(coverages.c.person_id == person_id).limit(1)
            ).first()
            is not None
        )

    def attached_with_rank(self, insured_person_id: int, rank: int) -> list[int]:
        """Persons ever attached to an insured person with this rank (the insured excluded)."""
        rows = self.session.execute(
            select(coverages.c.person_id)
            .distinct()
            .where(
                coverages.c.insured_person_id == insured_person_id,
                coverages.c.person_id != insured_person_id,
                coverages.c.rank == rank,
            )
        ).all()
        return sorted(int(row[0]) for row in rows)


# -- bulk import (``carnet rights import``) --------------------------------------------------------
#
# Validated lines are staged in temporary tables inside the import's one transaction; the rules
# that need the register or other lines (unknown matricule, birth date, duplicates, overlapping
# periods, twins' ranks) are checked with set-based SQL, then the periods are merged with a few
# statements. Temporary tables vanish with the transaction (ON COMMIT DROP on PostgreSQL; dropped
# explicitly on SQLite, where they would outlive it).

_staging_metadata = MetaData()

import_lines = Table(
    "carnet_rights_import_lines",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("nir", String(15), nullable=False),
    Column("insured_nir", String(15), nullable=False),
    Column("birth_date", String(10), nullable=False),
    Column("rank", SmallInteger, nullable=False),
    Column("quality", String(2), nullable=False),
    Column("regime", String(2), nullable=False),
    Column("fund", String(3), nullable=False),
    Column("centre", String(4), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    # Filled from the register after staging.
    Column("person_id", BigInteger),
    Column("insured_person_id", BigInteger),
    Column("register_birth_date", String(10)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
import_situations = Table(
    "carnet_rights_import_situations",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("code", String(4), nullable=False),
    Column("qualifier", String(4), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# Lines refused by a rule checked in SQL; ``other_line`` or the other period's dates qualify it.
import_rejects = Table(
    "carnet_rights_import_rejects",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("rule", String(40), nullable=False),
    Column("other_line", BigInteger),
    Column("other_start", Date),
    Column("other_end", Date),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGING_TABLES = (import_lines, import_situations, import_rejects)
_STAGING_INDEXES = (
    Index("ix_carnet_rights_import_lines_line", import_lines.c.line_no),
    Index("ix_carnet_rights_import_lines_nir", import_lines.c.nir),
    Index("ix_carnet_rights_import_lines_insured_nir", import_lines.c.insured_nir),
    Index(
        "ix_carnet_rights_import_lines_person",
        import_lines.c.person_id,
        import_lines.c.start_date,
    ),
    # The twins' rank check compares each dependant with the lines of the same insured person:
    # without this index it scans the whole staging per dependant (quadratic in the file).
    Index(
        "ix_carnet_rights_import_lines_insured",
        import_lines.c.insured_person_id,
        import_lines.c.birth_date,
        import_lines.c.rank,
    ),
    Index("ix_carnet_rights_import_situations_line", import_situations.c.line_no),
    Index("ix_carnet_rights_import_rejects_line", import_rejects.c.line_no),
)
LINE_COLUMNS: tuple[str, ...] = (
    "line_no",
    "nir",
    "insured_nir",
    "birth_date",
    "rank",
    "quality",
    "regime",
    "fund",
    "centre",
    "start_date",
    "end_date",
)
SITUATION_COLUMNS: tuple[str, ...] = ("line_no", "code", "qualifier", "start_date", "end_date")
# The coverage columns an import line sets.
TRACKED_COLUMNS: tuple[str, ...] = (
    "insured_person_id",
    "quality",
    "rank",
    "regime",
    "fund",
    "centre",
    "end_date",
)

RULE_UNKNOWN_NIR = "unknown_nir"
RULE_UNKNOWN_INSURED = "unknown_insured"
RULE_BIRTH_DATE = "birth_date"
RULE_INSURED_NOT_SELF = "insured_not_self"
RULE_DEPENDANT_SELF = "dependant_self"
RULE_DUPLICATE = "duplicate"
RULE_OVERLAP_IN_FILE = "overlap_in_file"
RULE_OVERLAP_REGISTERED = "overlap_registered"
RULE_RANK_IN_FILE = "rank_in_file"
RULE_RANK_REGISTERED = "rank_registered"


@dataclass(frozen=True)
class RejectedLine:
    line_no: int
    rule: str
    other_line: int | None
    other_start: date | None
    other_end: date | None


class RightsImportRepository:
    """SQL of the bulk import: ``begin``, ``stage`` batches, ``resolve``, checks, merge.

    PostgreSQL: staging by COPY, the rights tables locked ``SHARE ROW EXCLUSIVE`` (readers go on,
    other writers wait) before the checks, so that no concurrent write can invalidate them.
    SQLite: ``executemany`` and ``BEGIN IMMEDIATE`` (the write lock from the start).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- transaction and staging ----------------------------------------------------------------

    def begin(self) -> None:
        begin_import(self.session, _STAGING_TABLES)

    def stage(
        self, line_rows: Sequence[tuple[Any, ...]], situation_rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Append validated lines (tuples in LINE_/SITUATION_COLUMNS order, dates as ISO text)."""
        if line_rows:
            stage_rows(self.session, import_lines, LINE_COLUMNS, line_rows)
        if situation_rows:
            stage_rows(self.session, import_situations, SITUATION_COLUMNS, situation_rows)

    def lock_and_index(self) -> None:
        connection = self.session.connection()
        if self.dialect == "postgresql":
            connection.exec_driver_sql(
                f"LOCK TABLE {coverages.name}, {situations.name} IN SHARE ROW EXCLUSIVE MODE"
            )
        for index in _STAGING_INDEXES:
            index.create(connection)

    def analyse(self) -> None:
        if self.dialect == "postgresql":
            # Autovacuum never analyses temporary tables: without statistics the planner guesses.
            self.session.connection().exec_driver_sql(
                f"ANALYZE {import_lines.name}, {import_situations.name}"
            )

    def drop_staging(self) -> None:
        if self.dialect == "sqlite":
            connection = self.session.connection()
            for table in _STAGING_TABLES:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table.name}")

    # -- resolution against the register (register read) ----------------------------------------

    def resolve(self) -> None:
        """Fill person_id, insured_person_id and the register birth date of the staged lines."""
        s = import_lines
        for key, column in (("nir", "person_id"), ("insured_nir", "insured_person_id")):
            current = identity_service.current_person_id_sql(s.c[key])
            self.session.execute(update(s).values({column: current}))
            previous = identity_service.previous_person_id_sql(s.c[key])
            self.session.execute(update(s).where(s.c[column].is_(None)).values({column: previous}))
        self.session.execute(
            update(s)
            .where(s.c.person_id.is_not(None))
            .values(register_birth_date=identity_service.birth_date_sql(s.c.person_id))
        )

    # -- checks ---------------------------------------------------------------------------------

    def _reject(self, query: Any) -> None:
        self.session.execute(
            insert(import_rejects).from_select(
                ["line_no", "rule", "other_line", "other_start", "other_end"], query
            )
        )

    def find_line_conflicts(self) -> None:
        """Rules on one line against the register, and duplicate keys across lines."""
        s = import_lines
        other = import_lines.alias("other")

        def simple(rule: str, *conditions: Any) -> Any:
            return select(
                s.c.line_no,
                literal(rule, String),
                cast(null(), BigInteger),
                cast(null(), Date),
                cast(null(), Date),
            ).where(*conditions)

        self._reject(simple(RULE_UNKNOWN_NIR, s.c.person_id.is_(None)))
        self._reject(
            simple(
                RULE_UNKNOWN_INSURED, s.c.insured_person_id.is_(None), s.c.insured_nir != s.c.nir
            )
        )
        self._reject(
            simple(
                RULE_BIRTH_DATE,
                s.c.person_id.is_not(None),
                s.c.register_birth_date != s.c.birth_date,
            )
        )
        self._reject(
            simple(
                RULE_INSURED_NOT_SELF,
                s.c.quality == "00",
                s.c.insured_person_id != s.c.person_id,
            )
        )
        self._reject(
            simple(
                RULE_DEPENDANT_SELF,
                s.c.quality != "00",
                s.c.insured_person_id == s.c.person_id,
            )
        )
        # The same beneficiary and start on several lines: every occurrence is refused.
        self._reject(
            select(
                s.c.line_no,
                literal(RULE_DUPLICATE, String),
                select(func.min(other.c.line_no))
                .where(
                    other.c.person_id == s.c.person_id,
                    other.c.start_date == s.c.start_date,
                    other.c.line_no != s.c.line_no,
                )
                .scalar_subquery(),
                cast(null(), Date),
                cast(null(), Date),
            ).where(
                exists().where(
                    other.c.person_id == s.c.person_id,
                    other.c.start_date == s.c.start_date,
                    other.c.line_no != s.c.line_no,
                )
            )
        )

    def find_period_conflicts(self, *, all_lines: bool) -> int:
        """Overlapping periods and twins' ranks; returns the number of lines newly refused.

        ``all_lines``: compare every staged line with every other, refused or not, so that an
        atomic import lists every problem at once. Otherwise compare only the lines not refused
        yet (``--skip-invalid``: a line is not refused because of a line that is not imported).
        A registered period is replaced by the line of the same beneficiary and start, so it is
        compared only when no (compared) line replaces it.
        """
        s = import_lines
        other = import_lines.alias("other")
        c = coverages
        rejected = select(import_rejects.c.line_no)
        before = self.count_rejected_lines()

        def alive(table: Any) -> Any:
            return true() if all_lines else table.c.line_no.not_in(rejected)

        replaced = (
            exists()
            .where(
                other.c.person_id == c.c.person_id,
                other.c.start_date == c.c.start_date,
                alive(other),
            )
            .correlate(c)
        )
        nothing = (cast(null(), Date), cast(null(), Date))
        # Two lines of one beneficiary whose periods overlap: both are refused.
        in_file = and_(
            other.c.person_id == s.c.person_id,
            other.c.line_no != s.c.line_no,
            other.c.start_date != s.c.start_date,
            alive(other),
            _overlap(s.c.start_date, s.c.end_date, other.c.start_date, other.c.end_date),
        )
        self._reject(
            select(
                s.c.line_no,
                literal(RULE_OVERLAP_IN_FILE, String),
                select(func.min(other.c.line_no)).where(in_file).scalar_subquery(),
                *nothing,
            ).where(alive(s), exists().where(in_file))
        )
        # A line overlapping a registered period that no line replaces.
        registered = (
            select(
                s.c.line_no,
                literal(RULE_OVERLAP_REGISTERED, String),
                cast(null(), BigInteger),
                c.c.start_date,
                c.c.end_date,
            )
            .join_from(s, c, c.c.person_id == s.c.person_id)
            .where(
                alive(s),
                c.c.start_date != s.c.start_date,
                _overlap(s.c.start_date, s.c.end_date, c.c.start_date, c.c.end_date),
                ~replaced,
            )
        )
        self._reject(registered)
        # Twins: two beneficiaries of one insured person with the same birth date need distinct
        # ranks at the same time (ADRi tells them apart by insured NIR + birth date + rank).
        same_rank_in_file = and_(
            other.c.insured_person_id == s.c.insured_person_id,
            other.c.person_id != s.c.person_id,
            other.c.birth_date == s.c.birth_date,
            other.c.rank == s.c.rank,
            alive(other),
            _overlap(s.c.start_date, s.c.end_date, other.c.start_date, other.c.end_date),
        )
        dependant = s.c.insured_person_id != s.c.person_id
        self._reject(
            select(
                s.c.line_no,
                literal(RULE_RANK_IN_FILE, String),
                select(func.min(other.c.line_no)).where(same_rank_in_file).scalar_subquery(),
                *nothing,
            ).where(alive(s), dependant, exists().where(same_rank_in_file))
        )
        self._reject(
            select(
                s.c.line_no,
                literal(RULE_RANK_REGISTERED, String),
                cast(null(), BigInteger),
                c.c.start_date,
                c.c.end_date,
            )
            .join_from(s, c, c.c.insured_person_id == s.c.insured_person_id)
            .where(
                alive(s),
                dependant,
                c.c.person_id != s.c.person_id,
                c.c.rank == s.c.rank,
                identity_service.birth_date_sql(c.c.person_id) == s.c.birth_date,
                _overlap(s.c.start_date, s.c.end_date, c.c.start_date, c.c.end_date),
                ~replaced,
            )
        )
        return self.count_rejected_lines() - before

    def count_rejected_lines(self) -> int:
        return int(self.session.scalar(select(func.count(distinct(import_rejects.c.line_no)))) or 0)

    def rejected_lines(self, limit: int) -> list[RejectedLine]:
        r = import_rejects
        first_lines = (
            select(r.c.line_no).distinct().order_by(r.c.line_no).limit(limit).subquery("first")
        )
        rows = self.session.execute(
            select(r.c.line_no, r.c.rule, r.c.other_line, r.c.other_start, r.c.other_end)
            .where(r.c.line_no.in_(select(first_lines.c.line_no)))
            .order_by(r.c.line_no, r.c.rule, r.c.other_line, r.c.other_start)
        ).all()
        return [
            RejectedLine(
                line_no=int(row.line_no),
                rule=str(row.rule),
                other_line=None if row.other_line is None else int(row.other_line),
                other_start=row.other_start,
                other_end=row.other_end,
            )
            for row in rows
        ]

    def drop_rejected(self) -> None:
        """Remove the refused lines from the staging (--skip-invalid)."""
        rejected = select(import_rejects.c.line_no)
        self.session.execute(delete(import_lines).where(import_lines.c.line_no.in_(rejected)))
        self.session.execute(
            delete(import_situations).where(import_situations.c.line_no.in_(rejected))
        )

    def count_staged(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(import_lines)) or 0)

    # -- merge ----------------------------------------------------------------------------------

    def _situations_differ(self, c: Any, s: Any) -> Any:
        """The staged situations of line ``s`` differ from the registered ones of coverage ``c``."""
        staged, kept = import_situations, situations

        def same(a: Any, b: Any) -> Any:
            return and_(
                a.c.code == b.c.code,
                a.c.qualifier == b.c.qualifier,
                a.c.start_date == b.c.start_date,
                a.c.end_date.is_not_distinct_from(b.c.end_date),
            )

        new = (
            select(staged.c.line_no)
            .where(
                staged.c.line_no == s.c.line_no,
                # Correlated explicitly: left to itself, SQLAlchemy puts the coverages table in
                # this subquery's FROM and compares with every period's situations.
                ~exists()
                .where(kept.c.coverage_id == c.c.id, same(staged, kept))
                .correlate(c, staged),
            )
            .correlate(c, s)
            .exists()
        )
        gone = (
            select(kept.c.id)
            .where(
                kept.c.coverage_id == c.c.id,
                ~exists()
                .where(staged.c.line_no == s.c.line_no, same(staged, kept))
                .correlate(s, kept),
            )
            .correlate(c, s)
            .exists()
        )
        return or_(new, gone)

    def update_changed(self, now: datetime) -> int:
        """Update the registered periods whose line differs, and replace their situations."""
        c, s = coverages, import_lines
        changed_columns = or_(*(c.c[name].is_distinct_from(s.c[name]) for name in TRACKED_COLUMNS))
        differ = self._situations_differ(c, s)
        # The periods whose situations are replaced; the update below changes no key column, so
        # this still names them after it.
        stale = (
            select(c.c.id)
            .join_from(c, s, and_(c.c.person_id == s.c.person_id, c.c.start_date == s.c.start_date))
            .where(self._situations_differ(c, s))
        )
        result = self.session.execute(
            update(c)
            .where(
                c.c.person_id == s.c.person_id,
                c.c.start_date == s.c.start_date,
                or_(changed_columns, differ),
            )
            .values(
                {
                    **{name: s.c[name] for name in TRACKED_COLUMNS},
                    "updated_at": bindparam("now", now, type_=UTCDateTime()),
                }
            )
        )
        self.session.execute(delete(situations).where(situations.c.coverage_id.in_(stale)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def insert_new(self, now: datetime) -> int:
        c, s = coverages, import_lines
        registered = coverages.alias("registered")
        timestamp = bindparam("now", now, type_=UTCDateTime())
        columns = ["person_id", "start_date", *TRACKED_COLUMNS]
        result = self.session.execute(
            insert(c).from_select(
                [*columns, "created_at", "updated_at"],
                select(*(s.c[name] for name in columns), timestamp, timestamp).where(
                    ~exists().where(
                        registered.c.person_id == s.c.person_id,
                        registered.c.start_date == s.c.start_date,
                    )
                ),
            ),
            execution_options={"preserve_rowcount": True},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def insert_situations(self) -> int:
        """Add the staged situations of the periods that have none (new or just replaced)."""
        c, s, st = coverages, import_lines, import_situations
        result = self.session.execute(
            insert(situations).from_select(
                ["coverage_id", "person_id", "code", "qualifier", "start_date", "end_date"],
                select(
                    c.c.id, c.c.person_id, st.c.code, st.c.qualifier, st.c.start_date, st.c.end_date
                )
                .join_from(st, s, s.c.line_no == st.c.line_no)
                .join(c, and_(c.c.person_id == s.c.person_id, c.c.start_date == s.c.start_date))
                .where(~exists().where(situations.c.coverage_id == c.c.id)),
            ),
            execution_options={"preserve_rowcount": True},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
