"""Counting rows per calendar day (UTC) for the back office's figures: one ``GROUP BY`` over a
timestamp column since a date, and the total; the same statement on SQLite and PostgreSQL.
Domain-free: each domain's repository passes its own column."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class DailyCounts:
    total: int
    since: int  # rows on or after ``since``
    per_day: dict[date, int] = field(default_factory=dict)


def _day(session: Session, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text: its date() reads the day


def daily_counts(
    session: Session, column: ColumnElement[Any], since: datetime, *, where: Any = None
) -> DailyCounts:
    """Rows per UTC day of ``column`` from ``since`` on, and the total (``where``: a filter)."""
    day = _day(session, column).label("day")
    per_day_query = select(day, func.count()).where(column >= since).group_by(day)
    total_query = select(func.count()).select_from(column.table)
    if where is not None:
        per_day_query = per_day_query.where(where)
        total_query = total_query.where(where)
    per_day: dict[date, int] = {}
    for value, count in session.execute(per_day_query):
        key = value if isinstance(value, date) else date.fromisoformat(str(value))
        per_day[key] = int(count)
    total = int(session.execute(total_query).scalar_one())
    return DailyCounts(total=total, since=sum(per_day.values()), per_day=per_day)
