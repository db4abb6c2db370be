"""`carnet space` commands: a space as the fund sees it, the information run, the letters for the
print shop, and the requests the fund records for a holder (objection, opening, closure...)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.db import Database
from carnet.exceptions import AppError
from carnet.mail.service import MailService
from carnet.space.service import Transition, space_service

app = typer.Typer(
    help="Personal health spaces (Mon Espace Santé): lifecycle, information, letters.",
    no_args_is_help=True,
)
letters_app = typer.Typer(help="Information letters for persons without e-mail.")
app.add_typer(letters_app, name="letters")

Person = Annotated[str, typer.Argument(metavar="PERSON_ID|NIR", help="Register person id or NIR")]
Now = Annotated[
    str | None,
    typer.Option("--now", metavar="ISO", help="Act as if it were this moment (tests, replays)"),
]


@contextmanager
def _database() -> Iterator[Database]:
    """The database for one command, its connections closed at the end."""
    db = database()
    try:
        yield db
    finally:
        db.dispose()


def parse_now(value: str | None) -> datetime:
    """``--now``: an ISO 8601 moment (UTC when it names no offset); default the real clock."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--now: not an ISO 8601 date and time: {value!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("show")
def show(person: Person) -> None:
    """Print the person's space and its letters as JSON (audited)."""
    try:
        with _database() as db, db.session() as session:
            out = space_service.operator_show(session, person)
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(json.dumps(out, indent=2))


@app.command("inform")
def inform(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Create and inform at most this many spaces")
    ] = None,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="Look for persons without a space from the start of the register (default: "
            "after the highest person key that has one)",
        ),
    ] = False,
    now: Now = None,
) -> None:
    """Create the missing pending spaces and send their information message (job space.inform)."""
    settings = get_settings()
    mail = MailService.from_settings(settings)
    try:
        with _database() as db:
            report = space_service.inform(
                db.session,
                settings,
                None if mail.not_configured else mail,
                now=parse_now(now),
                limit=limit,
                rescan=rescan,
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(report.model_dump_json())


def _transition(person: str, transition: Transition, now: str | None) -> None:
    try:
        with _database() as db, db.session() as session:
            out = space_service.operator_transition(
                session, get_settings(), person, transition, parse_now(now)
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(out.model_dump_json())


@app.command("object")
def object_(person: Person, now: Now = None) -> None:
    """Record the person's objection (received by mail, phone or at the desk)."""
    _transition(person, Transition.OBJECTION, now)


@app.command("open")
def open_(person: Person, now: Now = None) -> None:
    """Open the person's space now, at their request."""
    _transition(person, Transition.OPENING, now)


@app.command("close")
def close(person: Person, now: Now = None) -> None:
    """Close the person's space at their request (archived, then deleted)."""
    _transition(person, Transition.CLOSURE, now)


@app.command("request-deletion")
def request_deletion(person: Person, now: Now = None) -> None:
    """Record a deletion request: the archive is deleted within the legal delay."""
    _transition(person, Transition.DELETION_REQUEST, now)


@app.command("reopen")
def reopen(person: Person, now: Now = None) -> None:
    """Re-open a closed space at the person's request (archived data restored)."""
    _transition(person, Transition.REOPENING, now)


@letters_app.command("export")
def letters_export(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the file")],
) -> None:
    """Write the letters not exported yet to DIR/space-letters-<time>.jsonl (one JSON object
    per line) and mark them exported; batches are marked once written and synced."""
    directory.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    path = directory / f"space-letters-{started.strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"
    exported = 0
    last_id = 0
    with _database() as db, path.open("x", encoding="utf-8") as out:
        while True:
            with db.session() as session:
                batch = space_service.letters_to_export(session, after_id=last_id)
                if not batch:
                    break
                for letter in batch:
                    out.write(json.dumps(letter, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
                ids = [int(letter["letter_id"]) for letter in batch]
                space_service.mark_letters_exported(session, ids, now=datetime.now(UTC))
            last_id = ids[-1]
            exported += len(ids)
    if not exported:
        path.unlink()
    typer.echo(json.dumps({"exported": exported, "file": str(path) if exported else None}))
