"""`carnet rights` commands: the bulk import of coverage periods, the code tables."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from carnet.commands_support import database as open_database
from carnet.exceptions import AppError
from carnet.rights import codes
from carnet.rights.importer import DEFAULT_BATCH_SIZE, MAX_ERRORS, ImportReport, import_rights

app = typer.Typer(
    help=(
        "Health-insurance rights (ADRi-like): coverage periods, special situations, "
        "attachment to the insured person."
    ),
    no_args_is_help=True,
)

IMPORT_HELP = """Load coverage periods from a CSV file, in one transaction.

\b
Header (exactly): nir,birth_date,rank,insured_nir,quality,regime,fund,centre,start,end,situations
  nir          the beneficiary's NIR/NIA, held by a person of the register
  birth_date   the beneficiary's birth date as in the register (YYYY-MM-DD, 00 if unknown)
  rank         birth rank 1-9 (twins); empty = 1
  insured_nir  the insured person (ouvrant droit); empty for the insured person themselves
  quality      00 assure | 02 conjoint | 06 enfant | 09 autre (code or word); empty = 00
  regime       scheme code, 2 digits (see `carnet rights codes`)
  fund         caisse, 3 digits;  centre: 4 digits
  start, end   the period, YYYY-MM-DD, both days included; empty end = open
  situations   space-separated CODE:START:END or CODE/QUALIFIER:START:END, END empty = open;
               codes ALD (qualifier: ALD number 1-32), C2S (qualifier P: with participation),
               MAT, INV, AME, AT; e.g. "ALD/15:2026-01-01:2030-12-31 C2S/P:2026-01-01:"

\b
A period is identified by its beneficiary and start: re-importing a line updates it (and
replaces its situations), never duplicates it. Periods of one beneficiary must not overlap: to
change fund, end the current period (repeat its line with an end) and add a line for the new one.
Sample: docs/samples/rights.csv.

Prints a JSON summary on stdout and the invalid lines (number and reason) on stderr. Exit 0 when
imported, 1 when nothing was imported (invalid lines, bad header, unreadable file).
"""


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


@app.command("import", help=IMPORT_HELP)
def import_command(
    file: Annotated[
        str,
        typer.Argument(metavar="FILE.csv", help="The rights file (UTF-8 CSV); - reads stdin"),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Import the valid lines and report the others (default: any invalid line "
            "means nothing is imported)",
        ),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=1_000_000, help="Lines per database batch"),
    ] = DEFAULT_BATCH_SIZE,
) -> None:
    database = open_database()
    try:
        if file == "-":
            stream = io.TextIOWrapper(
                sys.stdin.buffer, encoding="utf-8-sig", errors="replace", newline=""
            )
            try:
                report = import_rights(
                    database,
                    stream,
                    source_name="<stdin>",
                    skip_invalid=skip_invalid,
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
            report = import_rights(
                database,
                path,
                skip_invalid=skip_invalid,
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


@app.command("codes")
def codes_command() -> None:
    """List the code tables: schemes (régimes), qualities, special situations.

    Codes marked "unconfirmed" are conventional values not confirmed by the domain reference;
    they are configuration (carnet/rights/codes.py), not schema.
    """
    for title, table in (
        ("Schemes (regime)", codes.REGIMES),
        ("Qualities (quality)", codes.QUALITIES),
        ("Special situations (situations)", codes.SITUATIONS),
    ):
        typer.echo(title)
        for entry in table.values():
            mark = "" if entry.confirmed else "  [unconfirmed]"
            typer.echo(f"  {entry.code:<4} {entry.label}{mark}")
