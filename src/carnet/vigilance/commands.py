"""``carnet identities``: care structures and the batch duplicate report of identity-vigilance."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from carnet.auth.principal import SYSTEM
from carnet.commands_support import database, fail
from carnet.exceptions import AppError
from carnet.vigilance import schemas
from carnet.vigilance.duplicates import DEFAULT_THRESHOLD
from carnet.vigilance.service import vigilance_service

app = typer.Typer(
    help="Identity-vigilance: care structures, duplicate reports.", no_args_is_help=True
)


class ReportFormat(StrEnum):
    csv = "csv"
    json = "json"


@app.command("structures-create")
def structures_create(
    name: Annotated[str, typer.Option(help="Name of the care structure")],
    identifier: Annotated[
        str | None, typer.Option(help="FINESS (9 characters) or SIRET (14 digits)")
    ] = None,
) -> None:
    """Create a care structure and print it as JSON."""
    try:
        with database().session() as session:
            created = vigilance_service.create_structure(
                session, SYSTEM, schemas.StructureCreate(name=name, identifier=identifier)
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    except ValueError as exc:  # pydantic: too long a name or identifier
        raise fail(str(exc)) from exc
    typer.echo(created.model_dump_json())


@app.command("structures-list")
def structures_list() -> None:
    """List the care structures, one JSON object a line."""
    with database().session() as session:
        for structure in vigilance_service.list_structures(session, SYSTEM):
            typer.echo(structure.model_dump_json())


def _reasons(pair: schemas.DuplicatePair) -> str:
    return "; ".join(f"{r.trait}={r.score:.2f} {r.reason}" for r in pair.reasons)


@app.command("duplicates")
def duplicates(
    structure: Annotated[int, typer.Option(help="Care structure id", min=1, max=2**31 - 1)],
    threshold: Annotated[
        float, typer.Option(help="Minimum score of a reported pair", min=0.0, max=1.0)
    ] = DEFAULT_THRESHOLD,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="csv (default) or json")
    ] = ReportFormat.csv,
) -> None:
    """Report every probable duplicate or collision pair of a structure, streamed.

    Blocking keeps it far from n² (see ``VigilanceService.duplicate_report``).
    """
    out = sys.stdout
    count = 0
    try:
        with database().session() as session:
            pairs = vigilance_service.duplicate_report(session, SYSTEM, structure, threshold)
            if output_format is ReportFormat.csv:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(
                    [
                        "identity_a",
                        "identity_b",
                        "ipp_a",
                        "ipp_b",
                        "score",
                        "kind",
                        "suggested_attribute",
                        "reasons",
                    ]
                )
                for pair in pairs:
                    writer.writerow(
                        [
                            pair.identity_a,
                            pair.identity_b,
                            pair.ipp_a or "",
                            pair.ipp_b or "",
                            f"{pair.score:.3f}",
                            pair.kind,
                            pair.suggested_attribute or "",
                            _reasons(pair),
                        ]
                    )
                    count += 1
            else:
                out.write("[")
                for pair in pairs:
                    out.write(("\n" if count == 0 else ",\n") + json.dumps(pair.model_dump()))
                    count += 1
                out.write("\n]\n" if count else "]\n")
    except AppError as exc:
        raise fail(exc.message) from exc
    out.flush()
    typer.echo(f"{count} pair(s) at or above {threshold}", err=True)
