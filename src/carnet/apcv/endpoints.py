"""HTTP API of the apcv domain: the professional software's card reading (apCV-like services),
the public key that verifies invoice signatures, and the holder's reading history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from carnet.apcv import schemas
from carnet.apcv.exceptions import SigningUnavailable
from carnet.apcv.service import HISTORY_MAX_PAGE, SIGNING_KEY_NAME, apcv_service
from carnet.config import Settings
from carnet.dependencies import ApcvUse, Holder, UnitOfWorkDep
from carnet.kit import signing_keys
from carnet.kit.signing_keys import SigningKey

router = APIRouter(tags=["apcv"])
PREFIX = "/api/v1/apcv"

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown context (or another client's), or beneficiary not in it"},
    410: {"description": "The context expired or was destroyed (`context_expired`)"},
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _signing_key(settings: Settings) -> SigningKey:
    try:
        return signing_keys.signing_key(settings.data_dir, SIGNING_KEY_NAME, env=settings.env)
    except (signing_keys.SigningKeyMissing, signing_keys.SigningKeyInvalid) as exc:
        raise SigningUnavailable(f"{exc} (or run `carnet apcv signing-key create`)") from exc


@router.post(
    f"{PREFIX}/contexts",
    status_code=201,
    response_model=schemas.ContextCreated,
    summary="Read a card's QR code: open an apCV context (apCV authentifierUtilisateurProximite)",
    responses={
        400: {"description": "qr_malformed, qr_unknown_card (foreign), qr_invalid_signature "
              "(tampered), qr_expired, qr_not_yet_valid, qr_lifetime_too_long, qr_wrong_purpose"},
        401: {"description": "wrong_secret_code (attempts left in details)"},
        403: {"description": "card_suspended, card_revoked, card_locked, delegation_expired, "
              "delegation_revoked, delegation_not_yours, or the client may not act for this "
              "professional"},
        404: {"description": "The professional is not in the directory"},
        409: {"description": "qr_replayed: a code is accepted once"},
    },
)  # fmt: skip
async def create_context(
    body: schemas.ContextCreate, principal: ApcvUse, uow: UnitOfWorkDep, request: Request
) -> schemas.ContextCreated:
    ttl = _settings(request).apcv_context_ttl_seconds
    return await uow.run(
        apcv_service.create_context, principal, body, now=datetime.now(UTC), ttl_seconds=ttl
    )


@router.get(
    f"{PREFIX}/contexts/{{context_id}}",
    response_model=schemas.BeneficiaryRead,
    summary="One beneficiary's identity (INS, qualified) and rights at the date of care "
    "(apCV restituerContexteApCV)",
    responses=_ERRORS,
)
async def read_beneficiary(
    context_id: str,
    principal: ApcvUse,
    uow: UnitOfWorkDep,
    beneficiary: Annotated[
        str, Query(min_length=1, max_length=64, description="A ref from the context")
    ],
    on: Annotated[
        date | None, Query(alias="date", description="Date of care, YYYY-MM-DD (default today)")
    ] = None,
) -> schemas.BeneficiaryRead:
    return await uow.run(
        apcv_service.read_beneficiary,
        principal,
        context_id,
        beneficiary,
        on=on,
        now=datetime.now(UTC),
    )


@router.post(
    f"{PREFIX}/contexts/{{context_id}}/signatures",
    status_code=201,
    response_model=schemas.SignatureOut,
    summary="Sign an invoice hash (FSE/DRE) for a beneficiary of the context (apCV signerVitale)",
    responses=_ERRORS,
)
async def sign_invoice(
    context_id: str,
    body: schemas.SignatureCreate,
    principal: ApcvUse,
    uow: UnitOfWorkDep,
    request: Request,
) -> schemas.SignatureOut:
    settings = _settings(request)
    key = _signing_key(settings)
    return await uow.run(
        apcv_service.sign,
        principal,
        context_id,
        body,
        key=key,
        issuer=settings.issuer,
        now=datetime.now(UTC),
    )


@router.delete(
    f"{PREFIX}/contexts/{{context_id}}",
    status_code=204,
    response_class=Response,
    summary="Destroy the context (apCV detruireContexteApCV)",
    responses=_ERRORS,
)
async def destroy_context(context_id: str, principal: ApcvUse, uow: UnitOfWorkDep) -> Response:
    await uow.run(apcv_service.destroy, principal, context_id, now=datetime.now(UTC))
    return Response(status_code=204)


@router.get(
    f"{PREFIX}/jwks",
    summary="Public keys that verify invoice signatures (JWKS, public)",
    responses={200: {"content": {"application/json": {}}}},
)
def jwks(request: Request, response: Response) -> dict[str, Any]:
    settings = _settings(request)
    _signing_key(settings)  # a clear 503 when the key is not provisioned
    response.headers["Cache-Control"] = "public, max-age=300"
    return signing_keys.jwks(settings.data_dir, SIGNING_KEY_NAME, env=settings.env)


@router.get(
    "/api/v1/card/readings",
    response_model=schemas.ReadingPage,
    tags=["card"],
    summary="The holder's reading history: their card, their dependants, their delegations",
)
async def card_readings(
    principal: Holder,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=HISTORY_MAX_PAGE)] = 20,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")
    ] = None,
) -> schemas.ReadingPage:
    return await uow.run(apcv_service.readings, principal, before=before, limit=limit)
