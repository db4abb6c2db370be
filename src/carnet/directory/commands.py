"""`carnet directory` commands: import the directory of professionals, list the code tables."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from carnet.commands_support import database as open_database
from carnet.directory import codes
from carnet.directory.importer import (
    DEFAULT_BATCH_SIZE,
    MAX_ERRORS,
    ImportReport,
    import_directory,
)
from carnet.exceptions import AppError

app = typer.Typer(
    help=(
        "Directory of health professionals (RPPS, idNat_PS, profession, specialty, places "
        "of practice)."
    ),
    no_args_is_help=True,
)


@app.callback()
def directory() -> None:
    """Directory of health professionals: bulk import, code tables."""


def _print_report(report: ImportReport) -> None:
    for line_no, message in report.errors:
        typer.echo(f"line {line_no}: {message}", err=True)
    if report.errors_omitted:
        typer.echo(
            f"... and {report.errors_omitted:,} more invalid lines "
            f"(only the first {len(report.errors):,} are listed)",
            err=True,
        )
    if not report.committed:
        typer.echo(
            f"error: {report.invalid:,} invalid line{'s' if report.invalid > 1 else ''}: "
            "nothing was imported (correct the file, or use --skip-invalid)",
            err=True,
        )
    elif report.invalid:
        typer.echo(f"skipped {report.invalid:,} invalid lines", err=True)
    typer.echo(json.dumps(report.summary()))


@app.command("import")
def import_command(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE.csv",
            help="The directory extract (UTF-8 CSV, header below); - reads standard input",
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Import the valid lines and report the others (default: any invalid line "
            "means nothing is imported)",
        ),
    ] = False,
    no_progress: Annotated[
        bool,
        typer.Option("--no-progress", help="No progress bar (never shown when not on a terminal)"),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=1_000_000, help="Lines per database batch"),
    ] = DEFAULT_BATCH_SIZE,
) -> None:
    """Load a directory extract: every line validated, then loaded in one transaction.

    \b
    Header (exactly; UTF-8, commas), one line per professional x place:
    rpps,idnat_ps,family_name,given_name,profession,specialty,
    structure_identifier,structure_name,commune,active
    (on one line).
    \b
    rpps                  11 digits; empty without RPPS
    idnat_ps              8 + RPPS for RPPS holders (derived if empty);
                          required without RPPS (e.g. 0 + ADELI)
    family_name           exercise family name (required)
    given_name            exercise given name (required)
    profession            TRE_G15 code: 10 Médecin, 21 Pharmacien...
                          (see: carnet directory professions)
    specialty             TRE_R38 code, optional (SM54...)
    structure_identifier  FINESS (9) or SIRET (14); empty: no place
    structure_name        required with structure_identifier
    commune               optional
    active                1 or 0 (true/false, oui/non); empty: 1

    A re-import updates the listed professionals and replaces their places;
    unknown structures are created. Sample: docs/samples/directory.csv.
    Prints a JSON summary on stdout, invalid lines (number, reason) on stderr.
    Exit 0 when imported, 1 when nothing was imported.
    """
    show_progress = not no_progress and sys.stderr.isatty()
    database = open_database()
    try:
        if file == "-":
            stream = io.TextIOWrapper(
                sys.stdin.buffer, encoding="utf-8-sig", errors="replace", newline=""
            )
            try:
                report = import_directory(
                    database,
                    stream,
                    source_name="<stdin>",
                    skip_invalid=skip_invalid,
                    progress=show_progress,
                    batch_size=batch_size,
                    max_errors=MAX_ERRORS,
                )
            finally:
                stream.detach()
        else:
            path = Path(file)
            if not path.is_file():
                typer.echo(f"error: {file}: no such file", err=True)
                raise typer.Exit(1)
            report = import_directory(
                database,
                path,
                skip_invalid=skip_invalid,
                progress=show_progress,
                batch_size=batch_size,
                max_errors=MAX_ERRORS,
            )
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        # The driver's first line only: its DETAIL lines may quote a row's values.
        cause = exc.orig if getattr(exc, "orig", None) is not None else exc  # type: ignore[attr-defined]
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        typer.echo(f"error: database: {first_line} (nothing was imported)", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    _print_report(report)
    raise typer.Exit(0 if report.committed else 1)


@app.command("professions")
def professions_command() -> None:
    """List the TRE_G15 profession codes the directory accepts (code, tab, label)."""
    for code, label in codes.PROFESSIONS.items():
        typer.echo(f"{code}\t{label}")
