"""`carnet apcv` commands: purge expired contexts, provision the invoice signing key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from carnet.apcv.service import SIGNING_KEY_NAME, apcv_service
from carnet.commands_support import database, fail
from carnet.config import get_settings
from carnet.kit import signing_keys

app = typer.Typer(
    help=(
        "apCV-like card reading by professional software: contexts, beneficiaries, "
        "invoice signatures, reading history."
    ),
    no_args_is_help=True,
)
key_app = typer.Typer(help="The key that signs invoices (published at /api/v1/apcv/jwks).")
app.add_typer(key_app, name="signing-key")


@app.command("purge-expired")
def purge_expired(
    older_than_hours: Annotated[
        float, typer.Option(min=0, help="Keep contexts that ended less than this long ago")
    ] = 24.0,
) -> None:
    """Delete contexts that expired or were destroyed; the reading history is kept."""
    with database().session() as session:
        deleted = apcv_service.purge_expired(
            session, older_than=timedelta(hours=older_than_hours), now=datetime.now(UTC)
        )
    typer.echo(json.dumps({"deleted": deleted}))


@key_app.command("create")
def key_create() -> None:
    """Create the signing key file if it does not exist (the way to provision it in production)."""
    settings = get_settings()
    path = signing_keys.key_path(settings.data_dir, SIGNING_KEY_NAME)
    existed = path.is_file()
    try:
        key = signing_keys.load_signing_key(settings.data_dir, SIGNING_KEY_NAME, create=True)
    except signing_keys.SigningKeyInvalid as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps({"path": str(key.path), "kid": key.kid, "created": not existed}))


@key_app.command("show")
def key_show() -> None:
    """Print the public JWKS (what GET /api/v1/apcv/jwks publishes)."""
    settings = get_settings()
    try:
        signing_keys.load_signing_key(settings.data_dir, SIGNING_KEY_NAME, create=False)
        keys = signing_keys.jwks(settings.data_dir, SIGNING_KEY_NAME, env="production")
    except (signing_keys.SigningKeyMissing, signing_keys.SigningKeyInvalid) as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(keys))
