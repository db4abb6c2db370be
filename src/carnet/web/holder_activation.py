"""Activating a card from the web, and suspending it after a lost phone (public pages).

Activation follows the card service's state machine (docs/card.md) exactly as the API does:
``start_activation`` (NIR, birth date, e-mail: the proofing evidence of today's
``EmailAndBirthDateProofing``) e-mails a six-digit code; ``confirm_email`` checks it and runs the
proofing step (``proofed``); a proofed activation binds a WebAuthn passkey (``static/passkey.js``,
``data-passkey="create"``, user verification required: the authenticator's PIN or biometrics stand
in for a wallet's secret code, so a passkey card has no secret code to choose). The new holder is
then signed in (``complete_with_passkey_signed_in``) and sent to "Ma carte".

The activation id (24 random URL-safe characters, as in the API's paths) is the only state
between the steps: each step is ``/carte/activer/{id}`` (GET shows the step the activation is
at, so a reload or a return from the mail application lands on the right step).

A lost phone: ``start_lost_phone`` e-mails a code to the account's address, and
``confirm_lost_phone`` suspends the card (``/carte/perte``).
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.cards import schemas as card_schemas
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import UnitOfWorkDep
from carnet.exceptions import AppError
from carnet.logging import get_logger
from carnet.web.holder import MY_CARD
from carnet.web.security import web_session
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

ACTIVATE = "/carte/activer"
LOST = "/carte/perte"
_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{24}$")
_OTP = re.compile(r"^\d{6}$")


def _(message: str) -> str:
    return message


IDENTITY_REFUSED = _(
    "Ces informations ne correspondent à aucun assuré. Vérifiez votre numéro de sécurité sociale "
    "et votre date de naissance."
)
LOST_REFUSED = _(
    "Ces informations ne correspondent à aucune carte. Vérifiez votre numéro de sécurité sociale, "
    "votre date de naissance et l’adresse électronique de votre compte."
)
BAD_NIR = _(
    "Le numéro de sécurité sociale n’est pas valide : saisissez ses 15 caractères (13 chiffres et "
    "la clé), tels qu’ils figurent sur votre attestation de droits."
)
BAD_BIRTH_DATE = _(
    "La date de naissance n’est pas valide : saisissez le jour, le mois et l’année (par exemple "
    "12, 4 et 1985)."
)
BAD_EMAIL = _("L’adresse électronique n’est pas valide (par exemple : nom@exemple.fr).")
TOO_MANY = _(
    "Trop de demandes pour cette personne dans la dernière heure. Réessayez dans une heure."
)
MAIL_DOWN = _("Le courriel n’a pas pu être envoyé. Réessayez dans quelques minutes.")
UNEXPECTED = _("La demande n’a pas abouti. Vérifiez votre saisie et réessayez.")
BAD_OTP = _("Saisissez les six chiffres du code reçu par courriel.")
WRONG_OTP = _("Code incorrect : il vous reste %(left)s essai(s).")
OTP_NO_ATTEMPT = _(
    "Code incorrect, et plus aucun essai. Recommencez depuis le début pour recevoir un nouveau "
    "code."
)
OTP_EXPIRED = _("Ce code a expiré. Recommencez pour recevoir un nouveau code.")
PASSKEY_REFUSED = _(
    "La clé d’accès n’a pas été acceptée : votre appareil doit vérifier que c’est bien vous "
    "(code de déverrouillage, empreinte ou visage). Réessayez."
)
PASSKEY_TAKEN = _("Cette clé d’accès appartient déjà à une carte. Créez une nouvelle clé d’accès.")
PASSKEY_LATE = _("Le délai est dépassé. Réessayez.")
ACTIVATION_OVER = _("Cette activation n’est plus valable. Recommencez depuis le début.")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _base(mode: str) -> str:
    return ACTIVATE if mode == "activate" else LOST


def _birth_date(day: str, month: str, year: str) -> str | None:
    """``YYYY-MM-DD`` from the three fields (``00`` allowed: a partly unknown birth date)."""
    day, month, year = day.strip(), month.strip(), year.strip()
    if not (day.isdigit() and month.isdigit() and year.isdigit()):
        return None
    if len(year) != 4 or len(day) > 2 or len(month) > 2 or int(month) > 12 or int(day) > 31:
        return None
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _identity_message(exc: AppError, refused: str) -> str:
    if exc.code == "identity_not_recognised":
        return refused
    if exc.code == "too_many_activations":
        return TOO_MANY
    if exc.code == "mail_unavailable":
        return MAIL_DOWN
    fields = {str(d.get("field", "")) for d in exc.details}
    if exc.code == "invalid_date" or "birth_date" in fields:
        return BAD_BIRTH_DATE
    if "email" in fields or "mail" in exc.code:
        return BAD_EMAIL
    if "nir" in fields or exc.status_code == 422:
        return BAD_NIR
    return UNEXPECTED


def _page(
    request: Request,
    mode: str,
    step: str,
    *,
    activation_id: str = "",
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "pages/card_activate.html",
        {
            "mode": mode,
            "step": step,
            "activation_id": activation_id,
            "form": form or {},
            "error": error,
            "base": _base(mode),
        },
        status_code=status_code,
    )


async def _start(
    request: Request,
    uow: UnitOfWorkDep,
    mode: str,
    nir: str,
    day: str,
    month: str,
    year: str,
    email: str,
) -> Response:
    form = {"nir": nir.strip(), "day": day, "month": month, "year": year, "email": email.strip()}
    birth_date = _birth_date(day, month, year)
    cleaned = "".join(nir.split())
    error = None
    if not 13 <= len(cleaned) <= 15:  # 15 with the key (the service checks the rest)
        error = BAD_NIR
    elif birth_date is None:
        error = BAD_BIRTH_DATE
    elif not email.strip() or len(email.strip()) > 254:
        error = BAD_EMAIL
    if error is not None:
        return _page(
            request, mode, "identity", form=form, error=_t(request, error), status_code=422
        )
    assert birth_date is not None
    try:
        claim = card_schemas.IdentityClaim(nir=cleaned, birth_date=birth_date, email=email.strip())
    except ValidationError:
        return _page(
            request, mode, "identity", form=form, error=_t(request, BAD_EMAIL), status_code=422
        )
    method = (
        cards_service.start_activation if mode == "activate" else cards_service.start_lost_phone
    )
    try:
        started = await uow.run(method, _settings(request), claim, utcnow())
    except AppError as exc:
        log.info("web_activation_refused", code=exc.code, mode=mode)
        refused = IDENTITY_REFUSED if mode == "activate" else LOST_REFUSED
        return _page(
            request,
            mode,
            "identity",
            form=form,
            error=_t(request, _identity_message(exc, refused)),
            status_code=exc.status_code if exc.status_code < 500 else 422,
        )
    return RedirectResponse(f"{_base(mode)}/{started.activation_id}", status_code=303)


async def _show(request: Request, uow: UnitOfWorkDep, mode: str, activation_id: str) -> Response:
    purpose = "activate" if mode == "activate" else "suspend"
    status = None
    if _PUBLIC_ID.fullmatch(activation_id):
        try:
            status = await uow.run(cards_service.activation_status, activation_id, utcnow())
        except AppError:
            status = None
    if status is None or status.purpose != purpose:
        return _page(request, mode, "over", error=_t(request, ACTIVATION_OVER), status_code=404)
    step = {
        "email_sent": "code",
        "email_confirmed": "proofing",
        "proofed": "passkey",
        "completed": "done",
    }.get(status.state, "over")
    error = _t(request, ACTIVATION_OVER) if step == "over" else None
    return _page(request, mode, step, activation_id=activation_id, error=error)


async def _confirm(
    request: Request, uow: UnitOfWorkDep, mode: str, activation_id: str, code: str
) -> Response:
    code = code.strip()
    if not _PUBLIC_ID.fullmatch(activation_id):
        return _page(request, mode, "over", error=_t(request, ACTIVATION_OVER), status_code=404)
    if not _OTP.fullmatch(code):
        return _page(
            request,
            mode,
            "code",
            activation_id=activation_id,
            error=_t(request, BAD_OTP),
            status_code=422,
        )
    method = cards_service.confirm_email if mode == "activate" else cards_service.confirm_lost_phone
    try:
        await uow.run(method, _settings(request), activation_id, code, utcnow())
    except AppError as exc:
        log.info("web_activation_code_refused", code=exc.code, mode=mode)
        left = next((int(d["attempts_left"]) for d in exc.details if "attempts_left" in d), None)
        if exc.code == "wrong_otp" and left:
            message = _t(request, WRONG_OTP) % {"left": left}
            return _page(
                request, mode, "code", activation_id=activation_id, error=message, status_code=400
            )
        if exc.code == "wrong_otp":
            return _page(request, mode, "over", error=_t(request, OTP_NO_ATTEMPT), status_code=400)
        if exc.code == "otp_expired":
            return _page(request, mode, "over", error=_t(request, OTP_EXPIRED), status_code=400)
        return _page(
            request, mode, "over", error=_t(request, ACTIVATION_OVER), status_code=exc.status_code
        )
    return RedirectResponse(f"{_base(mode)}/{activation_id}", status_code=303)


def _identity_and_code_routes(mode: str, base: str) -> None:
    """The steps both flows share: the identity form, the current step's page, the e-mail code."""

    @router.get(base, response_class=HTMLResponse, name=f"{mode}_page")
    def identity_page(request: Request) -> HTMLResponse:
        return _page(request, mode, "identity")

    @router.post(base, response_class=HTMLResponse, response_model=None, name=f"{mode}_start")
    async def identity(
        request: Request,
        uow: UnitOfWorkDep,
        nir: Annotated[str, Form(max_length=100)] = "",
        day: Annotated[str, Form(max_length=10)] = "",
        month: Annotated[str, Form(max_length=10)] = "",
        year: Annotated[str, Form(max_length=10)] = "",
        email: Annotated[str, Form(max_length=400)] = "",
    ) -> Response:
        return await _start(request, uow, mode, nir, day, month, year, email)

    @router.get(
        base + "/{activation_id}",
        response_class=HTMLResponse,
        response_model=None,
        name=f"{mode}_step",
    )
    async def step(request: Request, uow: UnitOfWorkDep, activation_id: str) -> Response:
        return await _show(request, uow, mode, activation_id)

    @router.post(
        base + "/{activation_id}/code",
        response_class=HTMLResponse,
        response_model=None,
        name=f"{mode}_code",
    )
    async def confirm_code(
        request: Request,
        uow: UnitOfWorkDep,
        activation_id: str,
        code: Annotated[str, Form(max_length=40)] = "",
    ) -> Response:
        return await _confirm(request, uow, mode, activation_id, code)


# -- activation ----------------------------------------------------------------------------------

_identity_and_code_routes("activate", ACTIVATE)


def _passkey_error(request: Request, exc: AppError) -> JSONResponse:
    log.info("web_activation_passkey_refused", code=exc.code)
    if exc.code == "passkey_refused":
        message = PASSKEY_REFUSED
    elif exc.code == "passkey_already_registered":
        message = PASSKEY_TAKEN
    elif exc.code == "passkey_challenge_invalid":
        message = PASSKEY_LATE
    else:
        message = ACTIVATION_OVER
    return JSONResponse(
        {"error": exc.code, "message": _t(request, message)}, status_code=exc.status_code
    )


@router.post(ACTIVATE + "/{activation_id}/cle/options", response_model=None)
async def activate_passkey_options(
    request: Request, uow: UnitOfWorkDep, activation_id: str
) -> Response:
    """WebAuthn creation options for a proofed activation (user verification required)."""
    if not _PUBLIC_ID.fullmatch(activation_id):
        return JSONResponse({"message": _t(request, ACTIVATION_OVER)}, status_code=404)
    try:
        options: dict[str, Any] = await uow.run(
            cards_service.passkey_registration_options, _settings(request), activation_id, utcnow()
        )
    except AppError as exc:
        return _passkey_error(request, exc)
    return JSONResponse(options)


def _complete(
    session: Session,
    settings: Settings,
    activation_id: str,
    credential: dict[str, Any],
    now: Any,
) -> tuple[int, int]:
    _, holder = cards_service.complete_with_passkey_signed_in(
        session,
        settings,
        activation_id,
        card_schemas.PasskeyRegistration(credential=credential),
        now,
    )
    assert holder.person_id is not None
    assert holder.card_id is not None
    return holder.person_id, holder.card_id


@router.post(ACTIVATE + "/{activation_id}/cle", response_model=None)
async def activate_passkey(
    request: Request,
    uow: UnitOfWorkDep,
    activation_id: str,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> Response:
    """The browser's new passkey → a new card, and its holder signed in (JSON for our script)."""
    if not _PUBLIC_ID.fullmatch(activation_id):
        return JSONResponse({"message": _t(request, ACTIVATION_OVER)}, status_code=404)
    try:
        person_id, card_id = await uow.run(
            _complete, _settings(request), activation_id, credential, utcnow()
        )
    except AppError as exc:
        return _passkey_error(request, exc)
    now = int(time.time())
    web_session(request).sign_in(
        {"person_id": person_id, "card_id": card_id, "signed_in_at": now}, now
    )
    return JSONResponse({"location": MY_CARD})


# -- lost phone ----------------------------------------------------------------------------------

_identity_and_code_routes("lost", LOST)
