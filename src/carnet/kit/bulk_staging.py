"""Bulk imports' staging, shared by the register, directory and rights importers.

One import is one transaction: ``begin_import`` opens it (SQLite: ``BEGIN IMMEDIATE``, so the
database's write lock is held from the start; PostgreSQL: no statement timeout for this
transaction only, ``lock_timeout`` stays so that a concurrent import fails fast) and creates the
temporary staging tables, unindexed (they are indexed once loaded). ``stage_rows`` appends rows:
PostgreSQL ``COPY`` (psycopg 3), SQLite ``executemany``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable


def _driver_connection(session: Session) -> Any:
    return session.connection().connection.driver_connection


def begin_import(session: Session, staging_tables: Iterable[Table]) -> None:
    """Open the import transaction and create the empty staging tables."""
    connection = session.connection()
    dialect = connection.dialect.name
    tables = list(staging_tables)
    if dialect == "sqlite":
        raw = _driver_connection(session)
        if not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
        for table in tables:  # left by a crashed run on this pooled connection
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table.name}")
    elif dialect == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
    for table in tables:
        connection.execute(CreateTable(table))


def stage_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Append rows (tuples in ``columns`` order) to a staging table."""
    connection = session.connection()  # the session's transaction is open before the raw cursor
    raw = _driver_connection(session)
    names = ", ".join(columns)  # our own table and column names, never input
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join("?" * len(columns))
        cursor = raw.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})",  # noqa: S608
                list(rows),
            )
        finally:
            cursor.close()
