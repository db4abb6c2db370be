"""`carnet documents` commands: the document codes, the announcement job, a new master key."""

from __future__ import annotations

import base64
import json
import os

import typer

from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.db import utcnow
from carnet.documents.service import documents_service
from carnet.exceptions import AppError

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


@app.command("new-master-key")
def new_master_key() -> None:
    """Print a new random master key for CARNET_SPACE_MASTER_KEY (base64 of 32 bytes)."""
    typer.echo(base64.b64encode(os.urandom(32)).decode())
