"""`carnet access` commands: the access matrix (load, show)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from carnet.access.service import access_service
from carnet.commands_support import database as open_database
from carnet.commands_support import fail
from carnet.exceptions import AppError

app = typer.Typer(
    help="Health-space access: the access matrix (profession x document type).",
    no_args_is_help=True,
)
matrix_app = typer.Typer(
    help="The access matrix (R1111-46): which document types each profession may read.",
    no_args_is_help=True,
)
app.add_typer(matrix_app, name="matrix")

LOAD_HELP = """Replace the access matrix with the rules of a CSV file (one transaction).

\b
Header: profession_code,specialty_code,type_code,allowed,note
  profession_code  TRE_G15 (10 médecin, 21 pharmacien, 40 dentiste, 50 sage-femme, 60 infirmier,
                   70 kinésithérapeute, 80 pédicure-podologue…)
  specialty_code   TRE_R38, empty for any specialty
  type_code        XDS typeCode (JDV_J07/J66), or * for every type
  allowed          1 or 0;   note: free text
The most specific rule wins: (specialty, type) > (any, type) > (specialty, *) > (any, *); a
profession without rules reads no document (except its own). Without FILE, the matrix shipped
with Carnet (carnet/access/data/access_matrix.csv) is loaded. While the table is empty, the
shipped matrix applies.
"""


@matrix_app.command("load", help=LOAD_HELP)
def load(
    file: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file (UTF-8)"),
    ] = None,
) -> None:
    db = open_database()
    try:
        with db.session() as session:
            count = access_service.load_matrix_file(session, file, actor="system:cli")
    except AppError as exc:
        raise fail(exc.message) from None
    except (OSError, UnicodeDecodeError, SQLAlchemyError) as exc:
        raise fail(f"cannot load the access matrix: {type(exc).__name__}: {exc}") from None
    finally:
        db.dispose()
    typer.echo(json.dumps({"rules": count, "source": str(file) if file else "shipped"}))


@matrix_app.command("show", help="Print the access matrix in force (CSV).")
def show() -> None:
    db = open_database()
    try:
        with db.session() as session:
            rules = access_service.matrix_rules(session)
    finally:
        db.dispose()
    typer.echo("profession_code,specialty_code,type_code,allowed")
    for rule in rules:
        typer.echo(
            f"{rule.profession_code},{rule.specialty_code},{rule.type_code},{int(rule.allowed)}"
        )
