"""Scheduled jobs (`carnet jobs run [--only NAME] [--now ISO]`, the server's loop): automatic
opening at the end of the objection window, purge after the archive period or a deletion
request, the card clean-ups, and one runner at a time per job."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.config import Settings
from carnet.db import Database
from carnet.jobs.models import JobRun
from carnet.jobs.repository import JobRepository
from carnet.jobs.service import JOBS, BackgroundJobs
from carnet.mail.sink import MailSink

from ..conftest import HolderHeaders
from ..space.conftest import Family, RunCli

T0 = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _smtp(sink: MailSink) -> dict[str, str]:
    return {"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_PORT": str(sink.port)}


def test_pending_spaces_open_automatically_after_six_weeks(
    cli: RunCli,
    family: Family,
    app_client: TestClient,
    holder_headers: HolderHeaders,
    db: Database,
    mail_sink: MailSink,
) -> None:
    informed = cli("space", "inform", "--now", _iso(T0), env=_smtp(mail_sink))
    assert informed.json()["created"] == 4
    # Paul objects in time.
    cli("space", "object", str(family.paul.id), "--now", _iso(T0 + timedelta(days=3)))

    early = cli("jobs", "run", "--only", "space.open_due", "--now", _iso(T0 + timedelta(days=41)))
    assert early.exit_code == 0, early.stderr
    assert early.lines() == [{"job": "space.open_due", "status": "success", "opened": 0}]

    due = cli("jobs", "run", "--only", "space.open_due", "--now", _iso(T0 + timedelta(days=42)))
    assert due.lines() == [{"job": "space.open_due", "status": "success", "opened": 3}]
    space = app_client.get("/api/v1/spaces/me", headers=holder_headers(family.jeanne.id)).json()
    assert space["state"] == "open"
    assert space["opened_how"] == "automatic"
    assert datetime.fromisoformat(space["opened_at"]) == T0 + timedelta(days=42)
    paul = app_client.get("/api/v1/spaces/me", headers=holder_headers(family.paul.id)).json()
    assert paul["state"] == "objected"
    with db.session() as s:
        opened = s.scalars(
            select(AuditEvent.person_id).where(
                AuditEvent.action == "space.opening", AuditEvent.detail == "automatic"
            )
        ).all()
    assert sorted(p for p in opened if p is not None) == sorted(
        [family.jeanne.id, family.lucas.id, family.awa.id]
    )


def test_an_objection_after_the_deadline_is_too_late_even_before_the_job(
    cli: RunCli, family: Family, app_client: TestClient, holder_headers: HolderHeaders
) -> None:
    cli("space", "inform", "--now", "2020-01-06T09:00:00+00:00")
    late = app_client.post("/api/v1/spaces/me/objection", headers=holder_headers(family.paul.id))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "space_already_open"
    space = app_client.get("/api/v1/spaces/me", headers=holder_headers(family.paul.id)).json()
    assert (space["state"], space["opened_how"]) == ("open", "automatic")


def test_closed_space_is_purged_after_ten_years_then_a_new_one_can_open(
    cli: RunCli, family: Family, app_client: TestClient, holder_headers: HolderHeaders
) -> None:
    me = holder_headers(family.paul.id)
    app_client.post("/api/v1/spaces/me/opening", headers=me)
    closed = app_client.post("/api/v1/spaces/me/closure", headers=me).json()
    purge_after = datetime.fromisoformat(closed["purge_after"])

    kept = cli(
        "jobs", "run", "--only", "space.purge_due", "--now", _iso(purge_after - timedelta(days=1))
    )
    assert kept.lines()[0]["purged"] == 0
    # Re-opening during the archive period would restore everything: still closed, not purged.
    assert app_client.get("/api/v1/spaces/me", headers=me).json()["state"] == "closed"

    purged = cli("jobs", "run", "--only", "space.purge_due", "--now", _iso(purge_after))
    assert purged.exit_code == 0, purged.stderr
    [outcome] = purged.lines()
    assert (outcome["status"], outcome["purged"]) == ("success", 1)
    assert outcome["domains"] == ["documents", "profile", "access"]
    space = app_client.get("/api/v1/spaces/me", headers=me).json()
    assert space["state"] == "purged"
    assert space["purged_at"] is not None
    assert [a["action"] for a in space["next_actions"]] == ["opening"]
    reopen = app_client.post("/api/v1/spaces/me/reopening", headers=me)
    assert (reopen.status_code, reopen.json()["error"]["code"]) == (409, "space_not_closed")
    fresh = app_client.post("/api/v1/spaces/me/opening", headers=me).json()
    assert (fresh["state"], fresh["closed_at"], fresh["purged_at"]) == ("open", None, None)


def test_a_deletion_request_is_honoured_within_three_months(
    cli: RunCli, family: Family, app_client: TestClient, holder_headers: HolderHeaders
) -> None:
    me = holder_headers(family.awa.id)
    app_client.post("/api/v1/spaces/me/opening", headers=me)
    asked = app_client.post("/api/v1/spaces/me/deletion-request", headers=me).json()
    requested = datetime.fromisoformat(asked["deletion_requested_at"])
    run = cli(
        "jobs", "run", "--only", "space.purge_due", "--now", _iso(requested + timedelta(days=90))
    )
    assert run.lines()[0]["purged"] == 1
    assert app_client.get("/api/v1/spaces/me", headers=me).json()["state"] == "purged"


def test_every_job_runs_and_is_recorded(cli: RunCli, family: Family, db: Database) -> None:
    run = cli("jobs", "run")
    assert run.exit_code == 0, run.stderr
    outcomes = run.lines()
    assert [o["job"] for o in outcomes] == list(JOBS)
    assert {o["status"] for o in outcomes} == {"success"}
    assert "space.inform" in JOBS
    assert {"apcv.purge_expired", "cards.purge_nonces", "space.purge_due"} <= set(JOBS)
    listed = cli("jobs", "list").json()
    assert {row["job"]: row["runs"] for row in listed} == dict.fromkeys(JOBS, 1)
    inform = next(row for row in listed if row["job"] == "space.inform")
    assert inform["last_outcome"] == "success"
    assert inform["last_detail"]["created"] == 4
    assert inform["running_until"] is None


def test_a_job_another_runner_holds_is_skipped_until_its_lease_expires(
    cli: RunCli, family: Family, db: Database
) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        repo = JobRepository(s)
        repo.ensure(["space.inform"])
        assert repo.claim("space.inform", "other-server:1", now, now + timedelta(minutes=10))
        # A second claimant is refused while the lease lives.
        assert not repo.claim("space.inform", "third:1", now, now + timedelta(minutes=10))
    busy = cli("jobs", "run", "--only", "space.inform")
    assert busy.lines() == [{"job": "space.inform", "status": "busy"}]
    with db.session() as s:
        row = s.get_one(JobRun, "space.inform")
        assert row.lease_owner == "other-server:1"
        # The other server crashed: its lease ends.
        row.lease_until = now - timedelta(seconds=1)
    after = cli("jobs", "run", "--only", "space.inform")
    [outcome] = after.lines()
    assert (outcome["status"], outcome["created"]) == ("success", 4)
    with db.session() as s:
        row = s.get_one(JobRun, "space.inform")
        assert (row.lease_owner, row.lease_until, row.runs) == (None, None, 1)


def test_unknown_job_is_refused(cli: RunCli, db: Database) -> None:
    run = cli("jobs", "run", "--only", "space.nothing")
    assert run.exit_code == 1
    assert "no job space.nothing" in run.stderr
    bad = cli("jobs", "run", "--now", "tomorrow")
    assert bad.exit_code == 1
    assert "ISO 8601" in bad.stderr


def test_carnet_jobs_run_command_line(database_url: str, family: Family) -> None:
    when = _iso(T0 + timedelta(days=50))
    done = subprocess.run(
        [sys.executable, "-m", "carnet", "jobs", "run", "--only", "space.inform", "--now", when],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"job": "space.inform", "status": "success", "created": 4' in done.stdout


def test_the_server_loop_runs_the_jobs(settings: Settings, db: Database, family: Family) -> None:
    looping = settings.model_copy(update={"jobs_interval_seconds": 1})

    async def serve_a_little() -> None:
        background = BackgroundJobs(db, looping)
        background.start()
        for _ in range(100):
            await asyncio.sleep(0.1)
            with db.session() as s:
                row = s.get(JobRun, "cards.purge_nonces")
                if row is not None and row.runs >= 1:
                    break
        await background.stop()

    asyncio.run(serve_a_little())
    with db.session() as s:
        runs = {row.name: row.runs for row in s.scalars(select(JobRun)).all()}
    assert runs.get("space.inform", 0) >= 1
    assert runs.get("cards.purge_nonces", 0) >= 1
