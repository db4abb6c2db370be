"""`carnet documents` commands: the document codes, the announcement job, a new master key."""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta

import typer

from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.db import utcnow
from carnet.documents.service import documents_service
from carnet.exceptions import AppError
from carnet.kit.blobstore import BlobStoreError

app = typer.Typer(
    help="Health-space documents: codes, the R1111-53 announcement job, encryption keys.",
    no_args_is_help=True,
)


@app.command("codes")
def codes() -> None:
    """Print the accepted classCode and typeCode values (JSON)."""
    typer.echo(json.dumps(documents_service.codes().model_dump(), indent=2, ensure_ascii=False))


@app.command("announce")
def announce() -> None:
    """Run the R1111-53 announcement job once: notify holders of documents hidden for 2 weeks."""
    try:
        with database().session() as session:
            report = documents_service.announcement_due(session, utcnow(), get_settings())
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(
        json.dumps(
            {
                "notified": report.notified,
                "without_email": report.without_email,
                "failed": report.failed,
            }
        )
    )


@app.command("verify-blobs")
def verify_blobs(
    repair: bool = typer.Option(
        False, "--repair", help="Delete the orphan blobs (never a document's blob)."
    ),
    grace_minutes: int = typer.Option(
        60,
        "--grace-minutes",
        min=0,
        help="Leave aside blobs written less than this ago (uploads not committed yet).",
    ),
) -> None:
    """Check the blob store against the documents: missing or unreadable contents (decryption,
    SHA-256) and orphan blobs. Prints a JSON summary; exits 1 while a problem remains."""
    db = database()
    try:
        with db.session() as session:
            report = documents_service.verify_blobs(
                session,
                get_settings(),
                repair=repair,
                grace=timedelta(minutes=grace_minutes),
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    except BlobStoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    typer.echo(json.dumps(report.summary(), indent=2, ensure_ascii=False))
    if not report.clean:
        raise typer.Exit(1)


@app.command("new-master-key")
def new_master_key() -> None:
    """Print a new random master key for CARNET_SPACE_MASTER_KEY (base64 of 32 bytes)."""
    typer.echo(base64.b64encode(os.urandom(32)).decode())
