"""HTTP API of the cards domain: activation and lost phone (public by nature: the person has no
card yet, or no phone), the holder session, and the holder's routes (``holder`` token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status

from carnet.auth.service import AuthService
from carnet.cards import schemas
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import Holder, SessionDep, UnitOfWorkDep

router = APIRouter(prefix="/api/v1/card", tags=["card"])

ActivationId = Annotated[
    str, Path(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="From POST")
]
DelegationId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# -- activation (public) ---------------------------------------------------------------------------


@router.post(
    "/activations",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivationOut,
    summary="Start an activation: NIR + birth date checked, a 6-digit code sent by e-mail",
)
async def start_activation(
    body: schemas.IdentityClaim, request: Request, uow: UnitOfWorkDep
) -> schemas.ActivationOut:
    return await uow.run(cards_service.start_activation, _settings(request), body, utcnow())


@router.get(
    "/activations/{activation_id}",
    response_model=schemas.ActivationOut,
    summary="Where an activation stands",
)
async def activation_status(
    activation_id: ActivationId, uow: UnitOfWorkDep
) -> schemas.ActivationOut:
    return await uow.run(cards_service.activation_status, activation_id, utcnow())


@router.post(
    "/activations/{activation_id}/email-confirmation",
    response_model=schemas.ActivationOut,
    summary="Confirm the e-mail with its code; the proofing step follows (state proofed)",
)
async def confirm_email(
    activation_id: ActivationId,
    body: schemas.EmailConfirmation,
    request: Request,
    uow: UnitOfWorkDep,
) -> schemas.ActivationOut:
    return await uow.run(
        cards_service.confirm_email, _settings(request), activation_id, body.code, utcnow()
    )


@router.post(
    "/activations/{activation_id}/device",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivationCompleted,
    summary="Bind the wallet's public key and PIN key: a new card (the previous one is revoked)",
)
async def register_device(
    activation_id: ActivationId,
    body: schemas.DeviceRegistration,
    request: Request,
    uow: UnitOfWorkDep,
) -> schemas.ActivationCompleted:
    return await uow.run(
        cards_service.complete_with_wallet, _settings(request), activation_id, body, utcnow()
    )


@router.post(
    "/activations/{activation_id}/passkey/options",
    summary="WebAuthn creation options for a passkey instead of a wallet (web app)",
)
async def passkey_registration_options(
    activation_id: ActivationId, request: Request, uow: UnitOfWorkDep
) -> dict[str, Any]:
    return await uow.run(
        cards_service.passkey_registration_options, _settings(request), activation_id, utcnow()
    )


@router.post(
    "/activations/{activation_id}/passkey",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivationCompleted,
    summary="Bind a passkey (user verification required): a new card",
)
async def register_passkey(
    activation_id: ActivationId,
    body: schemas.PasskeyRegistration,
    request: Request,
    uow: UnitOfWorkDep,
) -> schemas.ActivationCompleted:
    return await uow.run(
        cards_service.complete_with_passkey, _settings(request), activation_id, body, utcnow()
    )


# -- lost phone (public) ---------------------------------------------------------------------------


@router.post(
    "/lost",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivationOut,
    summary="Lost phone: NIR, birth date and the account's e-mail; a code is sent to it",
)
async def start_lost_phone(
    body: schemas.IdentityClaim, request: Request, uow: UnitOfWorkDep
) -> schemas.ActivationOut:
    return await uow.run(cards_service.start_lost_phone, _settings(request), body, utcnow())


@router.post(
    "/lost/{activation_id}/confirmation",
    response_model=schemas.ActivationOut,
    summary="Lost phone: the e-mail code suspends the card at once",
)
async def confirm_lost_phone(
    activation_id: ActivationId,
    body: schemas.EmailConfirmation,
    request: Request,
    uow: UnitOfWorkDep,
) -> schemas.ActivationOut:
    return await uow.run(
        cards_service.confirm_lost_phone, _settings(request), activation_id, body.code, utcnow()
    )


# -- passkey cards (public: the assertion is the credential) ---------------------------------------


@router.post("/passkey/options", summary="WebAuthn request options to unlock a passkey card")
def passkey_options(request: Request) -> dict[str, Any]:
    return cards_service.passkey_options(_settings(request), utcnow())


@router.post(
    "/passkey/codes",
    response_model=schemas.PasskeyCode,
    summary="A passkey assertion with user verification → a code signed by the platform",
)
async def passkey_code(
    body: schemas.PasskeyCodeRequest, request: Request, uow: UnitOfWorkDep
) -> schemas.PasskeyCode:
    return await uow.run(cards_service.passkey_code, _settings(request), body, utcnow())


# -- holder session --------------------------------------------------------------------------------


@router.post(
    "/sessions",
    response_model=schemas.HolderToken,
    summary="Sign in with the card: a code with purpose 2 (device + secret code) → holder token",
)
async def open_session(
    body: schemas.SessionRequest, request: Request, uow: UnitOfWorkDep
) -> schemas.HolderToken:
    now = utcnow()
    presented = await uow.run(cards_service.open_session, body.code, now)
    auth: AuthService = request.app.state.auth_service
    token = auth.issue_holder_token(
        person_id=presented.holder_person_id,
        card_id=presented.card_id,
        now=now,
        ttl=_settings(request).holder_token_ttl_seconds,
    )
    return schemas.HolderToken(**token)


# -- holder routes ---------------------------------------------------------------------------------


@router.get("", response_model=schemas.CardView, summary="The holder's card and beneficiaries")
def read_card(principal: Holder, session: SessionDep) -> schemas.CardView:
    return cards_service.card_view(session, principal, utcnow())


@router.post(
    "/suspend",
    response_model=schemas.CardStatusOut,
    summary="Suspend the card (lost phone) at once",
)
def suspend_card(principal: Holder, session: SessionDep) -> schemas.CardStatusOut:
    return cards_service.suspend_by_holder(session, principal, utcnow())


@router.post(
    "/delegations",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DelegationOut,
    summary="Delegate the use of the card (for self or a dependant) to a person with a card",
)
def create_delegation(
    body: schemas.DelegationCreate, principal: Holder, session: SessionDep
) -> schemas.DelegationOut:
    return cards_service.create_delegation(session, principal, body, utcnow())


@router.get(
    "/delegations",
    response_model=schemas.DelegationList,
    summary="Delegations given and received",
)
def list_delegations(principal: Holder, session: SessionDep) -> schemas.DelegationList:
    return cards_service.list_delegations(session, principal, utcnow())


@router.delete(
    "/delegations/{delegation_id}",
    response_model=schemas.DelegationOut,
    summary="Revoke a delegation at once (by the holder, or given up by the delegate)",
)
def revoke_delegation(
    delegation_id: DelegationId, principal: Holder, session: SessionDep
) -> schemas.DelegationOut:
    return cards_service.revoke_delegation(session, principal, delegation_id, utcnow())
