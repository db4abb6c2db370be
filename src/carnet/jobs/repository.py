"""All SQL of the jobs domain: the job rows, claimed and released with conditional UPDATEs."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carnet.jobs.models import JobRun

job_runs = typing.cast(Table, JobRun.__table__)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ensure(self, names: Sequence[str]) -> None:
        """A row for each job (created once; concurrent creators do not conflict)."""
        if not names:
            return
        rows = [{"name": name, "runs": 0, "failures": 0} for name in names]
        if self.session.get_bind().dialect.name == "postgresql":
            pg = postgresql.insert(job_runs).values(rows).on_conflict_do_nothing()
            self.session.execute(pg)
        else:
            lite = sqlite.insert(job_runs).values(rows).on_conflict_do_nothing()
            self.session.execute(lite)

    def claim(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take the job's lease if nobody holds a live one: true for exactly one claimant."""
        # On the connection (Core): the ORM session's result reports no row count here.
        result = self.session.connection().execute(
            update(job_runs)
            .where(
                job_runs.c.name == name,
                or_(job_runs.c.lease_until.is_(None), job_runs.c.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until, last_started_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def extend(self, name: str, owner: str, until: datetime) -> bool:
        # On the connection (Core): the ORM session's result reports no row count here.
        result = self.session.connection().execute(
            update(job_runs)
            .where(job_runs.c.name == name, job_runs.c.lease_owner == owner)
            .values(lease_until=until)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def finish(self, name: str, owner: str, *, ok: bool, detail: str, now: datetime) -> None:
        self.session.execute(
            update(job_runs)
            .where(job_runs.c.name == name, job_runs.c.lease_owner == owner)
            .values(
                lease_owner=None,
                lease_until=None,
                last_finished_at=now,
                last_outcome="success" if ok else "failure",
                last_detail=detail,
                runs=job_runs.c.runs + 1,
                failures=job_runs.c.failures + (0 if ok else 1),
            )
        )

    def all(self) -> Sequence[JobRun]:
        return self.session.scalars(select(JobRun).order_by(JobRun.name)).all()
