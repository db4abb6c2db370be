"""Request-scoped dependencies shared by every router: the database session and the caller.

The session dependency is the unit of work: it commits after the endpoint returns and before the
response is sent (``scope="function"``), so a failed commit can never answer 200.

Why an async dependency around a sync session: the commit runs in a worker thread taken from a
limiter of its own. If it shared the endpoints' thread pool, endpoint threads waiting for a pooled
connection could hold every worker while the commits that would free those connections wait for
a worker: requests then stall until the pool timeout (seen under load in the lookup benchmark).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.auth.scopes import HOLDER_SCOPE
from carnet.auth.service import AuthService
from carnet.db import Database
from carnet.exceptions import Forbidden, Unauthorized
from carnet.logging import bind_actor


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _commit_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "commit_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(32)
        request.app.state.commit_limiter = limiter
    return limiter


def _finish(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Creating a Session does no I/O: the connection is taken on first use, in the endpoint thread.
    session = get_database(request).session_factory()
    limiter = _commit_limiter(request)
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(lambda: _finish(session, commit=False), limiter=limiter)
        raise
    await anyio.to_thread.run_sync(lambda: _finish(session, commit=True), limiter=limiter)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

T = TypeVar("T")
P = ParamSpec("P")


class UnitOfWork:
    """Run a use case and its commit in one worker thread: the hot paths' unit of work.

    ``await uow.run(service.method, *args)`` opens a session, calls ``method(session, *args)``,
    commits and closes, all in the same thread hop; any error rolls everything back (data and
    audit rows) and propagates to the error handlers. The connection is held only while working.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def _run_sync(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self.database.session() as session:
            return fn(session, *args, **kwargs)

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await anyio.to_thread.run_sync(partial(self._run_sync, fn, *args, **kwargs))


async def get_unit_of_work(request: Request) -> UnitOfWork:
    return UnitOfWork(get_database(request))


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


class RequireScopes:
    """Authenticate the bearer token and demand every listed scope (401 or 403 otherwise)."""

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes

    # Async on purpose: verifying the token is CPU-only (~25 µs), a thread hop would cost more.
    async def __call__(self, request: Request) -> Principal:
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


class RequireAnyScope(RequireScopes):
    """Authenticate the bearer token and demand at least one of the listed scopes.

    For routes shared by holders and professionals (a health space's routes): which of them may
    do what is then decided by the chokepoint, ``access.service.authorize``.
    """

    async def __call__(self, request: Request) -> Principal:
        principal = await RequireScopes()(request)
        if not any(principal.has(s) for s in self.scopes):
            raise Forbidden(
                f"this token needs one of the scopes {' '.join(self.scopes)}",
                code="insufficient_scope",
            )
        return principal


InsRead = Annotated[Principal, Depends(RequireScopes("ins.read"))]
InsWrite = Annotated[Principal, Depends(RequireScopes("ins.write"))]
IdentitiesRead = Annotated[Principal, Depends(RequireScopes("identities.read"))]
IdentitiesWrite = Annotated[Principal, Depends(RequireScopes("identities.write"))]
AuditRead = Annotated[Principal, Depends(RequireScopes("audit.read"))]
DirectoryRead = Annotated[Principal, Depends(RequireScopes("directory.read"))]
RightsRead = Annotated[Principal, Depends(RequireScopes("rights.read"))]
ApcvUse = Annotated[Principal, Depends(RequireScopes("apcv"))]
# A card holder signed in with their card (device + secret code): ``principal.person_id`` is set.
Holder = Annotated[Principal, Depends(RequireScopes(HOLDER_SCOPE))]
# Professional software feeding and reading health spaces (FHIR DocumentReference, profile).
DmpUse = Annotated[Principal, Depends(RequireScopes("dmp"))]
# Anyone a health space's routes may serve: its holder (or a parent, a relative), a professional,
# the emergency regulator. ``access.service.authorize`` decides the rest.
SpaceCaller = Annotated[Principal, Depends(RequireAnyScope(HOLDER_SCOPE, "dmp", "dmp.regulation"))]
