"""`carnet pro` commands: enrolment invitations for professionals' passkeys."""

from __future__ import annotations

from typing import Annotated

import typer

from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.db import utcnow
from carnet.exceptions import AppError
from carnet.proauth.service import proauth_service

app = typer.Typer(help="Professionals' sign-in to the web portal.", no_args_is_help=True)

ENROL_PATH = "/pro/enrolement/"


@app.callback()
def pro() -> None:
    """Professionals' sign-in: passkey enrolment invitations."""


@app.command("invite")
def invite(
    rpps: Annotated[str, typer.Option("--rpps", help="The professional's RPPS number")],
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="The portal's public URL (default: the passkey origin)"),
    ] = None,
) -> None:
    """Print a one-time link for the professional to create their passkey (72 h by default)."""
    settings = get_settings()
    db = database()
    try:
        with db.session() as session:
            invitation = proauth_service.invite(session, settings, rpps, utcnow())
    except AppError as exc:
        raise fail(exc.message) from None
    finally:
        db.dispose()
    base = (base_url or settings.card_webauthn_origin).rstrip("/")
    typer.echo(f"{base}{ENROL_PATH}{invitation.token}")
    typer.echo(
        f"for {invitation.display_name}, valid until {invitation.expires_at.isoformat()}",
        err=True,
    )
