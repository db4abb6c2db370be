"""`carnet rights` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "Health-insurance rights (ADRi-like): coverage periods, special situations, "
        "attachment to the insured person."
    ),
    no_args_is_help=True,
)
