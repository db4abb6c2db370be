"""`carnet cards` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "The digital health-insurance card: accounts, activation, device credentials, "
        "secret code, lifecycle, delegations."
    ),
    no_args_is_help=True,
)
