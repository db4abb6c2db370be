"""`carnet operators`: back-office accounts (create with an enrolment link, list, role, disable,
a new link). The platform acts here (audited as the system)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from carnet.commands_support import database, fail
from carnet.db import utcnow
from carnet.exceptions import AppError
from carnet.operators.roles import ROLES
from carnet.operators.schemas import Invitation
from carnet.operators.service import operators_service

app = typer.Typer(
    help="Back-office operators: accounts, roles (" + ", ".join(ROLES) + "), enrolment links.",
    no_args_is_help=True,
)

Role = Annotated[str, typer.Option("--role", help="One of: " + ", ".join(ROLES))]
OperatorId = Annotated[int, typer.Argument(help="The operator's id (see `list`)")]


def _link(invitation: Invitation) -> None:
    typer.echo(
        json.dumps(
            {
                "id": invitation.operator.id,
                "email": invitation.operator.email,
                "role": invitation.operator.role,
                "enrolment_link": invitation.path,
                "expires_at": invitation.expires_at.isoformat(),
            }
        )
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Full name")],
    email: Annotated[str, typer.Option("--email", help="Work e-mail address")],
    role: Role,
) -> None:
    """Create an operator and print their one-time enrolment link (give it to them in person)."""
    try:
        with database().session() as session:
            invitation = operators_service.create(
                session, name=name, email=email, role=role, now=utcnow()
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    _link(invitation)


@app.command("list")
def list_operators() -> None:
    """Every operator, as JSON lines."""
    with database().session() as session:
        operators = operators_service.list(session)
    for operator in operators:
        typer.echo(operator.model_dump_json())


@app.command("set-role")
def set_role(operator_id: OperatorId, role: Role) -> None:
    """Change an operator's role (effective on their next page)."""
    try:
        with database().session() as session:
            out = operators_service.set_role(session, operator_id, role, utcnow())
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(out.model_dump_json())


@app.command("disable")
def disable(operator_id: OperatorId) -> None:
    """Disable an operator: no more sign-in, their open session ends at the next page."""
    try:
        with database().session() as session:
            out = operators_service.disable(session, operator_id, utcnow())
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(out.model_dump_json())


@app.command("invite")
def invite(operator_id: OperatorId) -> None:
    """A new enrolment link (another passkey, or a lost one); earlier unused links stop working."""
    try:
        with database().session() as session:
            invitation = operators_service.invite(session, operator_id, utcnow())
    except AppError as exc:
        raise fail(exc.message) from exc
    _link(invitation)
