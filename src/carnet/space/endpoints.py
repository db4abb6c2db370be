"""HTTP API of a health space's lifecycle: ``/api/v1/spaces/{person}`` (``me`` or a person id).

The space's REST adapter sits above the authorization chokepoint (it is the one module of
``space`` that imports ``access``, see the import-linter contract). The use cases themselves
(resolve the person, ``authorize`` the LIFECYCLE area, run the space service, ``record``) are
``access_service.view_space`` and ``access_service.change_space``, which the health-space pages
call too; here they run in the request's unit of work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session

from carnet.access.service import access_service
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.space.schemas import SpaceOut
from carnet.space.service import Transition

router = APIRouter(prefix="/api/v1/spaces", tags=["health space"])

PersonRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=20,
        description="`me` (the signed-in holder) or a register person id (a child's space)",
    ),
]


@router.get(
    "/{person}",
    response_model=SpaceOut,
    summary="The health space: its state, dates and what its holder can do next",
)
def get_space(person: PersonRef, principal: SpaceCaller, session: SessionDep) -> SpaceOut:
    return access_service.view_space(session, principal, person, now=utcnow())


def _change(
    request: Request,
    session: Session,
    principal: Principal,
    person: str,
    transition: Transition,
) -> SpaceOut:
    settings: Settings = request.app.state.settings
    return access_service.change_space(
        session, settings, principal, person, transition, now=utcnow()
    )


@router.post(
    "/{person}/objection",
    response_model=SpaceOut,
    summary="Object to the space before it opens (R1111-28): it will not be opened",
)
def object_to_space(
    person: PersonRef, request: Request, principal: SpaceCaller, session: SessionDep
) -> SpaceOut:
    return _change(request, session, principal, person, Transition.OBJECTION)


@router.post(
    "/{person}/opening",
    response_model=SpaceOut,
    summary="Open the space now (before the end of the objection window, or after objecting)",
)
def open_space(
    person: PersonRef, request: Request, principal: SpaceCaller, session: SessionDep
) -> SpaceOut:
    return _change(request, session, principal, person, Transition.OPENING)


@router.post(
    "/{person}/closure",
    response_model=SpaceOut,
    summary="Close the space: archived 10 years, then deleted (R1111-36)",
)
def close_space(
    person: PersonRef, request: Request, principal: SpaceCaller, session: SessionDep
) -> SpaceOut:
    return _change(request, session, principal, person, Transition.CLOSURE)


@router.post(
    "/{person}/deletion-request",
    response_model=SpaceOut,
    summary="Close the space (if open) and have its data deleted within 3 months at most",
)
def request_deletion(
    person: PersonRef, request: Request, principal: SpaceCaller, session: SessionDep
) -> SpaceOut:
    return _change(request, session, principal, person, Transition.DELETION_REQUEST)


@router.post(
    "/{person}/reopening",
    response_model=SpaceOut,
    summary="Re-open a closed space: the archived data are restored",
)
def reopen_space(
    person: PersonRef, request: Request, principal: SpaceCaller, session: SessionDep
) -> SpaceOut:
    return _change(request, session, principal, person, Transition.REOPENING)
