"""`carnet jobs` commands: run the scheduled jobs once, list their last runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.exceptions import AppError
from carnet.jobs.service import JOBS, jobs_service, mail_for

app = typer.Typer(
    help="Scheduled jobs (space information, openings and purges, card clean-ups).",
    no_args_is_help=True,
)


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--now: not an ISO 8601 date and time: {value!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("run")
def run(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", metavar="NAME", help=f"Run only this job (repeatable): {', '.join(JOBS)}"
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", metavar="ISO", help="Act as if it were this moment (tests, replays)"),
    ] = None,
) -> None:
    """Run the jobs once (a job another server is running is skipped: "busy"). One JSON line per
    job; exit 1 when a job failed."""
    settings = get_settings()
    db = database()
    try:
        outcomes = jobs_service.run(
            db, settings, only=only, now=_parse_now(now), mail=mail_for(settings)
        )
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
    for outcome in outcomes:
        typer.echo(json.dumps(outcome.as_dict(), default=str))
    if any(outcome.status == "failure" for outcome in outcomes):
        raise typer.Exit(1)


@app.command("list")
def list_jobs() -> None:
    """Print every job with its last run as JSON."""
    db = database()
    try:
        typer.echo(json.dumps(jobs_service.status(db), indent=2))
    finally:
        db.dispose()
