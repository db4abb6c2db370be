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

The other signed-in pages (docs/portals.md, "Insured person's card pages"): the cards delegated
to me (a delegated code is a new passkey ceremony: ``passkey_code`` with the delegation id, as
the API's delegate does), the delegations given (create, withdraw after a confirmation), the
reading history (``apcv_service.readings``) and the suspension. Activation and the lost phone
(public pages) are in ``holder_activation.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.apcv import schemas as apcv_schemas
from carnet.apcv.service import apcv_service
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


# -- the holder's pages: navigation, delegations, history, suspension --------------------------

DELEGATED_TO_ME = "/carte/delegue-a-moi"
DELEGATIONS = "/carte/delegations"
HISTORY = "/carte/historique"
SUSPEND = "/carte/suspendre"
HISTORY_PAGE = 20
# The delegated code shown after a ceremony, kept in the session until it expires.
DELEGATED_CODE_KEY = "delegated_code"
MAX_NIR_LENGTH = 30

DELEGATION_MESSAGES = {
    "delegate_without_active_card": _(
        "La personne de confiance doit avoir une carte Carnet active. Vérifiez son numéro de "
        "sécurité sociale."
    ),
    "not_your_beneficiary": _(
        "Vous ne pouvez déléguer que votre carte ou celle d’un enfant qui vous est rattaché."
    ),
    "delegate_is_holder": _("Vous ne pouvez pas vous déléguer votre propre carte."),
    "invalid_delegation_period": _(
        "La période n’est pas valable : elle commence aujourd’hui ou plus tard, finit après son "
        "début et dure au plus un an."
    ),
}
DELEGATION_BAD_NIR = _(
    "Le numéro de sécurité sociale de la personne de confiance n’est pas valide : saisissez ses "
    "15 caractères (13 chiffres et la clé)."
)
DELEGATION_NEEDS_ACTIVE_CARD = _(
    "Votre carte n’est pas active : vous ne pouvez pas créer de délégation."
)
DELEGATION_DATES = _("Indiquez des dates valables (jour, mois, année).")
DELEGATION_NOT_FOUND = _("Cette délégation n’existe pas ou ne vous concerne pas.")
DELEGATED_REFUSED = _(
    "Le code n’a pas pu être créé. Utilisez la clé d’accès de votre propre carte Carnet et "
    "vérifiez que la délégation est en cours."
)
GAVE_UP = _("Vous avez renoncé à cette délégation.")
DELEGATED_NOT_IN_FORCE = _("Cette délégation n’est pas en cours : elle ne peut pas être présentée.")


def signed_in_holder(request: Request) -> Principal | Response:
    """The signed-in holder, or the redirection to the sign-in page."""
    principal = holder_principal(request)
    if principal is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    return principal


def _person_label(person: card_schemas.PersonName) -> str:
    first = person.used_first_name or (person.first_names[0] if person.first_names else "")
    return f"{first.title()} {person.used_name or person.birth_name}".strip()


def _local(moment: datetime, with_time: bool = True) -> str:
    local = moment.astimezone(PARIS) if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = local.astimezone(PARIS)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _delegation(d: card_schemas.DelegationOut) -> dict[str, Any]:
    # A delegation ends at midnight: the last day shown is the day before.
    last_day = (d.ends_at.astimezone(PARIS) - timedelta(seconds=1)).strftime("%d/%m/%Y")
    return {
        "id": d.id,
        "state": d.state,
        "grantor": _person_label(d.grantor),
        "beneficiary": _person_label(d.beneficiary),
        "delegate": _person_label(d.delegate),
        "starts": _local(d.starts_at, with_time=False),
        "ends": last_day,
        "revoked": _local(d.revoked_at) if d.revoked_at else None,
    }


@router.get(DELEGATED_TO_ME, response_class=HTMLResponse, response_model=None)
async def delegated_to_me(request: Request, uow: UnitOfWorkDep, fait: str = "") -> Response:
    """The cards delegated to the signed-in person, and a delegated card's code once made."""
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    listing = await uow.run(cards_service.list_delegations, principal, utcnow())
    shown: dict[str, Any] | None = None
    kept = web_session(request).identity.get(DELEGATED_CODE_KEY)
    if isinstance(kept, dict) and isinstance(kept.get("code"), str):
        expires = datetime.fromisoformat(str(kept.get("expires_at")))
        if expires > datetime.now(UTC):
            shown = {
                "delegation_id": kept.get("delegation_id"),
                **_code_context(card_schemas.PasskeyCode(code=kept["code"], expires_at=expires)),
            }
    return render(
        request,
        "pages/card_delegated.html",
        {
            "received": [_delegation(d) for d in listing.received],
            "shown": shown,
            "notice": _t(request, GAVE_UP) if fait == "retiree" else None,
            "failed": _t(request, DELEGATED_REFUSED),
        },
    )


def _delegated_code(
    session: Session,
    settings: Settings,
    principal: Principal,
    delegation_id: int,
    credential: dict[str, Any],
    now: datetime,
) -> card_schemas.PasskeyCode:
    """A presentation code for a delegation received, made with the delegate's own passkey."""
    listing = cards_service.list_delegations(session, principal, now)
    if not any(d.id == delegation_id and d.state == "active" for d in listing.received):
        raise AppError("delegation not in force", code="delegation_not_in_force", status_code=409)
    card = cards_service.holder_card(session, principal)
    code = cards_service.passkey_code(
        session,
        settings,
        card_schemas.PasskeyCodeRequest(
            credential=credential,
            purpose=card_qr.PURPOSE_PRESENTATION,
            delegation_id=delegation_id,
        ),
        now,
    )
    if card_qr.parse(code.code).token.card_number != card.number:
        # Another person's passkey: their card is not the one the delegation was given to.
        raise AppError(
            "not the signed-in holder's passkey", code="passkey_refused", status_code=401
        )
    return code


@router.post(DELEGATED_TO_ME + "/{delegation_id}/code")
async def delegated_code(
    request: Request,
    uow: UnitOfWorkDep,
    delegation_id: int,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> JSONResponse:
    """The delegate's assertion → a delegated presentation code (JSON for our script)."""
    principal = holder_principal(request)
    if principal is None:
        return JSONResponse({"location": SIGN_IN})
    if not 1 <= delegation_id < 2**63:
        return JSONResponse({"message": _t(request, DELEGATED_NOT_IN_FORCE)}, status_code=404)
    try:
        code = await uow.run(
            _delegated_code, _settings(request), principal, delegation_id, credential, utcnow()
        )
    except AppError as exc:
        log.info("web_delegated_code_refused", code=exc.code)
        message = (
            DELEGATED_NOT_IN_FORCE if exc.code == "delegation_not_in_force" else (DELEGATED_REFUSED)
        )
        return JSONResponse(
            {"error": exc.code, "message": _t(request, message)}, status_code=exc.status_code
        )
    session = web_session(request)
    session.identity[DELEGATED_CODE_KEY] = {
        "delegation_id": delegation_id,
        "code": code.code,
        "expires_at": code.expires_at.astimezone(UTC).isoformat(),
    }
    session.modified = True
    # A new query each time: the same address with only a new fragment would not reload.
    return JSONResponse({"location": f"{DELEGATED_TO_ME}?code={int(time.time())}#code-delegue"})


# -- delegations given --------------------------------------------------------------------------


async def _delegations_page(
    request: Request,
    uow: UnitOfWork,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    listing = await uow.run(cards_service.list_delegations, principal, now)
    view = await uow.run(cards_service.card_view, principal, now)
    today = now.astimezone(PARIS).date()
    return render(
        request,
        "pages/card_delegations.html",
        {
            "given": [_delegation(d) for d in listing.given],
            "received_count": sum(1 for d in listing.received if d.state == "active"),
            "beneficiaries": [
                {**_beneficiary(b), "matricule": b.matricule} for b in view.beneficiaries
            ],
            "card_active": view.status == "active",
            "form": form or {"start": today.isoformat()},
            "today": today.isoformat(),
            "last_day": (today + timedelta(days=365)).isoformat(),
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get(DELEGATIONS, response_class=HTMLResponse, response_model=None)
async def delegations(request: Request, uow: UnitOfWorkDep, fait: str = "") -> Response:
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    notices = {
        "creee": _("La délégation est créée. La personne de confiance peut présenter la carte."),
        "retiree": _("La délégation est retirée : elle ne peut plus être utilisée."),
    }
    notice = _t(request, notices[fait]) if fait in notices else None
    return await _delegations_page(request, uow, principal, notice=notice)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@router.post(DELEGATIONS, response_class=HTMLResponse, response_model=None)
async def create_delegation(
    request: Request,
    uow: UnitOfWorkDep,
    delegate_nir: Annotated[str, Form(max_length=200)] = "",
    beneficiary_nir: Annotated[str, Form(max_length=200)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    form = {
        "delegate_nir": delegate_nir.strip(),
        "beneficiary_nir": beneficiary_nir,
        "start": start,
        "end": end,
    }
    now = utcnow()
    today = now.astimezone(PARIS).date()
    first, last = (_day(start) if start.strip() else today), _day(end)
    nir = "".join(delegate_nir.split())
    if first is None or last is None:
        error = DELEGATION_DATES
    elif not nir or len(nir) > MAX_NIR_LENGTH:
        error = DELEGATION_BAD_NIR
    else:
        error = None
    if error is not None:
        return await _delegations_page(
            request, uow, principal, form=form, error=_t(request, error), status_code=422
        )
    assert first is not None
    assert last is not None
    starts_at = None if first == today else datetime.combine(first, dt_time(), PARIS)
    ends_at = datetime.combine(last + timedelta(days=1), dt_time(), PARIS)
    try:
        body = card_schemas.DelegationCreate(
            delegate_nir=nir,
            beneficiary_nir=beneficiary_nir.strip() or "-",
            starts_at=starts_at,
            ends_at=ends_at,
        )
        await uow.run(cards_service.create_delegation, principal, body, now)
    except ValidationError:
        return await _delegations_page(
            request, uow, principal, form=form, error=_t(request, DELEGATION_BAD_NIR),
            status_code=422,
        )  # fmt: skip
    except AppError as exc:
        if exc.code in DELEGATION_MESSAGES:
            message = DELEGATION_MESSAGES[exc.code]
        elif exc.code.startswith("card_"):
            message = DELEGATION_NEEDS_ACTIVE_CARD
        elif any(d.get("field") == "beneficiary_nir" for d in exc.details):
            message = DELEGATION_MESSAGES["not_your_beneficiary"]
        else:
            message = DELEGATION_BAD_NIR
        log.info("web_delegation_refused", code=exc.code)
        return await _delegations_page(
            request, uow, principal, form=form, error=_t(request, message), status_code=422
        )
    return RedirectResponse(f"{DELEGATIONS}?fait=creee", status_code=303)


@router.get(DELEGATIONS + "/{delegation_id}/retirer", response_class=HTMLResponse,
            response_model=None)  # fmt: skip
async def revoke_delegation_page(
    request: Request, uow: UnitOfWorkDep, delegation_id: int
) -> Response:
    """The confirmation before withdrawing a delegation (or giving up one received)."""
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    listing = await uow.run(cards_service.list_delegations, principal, utcnow())
    found = next((d for d in [*listing.given, *listing.received] if d.id == delegation_id), None)
    if found is None:
        return render(
            request,
            "pages/card_delegation_revoke.html",
            {"delegation": None, "error": _t(request, DELEGATION_NOT_FOUND)},
            status_code=404,
        )
    return render(
        request,
        "pages/card_delegation_revoke.html",
        {"delegation": _delegation(found), "role": found.role, "error": None},
    )


@router.post(DELEGATIONS + "/{delegation_id}/retirer", response_model=None)
async def revoke_delegation(request: Request, uow: UnitOfWorkDep, delegation_id: int) -> Response:
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    try:
        if not 1 <= delegation_id < 2**63:
            raise AppError("no such delegation", code="delegation_not_found", status_code=404)
        revoked = await uow.run(cards_service.revoke_delegation, principal, delegation_id, utcnow())
    except AppError:
        return render(
            request,
            "pages/card_delegation_revoke.html",
            {"delegation": None, "error": _t(request, DELEGATION_NOT_FOUND)},
            status_code=404,
        )
    target = DELEGATIONS if revoked.role == "given" else DELEGATED_TO_ME
    return RedirectResponse(f"{target}?fait=retiree", status_code=303)


# -- history ------------------------------------------------------------------------------------


def _reading(r: apcv_schemas.Reading) -> dict[str, Any]:
    pro = r.professional
    pro_name = " ".join(x for x in (pro.first_name, pro.last_name) if x)
    person = " ".join(x for x in (r.beneficiary.first_name, r.beneficiary.last_name) if x)
    delegate = None
    if r.delegation is not None:
        d = r.delegation.delegate
        delegate = " ".join(x for x in (d.first_name, d.last_name) if x)
    return {
        "when": _local(r.read_at),
        "iso": r.read_at.astimezone(UTC).isoformat(),
        "professional": pro_name or pro.rpps or "",
        "profession": pro.profession_label or "",
        "place": r.place.name or r.place.identifier or "",
        "beneficiary": person.title() if person.isupper() else person,
        "role": r.role,
        "delegate": delegate.title() if delegate and delegate.isupper() else delegate,
    }


@router.get(HISTORY, response_class=HTMLResponse, response_model=None)
async def history(request: Request, uow: UnitOfWorkDep, avant: str = "") -> Response:
    """The card's readings by professionals, newest first, ``HISTORY_PAGE`` a page."""
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    before = int(avant) if avant.isdigit() and 0 < int(avant) < 2**63 else None
    page = await uow.run(apcv_service.readings, principal, before=before, limit=HISTORY_PAGE)
    return render(
        request,
        "pages/card_history.html",
        {
            "readings": [_reading(r) for r in page.readings],
            "next_before": page.next_before,
            "older_page": before is not None,
        },
    )


# -- suspension ---------------------------------------------------------------------------------


@router.get(SUSPEND, response_class=HTMLResponse, response_model=None)
async def suspend_page(request: Request, uow: UnitOfWorkDep) -> Response:
    """The confirmation before suspending the card (lost or stolen phone)."""
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    view = await uow.run(cards_service.card_view, principal, utcnow())
    return render(request, "pages/card_suspend.html", {"card": view, "done": False})


@router.post(SUSPEND, response_class=HTMLResponse, response_model=None)
async def suspend(request: Request, uow: UnitOfWorkDep) -> Response:
    principal = signed_in_holder(request)
    if isinstance(principal, Response):
        return principal
    try:
        await uow.run(cards_service.suspend_by_holder, principal, utcnow())
        view = await uow.run(cards_service.card_view, principal, utcnow())
    except AppError:  # no longer this person's card (activated again elsewhere)
        return RedirectResponse(MY_CARD, status_code=303)
    return render(request, "pages/card_suspend.html", {"card": view, "done": True})
