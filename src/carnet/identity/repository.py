"""All SQL on the register. The lookup path uses Core statements: rows, not ORM objects."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
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
    update,
)
from sqlalchemy.orm import Session

from carnet.db import UTCDateTime
from carnet.identity.models import InsHistory, Person
from carnet.kit.bulk_staging import begin_import, stage_rows

persons = Person.__table__
ins_history = InsHistory.__table__


_FIND_BY_TRAITS = select(persons).where(
    persons.c.birth_name == bindparam("p_name"),
    persons.c.birth_date == bindparam("p_date"),
    persons.c.sex == bindparam("p_sex"),
)


# Other domains' bulk reads (``identity.service.register_names`` and friends): prebuilt.
_NAME_COLUMNS = (
    persons.c.id,
    persons.c.matricule,
    persons.c.kind,
    persons.c.birth_name,
    persons.c.first_names,
    persons.c.used_name,
    persons.c.used_first_name,
    persons.c.sex,
    persons.c.birth_date,
)
_NAMES_BY_IDS: Select[Any] = select(*_NAME_COLUMNS).where(
    persons.c.id.in_(bindparam("p_ids", expanding=True))
)
_NAMES_BY_MATRICULE: Select[Any] = select(*_NAME_COLUMNS).where(
    persons.c.matricule == bindparam("p_matricule")
)
_NAMES_BY_PREVIOUS_MATRICULE: Select[Any] = (
    select(*_NAME_COLUMNS)
    .join(ins_history, ins_history.c.person_id == persons.c.id)
    .where(ins_history.c.matricule == bindparam("p_matricule"))
    .limit(1)
)
_HISTORY = (
    select(ins_history)
    .where(ins_history.c.person_id == bindparam("p_person"))
    .order_by(ins_history.c.id)
)


class PersonRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- bulk reads for other domains (rows of names, no history) --------------------------------

    def names_by_ids(self, person_ids: Sequence[int]) -> Sequence[Row[Any]]:
        return self.session.connection().execute(_NAMES_BY_IDS, {"p_ids": person_ids}).all()

    def names_by_matricule(self, matricule: str) -> Row[Any] | None:
        """Names of the person holding this matricule now, else of the one who held it before."""
        connection = self.session.connection()
        params = {"p_matricule": matricule}
        return (
            connection.execute(_NAMES_BY_MATRICULE, params).first()
            or connection.execute(_NAMES_BY_PREVIOUS_MATRICULE, params).first()
        )

    def find_by_traits(self, birth_name: str, birth_date: str, sex: str) -> Sequence[Row[Any]]:
        # The INSi-like hot path: a prebuilt statement on the connection, rows not ORM objects.
        return (
            self.session.connection()
            .execute(_FIND_BY_TRAITS, {"p_name": birth_name, "p_date": birth_date, "p_sex": sex})
            .all()
        )

    def get_by_matricule(self, matricule: str) -> Row[Any] | None:
        return self.session.execute(select(persons).where(persons.c.matricule == matricule)).first()

    def get_by_id(self, person_id: int) -> Row[Any] | None:
        return self.session.execute(select(persons).where(persons.c.id == person_id)).first()

    def find_by_previous_matricule(self, matricule: str) -> Row[Any] | None:
        """The current identity of someone whose old matricule (NIA, merged NIR) is given."""
        return self.session.execute(
            select(persons)
            .join(ins_history, ins_history.c.person_id == persons.c.id)
            .where(ins_history.c.matricule == matricule)
        ).first()

    def history(self, person_id: int) -> Sequence[Row[Any]]:
        return self.session.connection().execute(_HISTORY, {"p_person": person_id}).all()

    def get_person_for_update(self, matricule: str) -> Person | None:
        """The ORM entity, locked until commit on PostgreSQL (single-person register writes)."""
        return self.session.scalars(
            select(Person).where(Person.matricule == matricule).with_for_update()
        ).one_or_none()

    def add_person(self, person: Person) -> Person:
        self.session.add(person)
        self.session.flush()
        return person

    def add_history(self, person_id: int, matricule: str, kind: str, ended_at: datetime) -> None:
        self.session.add(
            InsHistory(person_id=person_id, matricule=matricule, kind=kind, ended_at=ended_at)
        )
        self.session.flush()

    def get_by_matricule_of_kind(self, matricule: str, kind: str | None) -> Row[Any] | None:
        """The person whose current matricule is this one and, when given, of this kind."""
        stmt = select(persons).where(persons.c.matricule == matricule)
        if kind is not None:
            stmt = stmt.where(persons.c.kind == kind)
        return self.session.execute(stmt).first()

    def find_by_previous_matricule_of_kind(
        self, matricule: str, kind: str | None
    ) -> Row[Any] | None:
        """The current identity of someone who held this matricule (of this kind) before."""
        stmt = (
            select(persons)
            .join(ins_history, ins_history.c.person_id == persons.c.id)
            .where(ins_history.c.matricule == matricule)
        )
        if kind is not None:
            stmt = stmt.where(ins_history.c.kind == kind)
        return self.session.execute(stmt).first()


# -- bulk import of the register (``carnet registry import``) ---------------------------------
#
# The import stages the validated lines in temporary tables, checks the rules that span lines
# (duplicates, previous matricules) with set-based SQL, then merges the staging into the register.
# Everything runs in the caller's one transaction; the temporary tables vanish with it (ON COMMIT
# DROP on PostgreSQL; explicitly dropped on SQLite, where they would outlive the transaction).

_staging_metadata = MetaData()
# The register's tables, typed as Table (``__table__`` is typed as a FromClause).
_persons = typing.cast(Table, Person.__table__)
_ins_history = typing.cast(Table, InsHistory.__table__)

import_staging = Table(
    "carnet_import_staging",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("matricule", String(15), nullable=False),
    Column("kind", String(3), nullable=False),
    Column("birth_name", String(100), nullable=False),
    Column("first_names", String(255), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("birth_date", String(10), nullable=False),
    Column("birth_place", String(5)),
    Column("used_name", String(100)),
    Column("used_first_name", String(100)),
    Column("death_date", String(10)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# One row per previous matricule of a line; ``position`` is its 1-based rank in previous_nirs.
import_previous = Table(
    "carnet_import_previous",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("matricule", String(15), nullable=False),
    Column("previous", String(15), nullable=False),
    Column("kind", String(3), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# Lines refused by a cross-line rule. ``other_line``/``position``/``n`` qualify the rule; no
# matricule is stored or reported (a NIR must not end up in logs or error reports).
import_rejects = Table(
    "carnet_import_rejects",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("rule", String(40), nullable=False),
    Column("other_line", BigInteger),
    Column("position", Integer),
    Column("n", BigInteger),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGING_TABLES = (import_staging, import_previous, import_rejects)
_STAGING_INDEXES = (
    Index("ix_carnet_import_staging_matricule", import_staging.c.matricule),
    Index("ix_carnet_import_previous_previous", import_previous.c.previous),
    Index("ix_carnet_import_previous_matricule", import_previous.c.matricule),
    Index("ix_carnet_import_rejects_line_no", import_rejects.c.line_no),
)

STAGING_COLUMNS: tuple[str, ...] = tuple(c.name for c in import_staging.columns)
PREVIOUS_COLUMNS: tuple[str, ...] = tuple(c.name for c in import_previous.columns)
# The columns an import sets (all but line_no and the matricule); any difference, or a new
# previous matricule, makes the person "updated".
TRACKED_COLUMNS: tuple[str, ...] = STAGING_COLUMNS[2:]

# Cross-line rules (see carnet.identity.importer for their meaning and messages).
RULE_DUPLICATE = "duplicate"
RULE_PREVIOUS_IS_CURRENT_IN_FILE = "previous_is_current_in_file"
RULE_CURRENT_IS_PREVIOUS_IN_FILE = "current_is_previous_in_file"
RULE_PREVIOUS_SHARED_IN_FILE = "previous_shared_in_file"
RULE_PREVIOUS_IS_REGISTERED_PERSON = "previous_is_registered_person"
RULE_PREVIOUS_OF_REGISTERED_PERSON = "previous_of_registered_person"
RULE_CURRENT_REPLACED_IN_REGISTER = "current_replaced_in_register"


@dataclass(frozen=True)
class RejectedLine:
    line_no: int
    rule: str
    other_line: int | None
    position: int | None
    n: int | None


class RegisterImportRepository:
    """SQL of the bulk import. Call ``begin`` first, then stage, check, merge, in one transaction.

    PostgreSQL: staging by COPY (psycopg 3 ``cursor.copy``), then ``UPDATE … FROM`` the staging
    for the changed persons and ``INSERT … SELECT … WHERE NOT EXISTS`` for the new ones, under a
    ``SHARE ROW EXCLUSIVE`` lock on the register (readers go on, other writers wait). This is
    preferred to ``INSERT … ON CONFLICT DO UPDATE``, which draws an identity value for every
    conflicting row (a re-import of 60 million persons would burn 60 million ids) and cannot tell
    inserted from updated rows without relying on ``xmax``; the lock makes the two statements as
    safe as one. SQLite: ``executemany`` into the staging and the same two statements (SQLite 3.33+
    for ``UPDATE … FROM``), the transaction opened with ``BEGIN IMMEDIATE`` so that the write lock
    is taken before anything is read (no stale snapshot, no lock upgrade failure midway).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- transaction and staging ----------------------------------------------------------------

    def begin(self) -> None:
        """Open the import transaction and create empty staging tables (kit.bulk_staging)."""
        begin_import(self.session, _STAGING_TABLES)

    def stage(
        self, persons_rows: Sequence[tuple[Any, ...]], previous_rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Append a batch of validated lines (tuples in STAGING_/PREVIOUS_COLUMNS order)."""
        if persons_rows:
            stage_rows(self.session, import_staging, STAGING_COLUMNS, persons_rows)
        if previous_rows:
            stage_rows(self.session, import_previous, PREVIOUS_COLUMNS, previous_rows)

    def lock_and_index(self) -> None:
        """Lock the register against other writers, then index and analyse the staging."""
        connection = self.session.connection()
        if self.dialect == "postgresql":
            connection.exec_driver_sql(
                f"LOCK TABLE {_persons.name}, {_ins_history.name} IN SHARE ROW EXCLUSIVE MODE"
            )
        # (SQLite: BEGIN IMMEDIATE already holds the database's write lock.)
        for index in _STAGING_INDEXES:
            index.create(connection)
        if self.dialect == "postgresql":
            # Autovacuum never analyses temporary tables: without statistics the planner guesses.
            connection.exec_driver_sql(f"ANALYZE {import_staging.name}, {import_previous.name}")

    def drop_staging(self) -> None:
        """SQLite only: drop the staging tables (PostgreSQL drops them at commit)."""
        if self.dialect == "sqlite":
            connection = self.session.connection()
            for table in _STAGING_TABLES:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table.name}")

    # -- cross-line checks ----------------------------------------------------------------------

    def find_conflicts(self) -> None:
        """Record in the rejects table every staged line that breaks a cross-line rule."""
        s, sp, p, h = import_staging, import_previous, _persons, _ins_history
        other_s = import_staging.alias("other_s")
        other_sp = import_previous.alias("other_sp")
        columns = ["line_no", "rule", "other_line", "position", "n"]

        def no_int() -> Any:
            return cast(null(), BigInteger)

        def no_position() -> Any:
            return cast(null(), Integer)

        duplicated = (
            select(s.c.matricule, func.count().label("n"))
            .group_by(s.c.matricule)
            .having(func.count() > 1)
            .subquery("duplicated")
        )
        shared = (
            select(sp.c.previous, func.count().label("n"))
            .group_by(sp.c.previous)
            .having(func.count() > 1)
            .subquery("shared")
        )
        rules = [
            # The same current matricule on several lines: every occurrence is refused.
            select(
                s.c.line_no,
                literal(RULE_DUPLICATE, String),
                select(func.min(other_s.c.line_no))
                .where(other_s.c.matricule == s.c.matricule, other_s.c.line_no != s.c.line_no)
                .scalar_subquery(),
                no_position(),
                duplicated.c.n,
            ).join_from(s, duplicated, duplicated.c.matricule == s.c.matricule),
            # A previous matricule that another line declares current: both lines are refused.
            select(
                sp.c.line_no,
                literal(RULE_PREVIOUS_IS_CURRENT_IN_FILE, String),
                s.c.line_no,
                sp.c.position,
                no_int(),
            ).join_from(sp, s, s.c.matricule == sp.c.previous),
            select(
                s.c.line_no,
                literal(RULE_CURRENT_IS_PREVIOUS_IN_FILE, String),
                sp.c.line_no,
                sp.c.position,
                no_int(),
            ).join_from(sp, s, s.c.matricule == sp.c.previous),
            # The same previous matricule claimed by several lines.
            select(
                sp.c.line_no,
                literal(RULE_PREVIOUS_SHARED_IN_FILE, String),
                select(func.min(other_sp.c.line_no))
                .where(other_sp.c.previous == sp.c.previous, other_sp.c.line_no != sp.c.line_no)
                .scalar_subquery(),
                sp.c.position,
                shared.c.n,
            ).join_from(sp, shared, shared.c.previous == sp.c.previous),
            # A previous matricule that is the current matricule of a registered person.
            select(
                sp.c.line_no,
                literal(RULE_PREVIOUS_IS_REGISTERED_PERSON, String),
                no_int(),
                sp.c.position,
                no_int(),
            ).where(exists().where(p.c.matricule == sp.c.previous)),
            # A previous matricule already in the history of another registered person.
            select(
                sp.c.line_no,
                literal(RULE_PREVIOUS_OF_REGISTERED_PERSON, String),
                no_int(),
                sp.c.position,
                no_int(),
            ).where(
                exists()
                .select_from(h.join(p, p.c.id == h.c.person_id))
                .where(h.c.matricule == sp.c.previous, p.c.matricule != sp.c.matricule)
            ),
            # A current matricule that the register records as replaced for another person.
            select(
                s.c.line_no,
                literal(RULE_CURRENT_REPLACED_IN_REGISTER, String),
                no_int(),
                no_position(),
                no_int(),
            ).where(
                exists()
                .select_from(h.join(p, p.c.id == h.c.person_id))
                .where(h.c.matricule == s.c.matricule, p.c.matricule != s.c.matricule)
            ),
        ]
        for rule in rules:
            self.session.execute(insert(import_rejects).from_select(columns, rule))

    def count_rejected_lines(self) -> int:
        return int(self.session.scalar(select(func.count(distinct(import_rejects.c.line_no)))) or 0)

    def rejected_lines(self, limit: int) -> list[RejectedLine]:
        """The reasons of the first ``limit`` rejected lines, by line number."""
        r = import_rejects
        first_lines = (
            select(r.c.line_no).distinct().order_by(r.c.line_no).limit(limit).subquery("first")
        )
        rows = self.session.execute(
            select(r.c.line_no, r.c.rule, r.c.other_line, r.c.position, r.c.n)
            .where(r.c.line_no.in_(select(first_lines.c.line_no)))
            .order_by(r.c.line_no, r.c.rule, r.c.position, r.c.other_line)
        ).all()
        return [
            RejectedLine(
                line_no=int(row.line_no),
                rule=str(row.rule),
                other_line=None if row.other_line is None else int(row.other_line),
                position=None if row.position is None else int(row.position),
                n=None if row.n is None else int(row.n),
            )
            for row in rows
        ]

    def drop_rejected(self) -> None:
        """Remove the rejected lines from the staging (--skip-invalid)."""
        rejected = select(import_rejects.c.line_no)
        self.session.execute(delete(import_staging).where(import_staging.c.line_no.in_(rejected)))
        self.session.execute(delete(import_previous).where(import_previous.c.line_no.in_(rejected)))

    def count_staged(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(import_staging)) or 0)

    # -- merge ----------------------------------------------------------------------------------

    def update_changed(self, now: datetime) -> int:
        """Update the registered persons whose staged line differs; returns how many.

        A difference is any tracked column, or a previous matricule not yet in the person's
        history. ``version`` is bumped and ``updated_at`` set only for those persons.
        """
        s, p, sp, h = import_staging, _persons, import_previous, _ins_history
        known = (
            select(h.c.id)
            .where(h.c.person_id == p.c.id, h.c.matricule == sp.c.previous)
            .correlate(p, sp)
        )
        new_history = (
            select(sp.c.line_no)
            .where(sp.c.matricule == p.c.matricule, ~known.exists())
            .correlate(p)
            .exists()
        )
        changed = or_(*(p.c[name].is_distinct_from(s.c[name]) for name in TRACKED_COLUMNS))
        result = self.session.execute(
            update(p)
            .where(p.c.matricule == s.c.matricule, or_(changed, new_history))
            .values(
                {
                    **{name: s.c[name] for name in TRACKED_COLUMNS},
                    "version": p.c.version + 1,
                    "updated_at": bindparam("now", now, type_=UTCDateTime()),
                }
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def insert_new(self, now: datetime) -> int:
        """Insert the staged persons whose matricule is not registered; returns how many."""
        s = import_staging
        registered = _persons.alias("registered")
        timestamp = bindparam("now", now, type_=UTCDateTime())
        columns = ["matricule", *TRACKED_COLUMNS]
        # SQLAlchemy keeps the rowcount of UPDATE/DELETE only, unless asked.
        result = self.session.execute(
            insert(_persons).from_select(
                [*columns, "version", "created_at", "updated_at"],
                select(
                    *(s.c[name] for name in columns),
                    literal(1, Integer),
                    timestamp,
                    timestamp,
                ).where(~exists().where(registered.c.matricule == s.c.matricule)),
            ),
            execution_options={"preserve_rowcount": True},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def insert_history(self, now: datetime) -> int:
        """Add the staged previous matricules missing from the persons' history."""
        sp, p = import_previous, _persons
        known = _ins_history.alias("known")
        # SQLAlchemy keeps the rowcount of UPDATE/DELETE only, unless asked.
        result = self.session.execute(
            insert(_ins_history).from_select(
                ["person_id", "matricule", "kind", "ended_at"],
                select(p.c.id, sp.c.previous, sp.c.kind, bindparam("now", now, type_=UTCDateTime()))
                .join_from(sp, p, p.c.matricule == sp.c.matricule)
                .where(
                    ~exists().where(known.c.person_id == p.c.id, known.c.matricule == sp.c.previous)
                ),
            ),
            execution_options={"preserve_rowcount": True},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# -- SQL expressions for other domains' set-based work (imports) -----------------------------------


def current_person_id_sql(matricule: Any) -> Any:
    """The person key whose current matricule is ``matricule`` (a column), as a scalar subquery."""
    return select(_persons.c.id).where(_persons.c.matricule == matricule).scalar_subquery()


def previous_person_id_sql(matricule: Any) -> Any:
    """The person key who held ``matricule`` (a column) before, as a scalar subquery."""
    return (
        select(func.min(_ins_history.c.person_id))
        .where(_ins_history.c.matricule == matricule)
        .scalar_subquery()
    )


def birth_date_sql(person_id: Any) -> Any:
    """The register birth date of ``person_id`` (a column), as a scalar subquery."""
    return select(_persons.c.birth_date).where(_persons.c.id == person_id).scalar_subquery()
