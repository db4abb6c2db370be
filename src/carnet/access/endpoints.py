"""HTTP API of the access domain, under ``/api/v1/spaces/{person}``: the holder's privacy
settings, blocked professionals, consents, relatives' access (aidants) and access history, and
the professionals' break-glass / regulator access. Every route goes through
``access_service.authorize`` (inside the service methods)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from carnet.access import schemas
from carnet.access.policy import ActorKind
from carnet.access.service import HISTORY_PAGE_MAX, access_service
from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.kit.rest import ProfessionalRpps

router = APIRouter(prefix="/api/v1/spaces", tags=["health space: access"])

PersonRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=20,
        description="'me' (the signed-in holder) or a register person id",
        examples=["me"],
    ),
]
Rpps = Annotated[str, Path(min_length=11, max_length=11, pattern=r"^\d{11}$")]
AidantId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/{person}/privacy", response_model=schemas.Privacy, summary="Privacy settings")
def get_privacy(person: PersonRef, principal: SpaceCaller, session: SessionDep) -> schemas.Privacy:
    return access_service.get_privacy(session, principal, person, now=utcnow())


@router.put(
    "/{person}/privacy",
    response_model=schemas.Privacy,
    summary="Refuse emergency access, ask for e-mail notices of accesses",
)
def put_privacy(
    person: PersonRef, body: schemas.Privacy, principal: SpaceCaller, session: SessionDep
) -> schemas.Privacy:
    return access_service.set_privacy(session, principal, person, body, now=utcnow())


@router.post(
    "/{person}/blocks",
    response_model=schemas.BlockOut,
    status_code=status.HTTP_201_CREATED,
    summary="Block a professional (no access at all, not even in an emergency)",
)
def add_block(
    person: PersonRef, body: schemas.BlockCreate, principal: SpaceCaller, session: SessionDep
) -> schemas.BlockOut:
    return access_service.add_block(session, principal, person, body, now=utcnow())


@router.get(
    "/{person}/blocks", response_model=list[schemas.BlockOut], summary="Blocked professionals"
)
def list_blocks(
    person: PersonRef, principal: SpaceCaller, session: SessionDep
) -> list[schemas.BlockOut]:
    return access_service.list_blocks(session, principal, person, now=utcnow())


@router.delete(
    "/{person}/blocks/{rpps}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unblock a professional",
)
def remove_block(
    person: PersonRef, rpps: Rpps, principal: SpaceCaller, session: SessionDep
) -> Response:
    access_service.remove_block(session, principal, person, rpps, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{person}/consents",
    response_model=schemas.GrantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Give a professional access to the space (consent, R1111-46)",
)
def add_consent(
    person: PersonRef, body: schemas.ConsentCreate, principal: SpaceCaller, session: SessionDep
) -> schemas.GrantOut:
    return access_service.add_consent(session, principal, person, body, now=utcnow())


@router.get(
    "/{person}/consents",
    response_model=list[schemas.GrantOut],
    summary="Professionals with access now (consent, care relationship, emergency)",
)
def list_consents(
    person: PersonRef, principal: SpaceCaller, session: SessionDep
) -> list[schemas.GrantOut]:
    return access_service.list_consents(session, principal, person, now=utcnow())


@router.delete(
    "/{person}/consents/{rpps}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw a professional's access (consent and care relationship)",
)
def revoke_consent(
    person: PersonRef, rpps: Rpps, principal: SpaceCaller, session: SessionDep
) -> Response:
    access_service.revoke_consent(session, principal, person, rpps, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{person}/aidants",
    response_model=schemas.AidantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Let a relative into the space (scope, end date)",
)
def add_aidant(
    person: PersonRef, body: schemas.AidantCreate, principal: SpaceCaller, session: SessionDep
) -> schemas.AidantOut:
    return access_service.add_aidant(session, principal, person, body, now=utcnow())


@router.get(
    "/{person}/aidants", response_model=list[schemas.AidantOut], summary="Relatives with access"
)
def list_aidants(
    person: PersonRef, principal: SpaceCaller, session: SessionDep
) -> list[schemas.AidantOut]:
    return access_service.list_aidants(session, principal, person, now=utcnow())


@router.delete(
    "/{person}/aidants/{aidant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a relative's access",
)
def revoke_aidant(
    person: PersonRef, aidant_id: AidantId, principal: SpaceCaller, session: SessionDep
) -> Response:
    access_service.revoke_aidant(session, principal, person, aidant_id, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{person}/history",
    response_model=schemas.HistoryPage,
    summary="Access history: who (profession), what, when, why; newest first",
)
def history(
    person: PersonRef,
    principal: SpaceCaller,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX)] = 20,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    actor_kind: Annotated[
        ActorKind | None, Query(description="Only this kind of actor's accesses")
    ] = None,
) -> schemas.HistoryPage:
    return access_service.history_page(
        session,
        principal,
        person,
        limit=limit,
        cursor=cursor,
        now=utcnow(),
        actor_kind=actor_kind,
    )


@router.post(
    "/{person}/emergency-access",
    response_model=schemas.EmergencyAccessOut,
    status_code=status.HTTP_201_CREATED,
    summary="Break-glass (dmp) or regulator (dmp.regulation) access with a reason; notified",
)
def open_emergency_access(
    person: PersonRef,
    body: schemas.EmergencyAccessCreate,
    principal: SpaceCaller,
    session: SessionDep,
    professional_rpps: ProfessionalRpps = None,
) -> schemas.EmergencyAccessOut:
    return access_service.open_emergency_access(
        session, principal, person, body, now=utcnow(), professional_rpps=professional_rpps
    )
