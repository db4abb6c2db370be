"""`carnet apcv` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "apCV-like card reading by professional software: contexts, beneficiaries, "
        "invoice signatures, reading history."
    ),
    no_args_is_help=True,
)
