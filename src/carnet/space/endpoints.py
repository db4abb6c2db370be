"""HTTP API of a health space's lifecycle: ``/api/v1/spaces/{person}`` (``me`` or a person id).

The space's REST adapter sits above the authorization chokepoint (it is the one module of
``space`` that imports ``access``, see the import-linter contract): every call resolves the
person, asks ``access_service.authorize`` for the LIFECYCLE area, runs the use case and records
the access with ``access_service.record``, all in the request's unit of work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session

from carnet.access.policy import Action, ActorKind, Area, SpaceGrant
from carnet.access.service import access_service
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.exceptions import Forbidden
from carnet.space.schemas import SpaceOut
from carnet.space.service import Transition, space_service

router = APIRouter(prefix="/api/v1/spaces", tags=["health space"])

PersonRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=20,
        description="`me` (the signed-in holder) or a register person id (a child's space)",
    ),
]


def _grant(
    session: Session, principal: Principal, person: str, action: Action, now: datetime
) -> SpaceGrant:
    person_id = access_service.resolve_person(session, principal, person)
    return access_service.authorize(session, principal, person_id, Area.LIFECYCLE, action, now=now)


@router.get(
    "/{person}",
    response_model=SpaceOut,
    summary="The health space: its state, dates and what its holder can do next",
)
def get_space(person: PersonRef, principal: SpaceCaller, session: SessionDep) -> SpaceOut:
    now = utcnow()
    grant = _grant(session, principal, person, Action.READ, now)
    out = space_service.view(session, grant.person_id, now=now)
    access_service.record(
        session, grant, what="lifecycle.read", resource=f"Space/{grant.person_id}", now=now
    )
    return out


def _change(
    request: Request,
    session: Session,
    principal: Principal,
    person: str,
    transition: Transition,
) -> SpaceOut:
    now = utcnow()
    grant = _grant(session, principal, person, Action.WRITE, now)
    if grant.actor not in (ActorKind.HOLDER, ActorKind.REPRESENTATIVE):
        raise Forbidden(
            "only the holder, or the representative of a minor, may change a space's lifecycle",
            code="space_access_denied",
        )
    settings: Settings = request.app.state.settings
    how = "representative" if grant.actor is ActorKind.REPRESENTATIVE else "holder"
    out = space_service.transition(session, settings, grant.person_id, transition, how=how, now=now)
    access_service.record(
        session,
        grant,
        what=f"lifecycle.{transition.value}",
        resource=f"Space/{grant.person_id}",
        now=now,
    )
    return out


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
