"""Tables of the jobs domain: one row per scheduled job, its lease and its last run.

A server (or ``carnet jobs run``) runs a job only after claiming its row: one ``UPDATE ... WHERE
lease_until IS NULL OR lease_until < now`` that succeeds for one claimant only, so two servers
never run the same job at once. The lease is extended between batches (heartbeat) and released
at the end; a crashed runner's lease simply expires.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.db import Base, UTCDateTime


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(
            "last_outcome IS NULL OR last_outcome IN ('success', 'failure')", name="outcome"
        ),
    )

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    # Who holds the lease (host:pid:random) and until when (wall clock).
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(7))
    # A JSON summary (counts) or the error's class and message; never secrets.
    last_detail: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
