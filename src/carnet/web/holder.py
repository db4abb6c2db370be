"""The insured person's pages: sign in with a passkey card, show the card, sign out.

Sign-in calls the card service exactly as the API does (``POST /api/v1/card/passkey/options``,
``/passkey/codes`` with purpose 2, then ``/sessions``): our script (``static/passkey.js``; no
inline script under the CSP) asks the browser for an assertion with user verification on options
from ``/carte/connexion/options``, posts it to ``/carte/connexion`` with the CSRF header; the card
service verifies it, issues a session code and verifies that code; the web session then holds
``{person_id, card_id}`` only, under a new session id and CSRF token (rotation).

"Ma carte" shows the beneficiaries (``cards_service.card_view``) and the QR code of a
platform-signed presentation code (``cards_service.signed_in_presentation_code``), drawn as an
SVG by segno. The code lives two minutes; htmx asks for a new one every 75 seconds. A card's QR
presents the card (the holder and the children attached to them): the professional chooses the
beneficiary when reading it (docs/card.md), so the page lists them rather than offering a choice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.auth.scopes import HOLDER_SCOPE
from carnet.cards import schemas as card_schemas
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import UnitOfWork, UnitOfWorkDep
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.logging import get_logger
from carnet.web.security import web_session
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

SIGN_IN = "/carte/connexion"
MY_CARD = "/carte/ma-carte"
# Well before the code's two minutes: a late or failed refresh still leaves a valid code.
REFRESH_SECONDS = 75
PARIS = ZoneInfo("Europe/Paris")
# Codes are made without a new passkey ceremony only this long after the sign-in (the polling
# page keeps the session alive): then the holder signs in again (user verification again).
PRESENTATION_WINDOW_SECONDS = 30 * 60


def _(message: str) -> str:
    return message


SIGN_IN_FAILED = _(
    "La connexion n’a pas abouti. Vérifiez que vous utilisez la clé d’accès de votre carte Carnet "
    "et réessayez."
)
SIGN_IN_AGAIN = _(
    "Pour votre sécurité, le code ne se renouvelle plus trente minutes après la connexion. "
    "Reconnectez-vous pour afficher à nouveau votre carte."
)
CARD_UNAVAILABLE = _(
    "Votre carte ne peut pas être présentée : elle est suspendue ou n’est plus active. "
    "Activez à nouveau votre carte sur cet appareil."
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def holder_principal(request: Request) -> Principal | None:
    """The signed-in card holder of this web session, as the card service names a holder."""
    identity = web_session(request).identity
    person_id, card_id = identity.get("person_id"), identity.get("card_id")
    if not isinstance(person_id, int) or not isinstance(card_id, int):
        return None
    return Principal(
        client_id="web", scopes=frozenset({HOLDER_SCOPE}), person_id=person_id, card_id=card_id
    )


@router.get(SIGN_IN, response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    # Signed in too long ago to show codes: the page offers the sign-in again.
    signed_in = holder_principal(request) is not None and _may_present(request)
    return render(request, "pages/sign_in.html", {"signed_in": signed_in})


@router.post(SIGN_IN + "/options")
def sign_in_options(request: Request) -> dict[str, Any]:
    """WebAuthn request options (discoverable passkey, user verification required)."""
    return cards_service.passkey_options(_settings(request), utcnow())


def _sign_in(
    session: Session, settings: Settings, credential: dict[str, Any], now: datetime
) -> tuple[int, int]:
    code = cards_service.passkey_code(
        session,
        settings,
        card_schemas.PasskeyCodeRequest(credential=credential, purpose=card_qr.PURPOSE_SESSION),
        now,
    )
    presented = cards_service.open_session(session, code.code, now)
    return presented.holder_person_id, presented.card_id


@router.post(SIGN_IN)
async def sign_in(
    request: Request,
    uow: UnitOfWorkDep,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> JSONResponse:
    """The browser's assertion → the holder signed in (JSON for our script)."""
    try:
        person_id, card_id = await uow.run(_sign_in, _settings(request), credential, utcnow())
    except AppError as exc:
        log.info("web_sign_in_refused", code=exc.code)
        return JSONResponse(
            {"error": exc.code, "message": _t(request, SIGN_IN_FAILED)}, status_code=exc.status_code
        )
    web_session(request).sign_in(
        {"person_id": person_id, "card_id": card_id, "signed_in_at": int(time.time())},
        int(time.time()),
    )
    return JSONResponse({"location": MY_CARD})


@router.post("/carte/deconnexion")
def sign_out(request: Request) -> RedirectResponse:
    web_session(request).sign_out(int(time.time()))
    return RedirectResponse("/carte", status_code=303)


def qr_svg(code: str) -> str:
    """The code as an inline SVG (dark modules on a white quiet zone, also in the dark theme)."""
    qr = segno.make(code, error="m", micro=False)
    return str(
        qr.svg_inline(
            scale=4, border=4, dark="#000", light="#fff", omitsize=True, svgclass="carnet-qr"
        )
    )


def _beneficiary(person: card_schemas.BeneficiaryOut) -> dict[str, str]:
    first = person.used_first_name or (person.first_names[0] if person.first_names else "")
    parts = person.birth_date.split("-")
    known = len(parts) == 3 and "00" not in parts[1:]
    return {
        "name": f"{first.title()} {person.used_name or person.birth_name}".strip(),
        "quality": person.quality,
        "birth_date": "/".join(reversed(parts)) if known else person.birth_date,
    }


def _code_context(code: card_schemas.PasskeyCode) -> dict[str, Any]:
    expires = code.expires_at.astimezone(UTC)
    return {
        "qr_svg": qr_svg(code.code),
        "code_text": code.code,
        "expires_at": expires.isoformat(),
        "expires_local": expires.astimezone(PARIS).strftime("%H:%M:%S"),
        "expires_in": max(0, int((expires - datetime.now(UTC)).total_seconds())),
        "refresh_seconds": REFRESH_SECONDS,
        "unavailable": None,
        "sign_in_again": False,
    }


def _unavailable(request: Request, message: str = CARD_UNAVAILABLE) -> dict[str, Any]:
    return {"qr_svg": "", "unavailable": _t(request, message), "sign_in_again": False}


def _may_present(request: Request) -> bool:
    signed_in_at = web_session(request).identity.get("signed_in_at")
    return (
        isinstance(signed_in_at, int) and time.time() - signed_in_at <= PRESENTATION_WINDOW_SECONDS
    )


async def _presentation(request: Request, uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """The QR fragment's values: a new code, or why there is none."""
    if not _may_present(request):
        return {**_unavailable(request, SIGN_IN_AGAIN), "sign_in_again": True}
    try:
        code = await uow.run(
            cards_service.signed_in_presentation_code, _settings(request), principal, utcnow()
        )
    except AppError:
        return _unavailable(request)
    return _code_context(code)


@router.get(MY_CARD, response_class=HTMLResponse, response_model=None)
async def my_card(request: Request, uow: UnitOfWorkDep) -> Response:
    principal = holder_principal(request)
    if principal is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    now = utcnow()
    view = await uow.run(cards_service.card_view, principal, now)
    context: dict[str, Any] = {
        "card": view,
        "beneficiaries": [_beneficiary(b) for b in view.beneficiaries],
    }
    context.update(await _presentation(request, uow, principal))
    return render(request, "pages/my_card.html", context)


@router.post(MY_CARD + "/code", response_class=HTMLResponse, response_model=None)
async def my_card_code(request: Request, uow: UnitOfWorkDep) -> Response:
    """A new code (htmx, every ``REFRESH_SECONDS``): the QR fragment."""
    principal = holder_principal(request)
    if principal is None:
        # Signed out elsewhere or the session expired: htmx follows to the sign-in page.
        return Response(status_code=200, headers={"HX-Redirect": SIGN_IN})
    return render(request, "pages/my_card_qr.html", await _presentation(request, uow, principal))
