"""`carnet cards` commands: the operator's view and actions on a person's card."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

from carnet.cards.service import cards_service
from carnet.commands_support import database, fail
from carnet.db import utcnow
from carnet.exceptions import AppError

app = typer.Typer(
    help=(
        "The digital health-insurance card: accounts, activation, device credentials, "
        "secret code, lifecycle, delegations."
    ),
    no_args_is_help=True,
)

Nir = Annotated[str, typer.Option("--nir", help="The person's NIR or NIA (15 characters)")]


@app.command("show")
def show(nir: Nir) -> None:
    """Print the person's account, cards, devices and delegations as JSON (audited)."""
    try:
        with database().session() as session:
            out = cards_service.operator_show(session, nir)
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(json.dumps(out, indent=2))


def _set_status(nir: str, action: Literal["suspend", "resume", "revoke"]) -> None:
    try:
        with database().session() as session:
            out = cards_service.operator_set_status(session, nir, action, utcnow())
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(json.dumps(out))


@app.command("suspend")
def suspend(nir: Nir) -> None:
    """Suspend the person's card at once (lost or stolen phone)."""
    _set_status(nir, "suspend")


@app.command("resume")
def resume(nir: Nir) -> None:
    """Resume a suspended card (a locked card needs a new activation instead)."""
    _set_status(nir, "resume")


@app.command("revoke")
def revoke(nir: Nir) -> None:
    """Revoke the person's card and its device for good (a new activation makes a new card)."""
    _set_status(nir, "revoke")


@app.command("purge-nonces")
def purge_nonces() -> None:
    """Delete the nonces of codes that can no longer be accepted anyway (a periodic job)."""
    with database().session() as session:
        removed = cards_service.purge_nonces(session, utcnow())
    typer.echo(json.dumps({"removed": removed}))
