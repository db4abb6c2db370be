"""`carnet wallet` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "The reference wallet: the device side of the card (keys, secret code, QR codes), "
        "as a library and `carnet wallet` commands."
    ),
    no_args_is_help=True,
)
