"""Request-scoped dependencies shared by every router: the database session and the caller.

The session dependency is the unit of work: it commits after the endpoint returns and before the
response is sent (``scope="function"``), so a failed commit can never answer 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.auth.service import AuthService
from carnet.db import Database
from carnet.exceptions import Forbidden, Unauthorized
from carnet.logging import bind_actor


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_session(request: Request) -> Iterator[Session]:
    with get_database(request).session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


class RequireScopes:
    """Authenticate the bearer token and demand every listed scope (401 or 403 otherwise)."""

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes

    def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "missing bearer token: get one at POST /oauth2/token", code="missing_token"
            )
        principal = get_auth_service(request).verify_access_token(token.strip(), datetime.now(UTC))
        missing = [s for s in self.scopes if not principal.has(s)]
        if missing:
            raise Forbidden(
                f"this token lacks the scope(s) {' '.join(missing)}", code="insufficient_scope"
            )
        bind_actor(principal.actor)
        # The access log runs in the middleware's context, not this worker thread's: pass it on.
        request.state.actor = principal.actor
        return principal


InsRead = Annotated[Principal, Depends(RequireScopes("ins.read"))]
InsWrite = Annotated[Principal, Depends(RequireScopes("ins.write"))]
IdentitiesRead = Annotated[Principal, Depends(RequireScopes("identities.read"))]
IdentitiesWrite = Annotated[Principal, Depends(RequireScopes("identities.write"))]
AuditRead = Annotated[Principal, Depends(RequireScopes("audit.read"))]
