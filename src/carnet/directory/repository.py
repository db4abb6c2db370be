"""All SQL of the directory. Reads are Core statements (rows): ``acting_professional`` runs on
every apCV request."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from carnet.db import UTCDateTime
from carnet.directory.models import Practice, Professional
from carnet.kit.bulk_staging import begin_import, stage_rows

professionals = typing.cast(Table, Professional.__table__)
practices = typing.cast(Table, Practice.__table__)


class ProfessionalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_id(self, professional_id: int) -> Row[Any] | None:
        return self.session.execute(
            select(professionals).where(professionals.c.id == professional_id)
        ).first()

    def get_by_rpps(self, rpps: str) -> Row[Any] | None:
        return self.session.execute(
            select(professionals).where(professionals.c.rpps == rpps)
        ).first()

    def get_by_idnat(self, idnat_ps: str) -> Row[Any] | None:
        return self.session.execute(
            select(professionals).where(professionals.c.idnat_ps == idnat_ps)
        ).first()

    def practices_of(self, professional_ids: Sequence[int]) -> Sequence[Row[Any]]:
        if not professional_ids:
            return []
        return self.session.execute(
            select(practices)
            .where(practices.c.professional_id.in_(professional_ids))
            .order_by(practices.c.professional_id, practices.c.structure_identifier)
        ).all()

    def search(
        self, name_key: str | None, profession: str | None, limit: int, offset: int
    ) -> tuple[int, Sequence[Row[Any]]]:
        """Professionals whose normalised family name starts with ``name_key``."""
        conditions = []
        if name_key:
            conditions.append(professionals.c.family_name_key.startswith(name_key, autoescape=True))
        if profession:
            conditions.append(professionals.c.profession_code == profession)
        total = self.session.scalar(
            select(func.count()).select_from(professionals).where(*conditions)
        )
        rows = self.session.execute(
            select(professionals)
            .where(*conditions)
            .order_by(
                professionals.c.family_name_key, professionals.c.given_name, professionals.c.id
            )
            .limit(limit)
            .offset(offset)
        ).all()
        return int(total or 0), rows


# -- bulk import (``carnet directory import``) -------------------------------------------------
#
# Like the register import: the validated lines are staged in temporary tables, the rules that
# span lines are checked in SQL, then the directory is merged with a few set-based statements,
# all in the caller's one transaction (the temporary tables vanish with it: ON COMMIT DROP on
# PostgreSQL, dropped explicitly on SQLite).

_staging_metadata = MetaData()

import_lines = Table(
    "carnet_directory_lines",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("idnat_ps", String(40), nullable=False),
    Column("rpps", String(11)),
    Column("family_name", String(100), nullable=False),
    Column("family_name_key", String(100), nullable=False),
    Column("given_name", String(100), nullable=False),
    Column("profession_code", String(4), nullable=False),
    Column("specialty_code", String(10)),
    Column("active", Boolean, nullable=False),
    Column("structure_identifier", String(20)),
    Column("structure_name", String(200)),
    Column("commune", String(100)),
    Column("structure_id", Integer),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# One row per professional of the file, after the cross-line checks. ``state``: N new, C changed
# (columns or places of practice), S same.
import_professionals = Table(
    "carnet_directory_professionals",
    _staging_metadata,
    Column("idnat_ps", String(40), nullable=False, primary_key=True),
    Column("first_line", BigInteger, nullable=False),
    Column("rpps", String(11)),
    Column("family_name", String(100), nullable=False),
    Column("family_name_key", String(100), nullable=False),
    Column("given_name", String(100), nullable=False),
    Column("profession_code", String(4), nullable=False),
    Column("specialty_code", String(10)),
    Column("active", Boolean, nullable=False),
    Column("professional_id", Integer),
    Column("state", String(1)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# The places of practice of the file, resolved to professional and structure ids.
import_practices = Table(
    "carnet_directory_practices",
    _staging_metadata,
    Column("professional_id", Integer, nullable=False),
    Column("structure_id", Integer, nullable=False),
    Column("structure_identifier", String(20), nullable=False),
    Column("structure_name", String(200), nullable=False),
    Column("commune", String(100)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# Structures created or found by vigilance for identifiers the directory did not know yet.
import_structures = Table(
    "carnet_directory_structures",
    _staging_metadata,
    Column("structure_identifier", String(20), nullable=False, primary_key=True),
    Column("structure_id", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
# Lines refused by a cross-line rule.
import_rejects = Table(
    "carnet_directory_rejects",
    _staging_metadata,
    Column("line_no", BigInteger, nullable=False),
    Column("rule", String(40), nullable=False),
    Column("other_line", BigInteger),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGING_TABLES = (
    import_lines,
    import_professionals,
    import_practices,
    import_structures,
    import_rejects,
)
_LINE_INDEXES = (
    Index("ix_carnet_directory_lines_idnat", import_lines.c.idnat_ps, import_lines.c.line_no),
    Index(
        "ix_carnet_directory_lines_structure",
        import_lines.c.structure_identifier,
        import_lines.c.line_no,
    ),
    Index("ix_carnet_directory_rejects_line_no", import_rejects.c.line_no),
)
_PRACTICE_INDEX = Index(
    "ix_carnet_directory_practices_key",
    import_practices.c.professional_id,
    import_practices.c.structure_id,
)

LINE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in import_lines.columns if c.name != "structure_id"
)
# The professional's own columns: lines of one professional must agree on all of them.
PROFESSIONAL_COLUMNS: tuple[str, ...] = (
    "rpps",
    "family_name",
    "family_name_key",
    "given_name",
    "profession_code",
    "specialty_code",
    "active",
)
_PLACE_COLUMNS = ("structure_identifier", "structure_name", "commune")

RULE_CONFLICT = "conflict"
RULE_DUPLICATE_PLACE = "duplicate_place"


class DirectoryImportRepository:
    """SQL of the directory import. ``begin`` first, then stage, check, merge: one transaction.

    PostgreSQL: staging by COPY, the directory locked ``SHARE ROW EXCLUSIVE`` (readers go on,
    another import waits). SQLite: ``executemany``, the transaction opened ``BEGIN IMMEDIATE``.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- transaction and staging ----------------------------------------------------------------

    def begin(self) -> None:
        begin_import(self.session, _STAGING_TABLES)

    def stage(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append validated lines (tuples in ``LINE_COLUMNS`` order)."""
        if not rows:
            return
        stage_rows(self.session, import_lines, LINE_COLUMNS, rows)

    def lock_and_index(self) -> None:
        connection = self.session.connection()
        if self.dialect == "postgresql":
            connection.exec_driver_sql(
                f"LOCK TABLE {professionals.name}, {practices.name} IN SHARE ROW EXCLUSIVE MODE"
            )
        for index in _LINE_INDEXES:
            index.create(connection)
        if self.dialect == "postgresql":
            connection.exec_driver_sql(f"ANALYZE {import_lines.name}")

    def drop_staging(self) -> None:
        """SQLite only: drop the staging tables (PostgreSQL drops them at commit)."""
        if self.dialect == "sqlite":
            connection = self.session.connection()
            for table in _STAGING_TABLES:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table.name}")

    # -- cross-line checks ----------------------------------------------------------------------

    def find_conflicts(self) -> None:
        """Record in the rejects every staged line that breaks a cross-line rule.

        * The lines of one professional (same idNat_PS) disagree on the professional's columns:
          every line of that professional is refused (nothing tells which one is right).
        * The same place of practice (professional and structure identifier) on several lines:
          every occurrence is refused.
        """
        s = import_lines
        other = import_lines.alias("other")
        differs = or_(*(other.c[name].is_distinct_from(s.c[name]) for name in PROFESSIONAL_COLUMNS))
        conflicting_line = (
            select(func.min(other.c.line_no))
            .where(other.c.idnat_ps == s.c.idnat_ps, differs)
            .scalar_subquery()
        )
        self.session.execute(
            insert(import_rejects).from_select(
                ["line_no", "rule", "other_line"],
                select(s.c.line_no, literal(RULE_CONFLICT, String), conflicting_line).where(
                    exists().where(other.c.idnat_ps == s.c.idnat_ps, differs)
                ),
            )
        )
        same_place = (
            other.c.idnat_ps == s.c.idnat_ps,
            other.c.structure_identifier == s.c.structure_identifier,
            other.c.line_no != s.c.line_no,
        )
        self.session.execute(
            insert(import_rejects).from_select(
                ["line_no", "rule", "other_line"],
                select(
                    s.c.line_no,
                    literal(RULE_DUPLICATE_PLACE, String),
                    select(func.min(other.c.line_no)).where(*same_place).scalar_subquery(),
                ).where(s.c.structure_identifier.is_not(None), exists().where(*same_place)),
            )
        )

    def count_rejected_lines(self) -> int:
        return int(
            self.session.scalar(select(func.count(import_rejects.c.line_no.distinct()))) or 0
        )

    def rejected_lines(self, limit: int) -> list[tuple[int, str, int | None]]:
        """(line_no, rule, other_line) of the first ``limit`` rejected lines."""
        r = import_rejects
        first = select(r.c.line_no).distinct().order_by(r.c.line_no).limit(limit).subquery()
        rows = self.session.execute(
            select(r.c.line_no, r.c.rule, r.c.other_line)
            .where(r.c.line_no.in_(select(first.c.line_no)))
            .order_by(r.c.line_no, r.c.rule)
        ).all()
        return [
            (int(line_no), str(rule), None if other is None else int(other))
            for line_no, rule, other in rows
        ]

    def drop_rejected(self) -> None:
        self.session.execute(
            delete(import_lines).where(import_lines.c.line_no.in_(select(import_rejects.c.line_no)))
        )

    def count_staged(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(import_lines)) or 0)

    # -- structures -----------------------------------------------------------------------------

    def resolve_known_structures(self) -> None:
        """Structure ids of the identifiers the directory already holds (its own practices)."""
        s, p = import_lines, practices
        # A join on a grouped derived table, not a correlated min(): PostgreSQL would answer
        # min(structure_id) by walking the structure_id index for every staged line.
        known = (
            select(p.c.structure_identifier, func.min(p.c.structure_id).label("structure_id"))
            .group_by(p.c.structure_identifier)
            .subquery("known")
        )
        self.session.execute(
            update(s)
            .where(s.c.structure_identifier == known.c.structure_identifier)
            .values(structure_id=known.c.structure_id)
        )

    def unknown_structures(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        """(identifier, name on its first line) of unresolved identifiers, by identifier."""
        s = import_lines
        first = import_lines.alias("first")
        query = (
            select(s.c.structure_identifier, s.c.structure_name)
            .where(
                s.c.structure_identifier.is_not(None),
                s.c.structure_id.is_(None),
                s.c.line_no
                == select(func.min(first.c.line_no))
                .where(first.c.structure_identifier == s.c.structure_identifier)
                .scalar_subquery(),
            )
            .order_by(s.c.structure_identifier)
            .limit(limit)
        )
        if after is not None:
            query = query.where(s.c.structure_identifier > after)
        return [(str(r[0]), str(r[1])) for r in self.session.execute(query).all()]

    def add_structure_ids(self, ids: dict[str, int]) -> None:
        stage_rows(
            self.session, import_structures, ("structure_identifier", "structure_id"), ids.items()
        )

    def resolve_new_structures(self) -> None:
        s, m = import_lines, import_structures
        self._analyze(m)
        self.session.execute(
            update(s)
            .where(s.c.structure_id.is_(None), s.c.structure_identifier == m.c.structure_identifier)
            .values(structure_id=m.c.structure_id)
        )

    def _analyze(self, table: Table) -> None:
        # Autovacuum never analyses temporary tables: without statistics the planner guesses.
        if self.dialect == "postgresql":
            self.session.connection().exec_driver_sql(f"ANALYZE {table.name}")

    # -- merge ----------------------------------------------------------------------------------

    def stage_professionals(self) -> int:
        """One row per professional of the file (its lines agree: checked above)."""
        s, sp, p = import_lines, import_professionals, professionals
        columns = ["idnat_ps", *PROFESSIONAL_COLUMNS]
        self.session.execute(
            insert(sp).from_select(
                [*columns, "first_line"],
                select(*(s.c[name] for name in columns), func.min(s.c.line_no)).group_by(
                    *(s.c[name] for name in columns)
                ),
            )
        )
        self._analyze(sp)
        self.session.execute(
            update(sp).where(p.c.idnat_ps == sp.c.idnat_ps).values(professional_id=p.c.id)
        )
        changed = (
            select(p.c.id)
            .where(
                p.c.id == sp.c.professional_id,
                or_(*(p.c[name].is_distinct_from(sp.c[name]) for name in PROFESSIONAL_COLUMNS)),
            )
            .exists()
        )
        self.session.execute(
            update(sp).values(
                state=case((sp.c.professional_id.is_(None), "N"), (changed, "C"), else_="S")
            )
        )
        return int(self.session.scalar(select(func.count()).select_from(sp)) or 0)

    def insert_new(self, now: datetime) -> int:
        sp, p = import_professionals, professionals
        timestamp = bindparam("now", now, type_=UTCDateTime())
        columns = ["idnat_ps", *PROFESSIONAL_COLUMNS]
        result = self.session.execute(
            insert(p).from_select(
                [*columns, "version", "created_at", "updated_at"],
                select(*(sp.c[name] for name in columns), literal(1, Integer), timestamp, timestamp)
                .where(sp.c.state == "N")
                # New professionals get their ids in the order of the file.
                .order_by(sp.c.first_line),
            ),
            execution_options={"preserve_rowcount": True},
        )
        self.session.execute(
            update(sp)
            .where(sp.c.state == "N", p.c.idnat_ps == sp.c.idnat_ps)
            .values(professional_id=p.c.id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def stage_practices(self) -> None:
        s, sp, sq = import_lines, import_professionals, import_practices
        self.session.execute(
            insert(sq).from_select(
                ["professional_id", "structure_id", *_PLACE_COLUMNS],
                select(
                    sp.c.professional_id,
                    s.c.structure_id,
                    *(s.c[name] for name in _PLACE_COLUMNS),
                )
                .join_from(s, sp, sp.c.idnat_ps == s.c.idnat_ps)
                .where(s.c.structure_id.is_not(None)),
            )
        )
        _PRACTICE_INDEX.create(self.session.connection())
        self._analyze(sq)

    def mark_changed_places(self) -> None:
        """An existing professional whose places of practice change is updated too."""
        sp, sq, p = import_professionals, import_practices, practices
        same_place = [
            p.c.professional_id == sq.c.professional_id,
            p.c.structure_id == sq.c.structure_id,
            *(p.c[name].is_not_distinct_from(sq.c[name]) for name in _PLACE_COLUMNS),
        ]
        added_or_changed = (
            select(sq.c.structure_id)
            .where(sq.c.professional_id == sp.c.professional_id, ~exists().where(*same_place))
            .exists()
        )
        removed = (
            select(p.c.id)
            .where(
                p.c.professional_id == sp.c.professional_id,
                ~exists().where(
                    sq.c.professional_id == p.c.professional_id,
                    sq.c.structure_id == p.c.structure_id,
                ),
            )
            .exists()
        )
        self.session.execute(
            update(sp).where(sp.c.state == "S", or_(added_or_changed, removed)).values(state="C")
        )

    def merge_practices(self) -> tuple[int, int]:
        """Make the places of the file's professionals those of the file: (added, removed)."""
        sp, sq, p = import_professionals, import_practices, practices
        removed = self.session.execute(
            delete(p).where(
                p.c.professional_id.in_(select(sp.c.professional_id).where(sp.c.state == "C")),
                ~exists().where(
                    sq.c.professional_id == p.c.professional_id,
                    sq.c.structure_id == p.c.structure_id,
                ),
            )
        )
        self.session.execute(
            update(p)
            .where(
                p.c.professional_id == sq.c.professional_id,
                p.c.structure_id == sq.c.structure_id,
                or_(*(p.c[name].is_distinct_from(sq.c[name]) for name in _PLACE_COLUMNS)),
            )
            .values({name: sq.c[name] for name in _PLACE_COLUMNS})
        )
        known = practices.alias("known")
        added = self.session.execute(
            insert(p).from_select(
                ["professional_id", "structure_id", *_PLACE_COLUMNS],
                select(
                    sq.c.professional_id,
                    sq.c.structure_id,
                    *(sq.c[name] for name in _PLACE_COLUMNS),
                ).where(
                    ~exists().where(
                        known.c.professional_id == sq.c.professional_id,
                        known.c.structure_id == sq.c.structure_id,
                    )
                ),
            ),
            execution_options={"preserve_rowcount": True},
        )
        return int(added.rowcount), int(removed.rowcount)  # type: ignore[attr-defined]

    def update_changed(self, now: datetime) -> int:
        sp, p = import_professionals, professionals
        result = self.session.execute(
            update(p)
            .where(p.c.id == sp.c.professional_id, sp.c.state == "C")
            .values(
                {
                    **{name: sp.c[name] for name in PROFESSIONAL_COLUMNS},
                    "version": p.c.version + 1,
                    "updated_at": bindparam("now", now, type_=UTCDateTime()),
                }
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
