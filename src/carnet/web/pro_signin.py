"""The professional portal's sign-in: passkeys and OpenID Connect (``carnet.proauth``).

* ``/pro/connexion``: "Se connecter avec une clé d’accès" (discoverable passkey, user
  verification; ``static/passkey.js``), and, when an issuer is configured
  (``CARNET_PRO_OIDC_ISSUER``…), "Se connecter avec Pro Santé Connect".
* ``/pro/connexion/oidc`` starts the authorization code flow (PKCE S256, state, nonce) — a GET
  link, not a form: the strict CSP's ``form-action 'self'`` forbids a form whose answer
  redirects to another site. ``/pro/connexion/oidc/retour`` is the callback.
* ``/pro/enrolement/<token>``: the one-time link of ``carnet pro invite`` (create a passkey,
  then signed in); ``/pro/compte``: the signed-in professional's passkeys (add one for this
  device, remove); ``POST /pro/deconnexion``.

Where the pending login lives: ``WebSession.identity`` means "signed in" (its mere presence),
so the state, nonce and PKCE verifier are kept in a cookie of their own
(``carnet_pro_oidc``: signed with the platform secret, HttpOnly, SameSite=Lax, path of the
OIDC routes, ten minutes) that names the web session's id: the callback accepts it only in the
same web session, compares the state in constant time, and always clears it, so a callback is
accepted once (a replayed or forged one finds no pending login or another state). The ID token's
nonce is also recorded server-side (``pro_used_nonces``). Signing in rotates the session id and
CSRF token (``WebSession.sign_in``).
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import UnitOfWorkDep
from carnet.exceptions import AppError
from carnet.logging import get_logger
from carnet.proauth import oidc
from carnet.proauth.exceptions import InvitationInvalid
from carnet.proauth.service import SignedInProfessional, proauth_service
from carnet.web.pro_session import ProSession, session_identity, signed_in_professional
from carnet.web.security import web_session
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

HOME = "/pro"
SIGN_IN = "/pro/connexion"
OIDC_START = "/pro/connexion/oidc"
OIDC_CALLBACK = oidc.CALLBACK_PATH
ENROL = "/pro/enrolement/{token}"
ACCOUNT = "/pro/compte"
PENDING_COOKIE = "carnet_pro_oidc"
PENDING_SECONDS = 600
TOKEN_MAX = 100
LABEL_MAX = 100


def _(message: str) -> str:
    return message


PASSKEY_FAILED = _(
    "La connexion n’a pas abouti. Utilisez une clé d’accès enregistrée pour votre compte "
    "professionnel, ou connectez-vous avec Pro Santé Connect."
)
NOT_ALLOWED = _(
    "Vous n’êtes pas un professionnel de santé actif de l’annuaire : la connexion est refusée."
)
OIDC_FAILED = _(
    "La connexion avec Pro Santé Connect n’a pas abouti (demande expirée, déjà utilisée ou "
    "réponse invalide). Recommencez depuis la page de connexion."
)
OIDC_UNAVAILABLE = _(
    "Pro Santé Connect ne répond pas pour le moment. Réessayez plus tard ou utilisez votre clé "
    "d’accès."
)
OIDC_OFF = _("La connexion avec Pro Santé Connect n’est pas proposée sur ce service.")
INVITATION_INVALID = _(
    "Ce lien d’enrôlement n’est plus valable : il a expiré, a déjà servi ou n’existe pas. "
    "Demandez un nouveau lien."
)
ENROL_FAILED = _(
    "La clé d’accès n’a pas pu être enregistrée. Réessayez ; si votre appareil en a déjà une "
    "pour ce compte, connectez-vous avec elle."
)
ADD_FAILED = _("La clé d’accès n’a pas pu être ajoutée. Réessayez.")
DEFAULT_LABEL = _("Clé d’accès")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sign_in(request: Request, who: SignedInProfessional, method: str) -> None:
    now = int(time.time())
    pro = ProSession(
        professional_id=who.professional_id,
        rpps=who.rpps,
        display_name=who.display_name,
        method=method,
        signed_in_at=now,
        structure_identifier=who.structure_identifier,
    )
    web_session(request).sign_in(session_identity(pro), now)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="carnet.pro.oidc.pending")


def _refused(request: Request, message: str, status_code: int) -> HTMLResponse:
    return render(
        request, "pro/signin_refused.html", {"message": _t(request, message)},
        status_code=status_code,
    )  # fmt: skip


# -- sign-in page and passkey sign-in -------------------------------------------------------------


@router.get(SIGN_IN, response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return render(
        request,
        "pro/signin.html",
        {"pro": signed_in_professional(request), "oidc": oidc.enabled(_settings(request))},
    )


@router.post(SIGN_IN + "/options")
def sign_in_options(request: Request) -> dict[str, Any]:
    return proauth_service.sign_in_options(_settings(request), utcnow())


@router.post(SIGN_IN)
async def passkey_sign_in(
    request: Request,
    uow: UnitOfWorkDep,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> JSONResponse:
    try:
        who = await uow.run(
            proauth_service.passkey_sign_in, _settings(request), credential, utcnow()
        )
    except AppError as exc:
        log.info("pro_sign_in_refused", method="passkey", code=exc.code)
        await uow.run(proauth_service.record_refusal, "passkey", f"{exc.code}: {exc.message}")
        return JSONResponse(
            {"error": exc.code, "message": _t(request, PASSKEY_FAILED)},
            status_code=exc.status_code,
        )
    _sign_in(request, who, "passkey")
    return JSONResponse({"location": HOME})


@router.post("/pro/deconnexion")
def sign_out(request: Request) -> RedirectResponse:
    web_session(request).sign_out(int(time.time()))
    return RedirectResponse(SIGN_IN, status_code=303)


# -- OpenID Connect -------------------------------------------------------------------------------


@router.get(OIDC_START, response_model=None)
async def oidc_start(request: Request) -> Response:
    settings = _settings(request)
    if not oidc.enabled(settings):
        return _refused(request, OIDC_OFF, 404)
    try:
        url, pending = await run_in_threadpool(oidc.start, settings)
    except AppError as exc:
        log.warning("pro_oidc_unavailable", code=exc.code, reason=exc.message)
        return _refused(request, OIDC_UNAVAILABLE, 503)
    value = _serializer(settings).dumps(
        [web_session(request).sid, pending.state, pending.nonce, pending.code_verifier]
    )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        value,
        max_age=PENDING_SECONDS,
        path=OIDC_START,
        httponly=True,
        samesite="lax",
        secure=settings.web_cookie_secure,
    )
    return response


def _pending(request: Request, settings: Settings) -> oidc.PendingLogin | None:
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return None
    try:
        sid, state, nonce, verifier = _serializer(settings).loads(raw, max_age=PENDING_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return None
    if not hmac.compare_digest(str(sid), web_session(request).sid):
        return None
    return oidc.PendingLogin(str(state), str(nonce), str(verifier))


@router.get(OIDC_CALLBACK, response_class=HTMLResponse, response_model=None)
async def oidc_callback(
    request: Request,
    uow: UnitOfWorkDep,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    settings = _settings(request)
    pending = _pending(request, settings)
    response: Response
    if not oidc.enabled(settings):
        response = _refused(request, OIDC_OFF, 404)
    elif (
        pending is None
        or error
        or not code
        or not hmac.compare_digest(state.encode(), pending.state.encode())
    ):
        reason = error or ("no pending login" if pending is None else "state mismatch")
        log.info("pro_oidc_refused", reason=reason[:100])
        await uow.run(proauth_service.record_refusal, "oidc", reason[:200])
        response = _refused(request, OIDC_FAILED, 400)
    else:
        response = await _finish(request, uow, settings, pending, code)
    response.delete_cookie(
        PENDING_COOKIE, path=OIDC_START, httponly=True, samesite="lax",
        secure=settings.web_cookie_secure,
    )  # fmt: skip
    return response


async def _finish(
    request: Request, uow: UnitOfWorkDep, settings: Settings, pending: oidc.PendingLogin, code: str
) -> Response:
    try:
        claims = await run_in_threadpool(oidc.finish, settings, pending, code)
    except AppError as exc:
        log.info("pro_oidc_refused", code=exc.code, reason=exc.message)
        await uow.run(proauth_service.record_refusal, "oidc", f"{exc.code}: {exc.message}")
        unavailable = exc.status_code >= 500
        return _refused(
            request, OIDC_UNAVAILABLE if unavailable else OIDC_FAILED, 503 if unavailable else 400
        )
    try:
        who = await uow.run(proauth_service.oidc_sign_in, claims, utcnow())
    except AppError as exc:
        log.info("pro_oidc_refused", code=exc.code, reason=exc.message)
        await uow.run(proauth_service.record_refusal, "oidc", f"{exc.code}: {exc.message}")
        return _refused(request, NOT_ALLOWED, 403)
    _sign_in(request, who, "oidc")
    return RedirectResponse(HOME, status_code=303)


# -- enrolment ------------------------------------------------------------------------------------


@router.get(ENROL, response_class=HTMLResponse)
async def enrol_page(request: Request, uow: UnitOfWorkDep, token: str) -> HTMLResponse:
    try:
        name = await uow.run(proauth_service.invitation_holder, token[:TOKEN_MAX], utcnow())
    except InvitationInvalid:
        return render(
            request, "pro/enrol.html", {"invalid": _t(request, INVITATION_INVALID), "token": ""},
            status_code=410,
        )  # fmt: skip
    return render(request, "pro/enrol.html", {"invalid": None, "name": name, "token": token})


@router.post(ENROL + "/options", response_model=None)
async def enrol_options(request: Request, uow: UnitOfWorkDep, token: str) -> Response:
    try:
        return JSONResponse(
            await uow.run(
                proauth_service.enrolment_options, _settings(request), token[:TOKEN_MAX], utcnow()
            )
        )
    except InvitationInvalid as exc:
        return JSONResponse(
            {"error": exc.code, "message": _t(request, INVITATION_INVALID)}, status_code=410
        )


@router.post(ENROL)
async def enrol(
    request: Request,
    uow: UnitOfWorkDep,
    token: str,
    credential: Annotated[dict[str, Any], Body()],
    label: Annotated[str, Body(max_length=LABEL_MAX)] = "",
) -> JSONResponse:
    try:
        who = await uow.run(
            proauth_service.enrol,
            _settings(request),
            token[:TOKEN_MAX],
            credential,
            label or _t(request, DEFAULT_LABEL),
            utcnow(),
        )
    except AppError as exc:
        log.info("pro_enrol_refused", code=exc.code)
        message = INVITATION_INVALID if isinstance(exc, InvitationInvalid) else ENROL_FAILED
        return JSONResponse(
            {"error": exc.code, "message": _t(request, message)}, status_code=exc.status_code
        )
    _sign_in(request, who, "passkey")
    return JSONResponse({"location": HOME})


# -- the signed-in professional's account ------------------------------------------------------


@router.get(ACCOUNT, response_class=HTMLResponse, response_model=None)
async def account(request: Request, uow: UnitOfWorkDep) -> Response:
    pro = signed_in_professional(request)
    if pro is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    keys = await uow.run(proauth_service.passkeys_of, pro.professional_id)
    notice = None
    if request.query_params.get("ajoutee"):
        notice = _t(request, _("La clé d’accès de cet appareil est enregistrée."))
    elif request.query_params.get("supprimee"):
        notice = _t(request, _("La clé d’accès est supprimée."))
    return render(request, "pro/account.html", {"pro": pro, "passkeys": keys, "notice": notice})


@router.post(ACCOUNT + "/cles/options", response_model=None)
async def add_passkey_options(request: Request, uow: UnitOfWorkDep) -> Response:
    pro = signed_in_professional(request)
    if pro is None:
        return JSONResponse({"error": "signed_out", "message": _t(request, ADD_FAILED)}, 401)
    try:
        options = await uow.run(
            proauth_service.add_passkey_options, _settings(request), pro.professional_id, utcnow()
        )
    except AppError as exc:
        return JSONResponse(
            {"error": exc.code, "message": _t(request, ADD_FAILED)}, status_code=exc.status_code
        )
    return JSONResponse(options)


@router.post(ACCOUNT + "/cles")
async def add_passkey(
    request: Request,
    uow: UnitOfWorkDep,
    credential: Annotated[dict[str, Any], Body()],
    label: Annotated[str, Body(max_length=LABEL_MAX)] = "",
) -> JSONResponse:
    pro = signed_in_professional(request)
    if pro is None:
        return JSONResponse({"error": "signed_out", "message": _t(request, ADD_FAILED)}, 401)
    try:
        await uow.run(
            proauth_service.add_passkey,
            _settings(request),
            pro.professional_id,
            credential,
            label or _t(request, DEFAULT_LABEL),
            utcnow(),
        )
    except AppError as exc:
        log.info("pro_passkey_add_refused", code=exc.code)
        return JSONResponse(
            {"error": exc.code, "message": _t(request, ADD_FAILED)}, status_code=exc.status_code
        )
    return JSONResponse({"location": ACCOUNT + "?ajoutee=1"})


@router.post(ACCOUNT + "/cles/{passkey_id}/supprimer", response_model=None)
async def remove_passkey(request: Request, uow: UnitOfWorkDep, passkey_id: int) -> Response:
    pro = signed_in_professional(request)
    if pro is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    try:
        await uow.run(proauth_service.remove_passkey, pro.professional_id, passkey_id)
    except AppError:
        return RedirectResponse(ACCOUNT, status_code=303)
    return RedirectResponse(ACCOUNT + "?supprimee=1", status_code=303)
