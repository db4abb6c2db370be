"""The ``carnet`` command line: serve, database, clients, audit, register import, demo data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from carnet.commands_support import auth_service, database, fail
from carnet.config import get_settings

app = typer.Typer(help="Carnet: national health identity platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth 2.0 software clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    server: Annotated[str, typer.Option(help="granian or uvicorn")] = "granian",
) -> None:
    """Start the HTTP server."""
    settings = get_settings()
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "carnet.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
        return
    from granian.constants import Interfaces
    from granian.server import Server

    Server(
        "carnet.asgi:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
    ).serve()


# -- db ---------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    from carnet import migrate

    migrate.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrated database differ."""
    from carnet import migrate

    diffs = migrate.pending_differences(database().engine)
    if diffs:
        for diff in diffs:
            typer.echo(f"  {diff}", err=True)
        raise fail("models and migrations differ: run `carnet db revision -m ...`")
    typer.echo("models and migrations agree")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration from the models (development)."""
    from carnet import migrate

    migrate.revision(get_settings().database_url, message)


# -- clients ----------------------------------------------------------------------------------
@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="Human name of the software")],
    scope: Annotated[
        list[str], typer.Option(help="Scope to grant (repeatable, or space-separated)")
    ],
    jwks: Annotated[
        Path | None, typer.Option(help="Public JWK or JWKS file: the client uses private_key_jwt")
    ] = None,
    structure: Annotated[
        int | None, typer.Option(help="Care structure the client acts for")
    ] = None,
    professional: Annotated[
        str | None,
        typer.Option(
            metavar="RPPS",
            help="Health professional (RPPS number, in the directory) the client acts for: "
            "its tokens carry the professional",
        ),
    ] = None,
) -> None:
    """Register a client and print its credentials as JSON (the secret is shown only once)."""
    from carnet.directory.service import directory_service
    from carnet.exceptions import AppError

    service = auth_service()
    keys = None
    if jwks is not None:
        try:
            keys = json.loads(jwks.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read the JWKS file: {exc}") from exc
    try:
        with database().session() as session:
            professional_id = (
                directory_service.professional_id_for_binding(session, professional)
                if professional is not None
                else None
            )
            created = service.create_client(
                session,
                name=name,
                scopes=scope,
                jwks=keys,
                structure_id=structure,
                professional_id=professional_id,
            )
    except (AppError, ValueError) as exc:
        raise fail(str(exc)) from exc
    out: dict[str, object] = {
        "client_id": created.client_id,
        "client_secret": created.client_secret,
    }
    if professional_id is not None:
        out["professional_id"] = professional_id
    out["token_endpoint_auth_method"] = created.auth_method
    out["scope"] = " ".join(created.scopes)
    typer.echo(json.dumps(out))


def _set_client_active(client_id: str, *, active: bool) -> None:
    with database().session() as session:
        found = auth_service().set_active(session, client_id, active=active)
    if not found:
        raise fail(f"no client {client_id!r}")
    typer.echo(json.dumps({"client_id": client_id, "active": active}))


@clients_app.command("disable")
def clients_disable(client_id: str) -> None:
    """Refuse new tokens to a client (issued ones expire within the token lifetime)."""
    _set_client_active(client_id, active=False)


@clients_app.command("enable")
def clients_enable(client_id: str) -> None:
    """Allow a disabled client to get tokens again."""
    _set_client_active(client_id, active=True)


@clients_app.command("list")
def clients_list() -> None:
    """List registered clients (never their secrets)."""
    from carnet.auth.repository import ClientRepository
    from carnet.directory.service import directory_service

    with database().session() as session:
        for client in ClientRepository(session).list_all():
            bound = (
                directory_service.professional_summary(session, client.professional_id)
                if client.professional_id is not None
                else None
            )
            typer.echo(
                json.dumps(
                    {
                        "client_id": client.client_id,
                        "name": client.name,
                        "auth_method": client.auth_method,
                        "scope": client.scopes,
                        "structure_id": client.structure_id,
                        "professional_id": client.professional_id,
                        "professional_rpps": bound.rpps if bound is not None else None,
                        "active": client.active,
                    }
                )
            )


# -- audit ------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute every audit chain; exit 1 listing altered or removed entries."""
    from carnet.audit import get_audit_service

    with database().session() as session:
        report = get_audit_service().verify(session)
    for problem in report.problems:
        typer.echo(f"TAMPERED: {problem}", err=True)
    typer.echo(
        json.dumps(
            {
                "ok": report.ok,
                "chains": report.chains,
                "events": report.events,
                "problems": len(report.problems),
            }
        )
    )
    if not report.ok:
        raise typer.Exit(1)


def _register_domain_commands() -> None:
    from carnet.access.commands import app as access_app
    from carnet.apcv.commands import app as apcv_app
    from carnet.cards.commands import app as cards_app
    from carnet.demo.commands import app as demo_app
    from carnet.demo.commands import population_app
    from carnet.directory.commands import app as directory_app
    from carnet.documents.commands import app as documents_app
    from carnet.identity.commands import app as registry_app
    from carnet.jobs.commands import app as jobs_app
    from carnet.mail.commands import app as mail_app
    from carnet.operators.commands import app as operators_app
    from carnet.proauth.commands import app as pro_app
    from carnet.rights.commands import app as rights_app
    from carnet.space.commands import app as space_app
    from carnet.vigilance.commands import app as identities_app
    from carnet.wallet.commands import app as wallet_app

    app.add_typer(registry_app, name="registry")
    app.add_typer(identities_app, name="identities")
    app.add_typer(demo_app, name="demo")
    app.add_typer(population_app, name="population")
    app.add_typer(directory_app, name="directory")
    app.add_typer(rights_app, name="rights")
    app.add_typer(mail_app, name="mail")
    app.add_typer(cards_app, name="cards")
    app.add_typer(apcv_app, name="apcv")
    app.add_typer(wallet_app, name="wallet")
    app.add_typer(space_app, name="space")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(access_app, name="access")
    app.add_typer(documents_app, name="documents")
    app.add_typer(pro_app, name="pro")
    app.add_typer(operators_app, name="operators")


_register_domain_commands()


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])
