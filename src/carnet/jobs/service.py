"""The registry of scheduled jobs, their runner, and the server's background loop.

Jobs (``JOBS``, in the order they run):

- ``space.inform``: create the missing pending health spaces, send their information message;
- ``space.open_due``: open the pending spaces whose objection window ended (R1111-28);
- ``space.purge_due``: purge the closed spaces whose archive period (or deletion delay) ended,
  after every domain holding space data deleted it (``PURGE_HOOKS``);
- ``documents.announcements``: tell holders about documents hidden pending an announcement
  consultation, 2 weeks after their upload (R1111-53);
- ``apcv.purge_expired``, ``cards.purge_nonces``: the card domains' periodic clean-ups;
- ``proauth.purge_nonces``, ``operators.purge_nonces``: the expired single-use nonces of the
  professionals' and the operators' sign-ins.

``JobsService.run`` runs them once (``carnet jobs run``, or the server every
``jobs_interval_seconds``). Each job first claims its ``job_runs`` row (see ``models.py``): a job
another server is running is skipped ("busy"), never run twice at once. A job works in batches,
one transaction each, and stops between batches when the server shuts down or its lease was lost.
``now`` is the moment the jobs act at (a test or a replay may set it); leases use the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio.to_thread
from sqlalchemy.orm import Session

from carnet.access.service import access_service
from carnet.apcv.service import apcv_service
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import Database
from carnet.documents.service import ANNOUNCEMENT_BATCH, documents_service
from carnet.exceptions import AppError, NotFound
from carnet.jobs.repository import JobRepository
from carnet.logging import get_logger
from carnet.mail.service import MailService
from carnet.operators.service import operators_service
from carnet.proauth.service import proauth_service
from carnet.profile.service import profile_service
from carnet.space.service import JOB_BATCH, space_service

log = get_logger("carnet.jobs")

LEASE = timedelta(minutes=10)
HEARTBEAT_EVERY = timedelta(seconds=60)
PURGE_BATCH = 200
APCV_KEEP_ENDED = timedelta(hours=24)


class PurgeHook(Protocol):
    def __call__(self, session: Session, person_id: int, settings: Settings) -> object: ...


# The domains holding a health space's data, each deleting a person's data when the space is
# purged, in the purge's transaction (documents: rows and wrapped key now, blobs after commit).
PURGE_HOOKS: tuple[tuple[str, PurgeHook], ...] = (
    ("documents", lambda s, person, settings: documents_service.purge_person(s, person, settings)),
    ("profile", lambda s, person, _settings: profile_service.purge_person(s, person)),
    ("access", lambda s, person, _settings: access_service.purge_person(s, person)),
)


@dataclass
class JobContext:
    database: Database
    settings: Settings
    mail: MailService | None
    now: datetime
    # False once the server stops or the job's lease was lost; extends the lease as it goes.
    keep_going: Callable[[], bool]


JobFunction = Callable[[JobContext], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    run: JobFunction


JOBS: dict[str, Job] = {}


def job(name: str, description: str) -> Callable[[JobFunction], JobFunction]:
    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = Job(name, description, function)
        return function

    return register


@job("space.inform", "Create the missing health spaces and send their information message")
def _space_inform(ctx: JobContext) -> dict[str, Any]:
    report = space_service.inform(
        ctx.database.session, ctx.settings, ctx.mail, now=ctx.now, keep_going=ctx.keep_going
    )
    return report.model_dump()


@job("space.open_due", "Open the pending spaces whose 6-week objection window ended")
def _space_open_due(ctx: JobContext) -> dict[str, Any]:
    opened = 0
    while ctx.keep_going():
        with ctx.database.session() as session:
            count = space_service.open_due(session, now=ctx.now, batch=JOB_BATCH)
        opened += count
        if count < JOB_BATCH:
            break
    return {"opened": opened}


@job("space.purge_due", "Purge closed spaces at the end of the archive or deletion delay")
def _space_purge_due(ctx: JobContext) -> dict[str, Any]:
    hooks = PURGE_HOOKS
    purged = 0
    while ctx.keep_going():
        with ctx.database.session() as session:
            due = space_service.due_for_purge(session, now=ctx.now, batch=PURGE_BATCH)
            for _space_id, person_id in due:
                for _domain, hook in hooks:
                    hook(session, person_id, ctx.settings)
            space_service.mark_purged(
                session,
                due,
                now=ctx.now,
                detail="purged: " + (",".join(domain for domain, _ in hooks) or "no data domain"),
            )
        purged += len(due)
        if len(due) < PURGE_BATCH:
            break
    return {"purged": purged, "domains": [domain for domain, _ in hooks]}


@job(
    "documents.announcements",
    "Tell holders about documents hidden pending an announcement consultation (R1111-53)",
)
def _documents_announcements(ctx: JobContext) -> dict[str, Any]:
    totals = {"notified": 0, "without_email": 0, "failed": 0}
    while ctx.keep_going():
        with ctx.database.session() as session:
            report = documents_service.announcement_due(session, ctx.now, ctx.settings)
        totals["notified"] += report.notified
        totals["without_email"] += report.without_email
        totals["failed"] += report.failed
        # Failed mail stays due: stop rather than pick the same documents again at once.
        if report.failed or len(report.documents) < ANNOUNCEMENT_BATCH:
            break
    return totals


@job("apcv.purge_expired", "Delete card-reading contexts that ended more than a day ago")
def _apcv_purge(ctx: JobContext) -> dict[str, Any]:
    with ctx.database.session() as session:
        deleted = apcv_service.purge_expired(session, older_than=APCV_KEEP_ENDED, now=ctx.now)
    return {"deleted": deleted}


@job("cards.purge_nonces", "Delete the nonces of card codes that can no longer be accepted")
def _cards_purge(ctx: JobContext) -> dict[str, Any]:
    with ctx.database.session() as session:
        removed = cards_service.purge_nonces(session, ctx.now)
    return {"removed": removed}


@job("proauth.purge_nonces", "Delete professionals' sign-in nonces that have expired")
def _proauth_purge(ctx: JobContext) -> dict[str, Any]:
    with ctx.database.session() as session:
        removed = proauth_service.purge_nonces(session, ctx.now)
    return {"removed": removed}


@job("operators.purge_nonces", "Delete operators' sign-in nonces that have expired")
def _operators_purge(ctx: JobContext) -> dict[str, Any]:
    with ctx.database.session() as session:
        removed = operators_service.purge_nonces(session, ctx.now)
    return {"removed": removed}


@dataclass(frozen=True, slots=True)
class JobOutcome:
    name: str
    status: str  # "success", "failure", or "busy" (another runner holds the job)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.name, "status": self.status, **self.detail}


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class _Lease:
    """A claimed job's lease: extended (at most every ``HEARTBEAT_EVERY``) while the job asks
    whether to keep going; lost when another runner took it over after it expired."""

    def __init__(
        self,
        database: Database,
        name: str,
        owner: str,
        started: datetime,
        stop: threading.Event | None,
    ) -> None:
        self.database = database
        self.name = name
        self.owner = owner
        self.beat = started
        self.stop = stop
        self.lost = False

    def keep_going(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return False
        clock = _wall_clock()
        if not self.lost and clock - self.beat >= HEARTBEAT_EVERY:
            with self.database.session() as session:
                extended = JobRepository(session).extend(self.name, self.owner, clock + LEASE)
            self.lost = not extended
            self.beat = clock
            if self.lost:
                log.warning("job_lease_lost", job=self.name)
        return not self.lost


class JobsService:
    def __init__(self) -> None:
        self.owner_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def names(self) -> list[str]:
        return list(JOBS)

    def run(
        self,
        database: Database,
        settings: Settings,
        *,
        only: list[str] | None = None,
        now: datetime | None = None,
        mail: MailService | None = None,
        stop: threading.Event | None = None,
    ) -> list[JobOutcome]:
        """Run the selected jobs (default all) once, each under its lease; never raises for a
        failing job (its outcome says so), only for an unknown job name."""
        unknown = sorted(set(only or []) - JOBS.keys())
        if unknown:
            raise NotFound(
                f"no job {', '.join(unknown)}; the jobs are: {', '.join(JOBS)}",
                code="unknown_job",
            )
        selected = [JOBS[name] for name in JOBS if not only or name in only]
        with database.session() as session:
            JobRepository(session).ensure([j.name for j in selected])
        outcomes = []
        for selected_job in selected:
            if stop is not None and stop.is_set():
                break
            outcomes.append(
                self._run_one(database, settings, selected_job, now=now, mail=mail, stop=stop)
            )
        return outcomes

    def _run_one(
        self,
        database: Database,
        settings: Settings,
        selected: Job,
        *,
        now: datetime | None,
        mail: MailService | None,
        stop: threading.Event | None,
    ) -> JobOutcome:
        owner = f"{self.owner_prefix}:{secrets.token_hex(4)}"
        started = _wall_clock()
        with database.session() as session:
            claimed = JobRepository(session).claim(selected.name, owner, started, started + LEASE)
        if not claimed:
            log.info("job_busy", job=selected.name)
            return JobOutcome(selected.name, "busy")

        lease = _Lease(database, selected.name, owner, started, stop)
        context = JobContext(
            database=database,
            settings=settings,
            mail=mail,
            now=now or started,
            keep_going=lease.keep_going,
        )
        try:
            detail = selected.run(context)
            ok = True
        except Exception as exc:
            # The class and, for expected errors, the message: never a stack of values.
            message = exc.message if isinstance(exc, AppError) else type(exc).__name__
            detail = {"error": type(exc).__name__, "message": message}
            ok = False
            log.exception("job_failed", job=selected.name)
        with database.session() as session:
            JobRepository(session).finish(
                selected.name,
                owner,
                ok=ok,
                detail=json.dumps(detail, default=str),
                now=_wall_clock(),
            )
        log.info("job_run", job=selected.name, ok=ok, detail=detail)
        return JobOutcome(selected.name, "success" if ok else "failure", detail)

    def status(self, database: Database) -> list[dict[str, Any]]:
        """Every job's last run (``carnet jobs list``)."""
        with database.session() as session:
            rows = {row.name: row for row in JobRepository(session).all()}
        out = []
        for name, registered in JOBS.items():
            row = rows.get(name)
            out.append(
                {
                    "job": name,
                    "description": registered.description,
                    "running_until": _iso(row.lease_until) if row else None,
                    "last_started_at": _iso(row.last_started_at) if row else None,
                    "last_finished_at": _iso(row.last_finished_at) if row else None,
                    "last_outcome": row.last_outcome if row else None,
                    "last_detail": json.loads(row.last_detail) if row and row.last_detail else None,
                    "runs": row.runs if row else 0,
                    "failures": row.failures if row else 0,
                }
            )
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mail_for(settings: Settings) -> MailService | None:
    """The mail service the jobs send with, None when no server is configured (e-mails are then
    deferred to a later run)."""
    mail = MailService.from_settings(settings)
    return None if mail.not_configured else mail


class BackgroundJobs:
    """The server's loop: every ``jobs_interval_seconds``, run every job once in a worker thread.

    ``stop()`` asks the running job to stop after its current batch and waits for it.
    """

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        interval = self.settings.jobs_interval_seconds
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self._run_once)
            except Exception:
                log.exception("jobs_loop_failed")

    def _run_once(self) -> None:
        jobs_service.run(
            self.database, self.settings, mail=mail_for(self.settings), stop=self._stop
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


jobs_service = JobsService()
