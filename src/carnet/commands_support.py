"""What every ``carnet`` sub-command needs: the database, the token service, a failure exit.

Shared by ``carnet.cli`` and the domains' ``commands`` modules (which may not import
``carnet.cli``: it imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from carnet.config import get_settings
from carnet.db import Database

if TYPE_CHECKING:
    from carnet.auth.service import AuthService


def database() -> Database:
    """The database of the settings (``CARNET_DATABASE_URL``), with every domain's tables."""
    import carnet.models  # noqa: F401 - the complete metadata resolves cross-domain foreign keys

    return Database(get_settings().database_url)


def auth_service() -> AuthService:
    """The token service, configured by the settings as the API configures it."""
    from carnet.auth.service import AuthService

    return AuthService.from_settings(get_settings())


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on standard error; the caller raises the returned exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
