"""`carnet directory` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "Directory of health professionals (RPPS, idNat_PS, profession, specialty, places "
        "of practice)."
    ),
    no_args_is_help=True,
)
