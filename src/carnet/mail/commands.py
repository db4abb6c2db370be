"""`carnet mail` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=("Outgoing e-mail over SMTP, and the development SMTP sink whose messages can be read."),
    no_args_is_help=True,
)
