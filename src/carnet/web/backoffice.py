"""The back office (``/gestion``): operators sign in with a passkey and act through the services.

Enrolment: ``carnet operators create`` (or an admin's page) gives a one-time link
``/gestion/enrolement/<token>``; its page registers a passkey (``static/passkey.js``,
``data-passkey="create"``, user verification required) and sends the operator to the sign-in.
Sign-in (``/gestion/connexion``): an assertion on a challenge bound to the operator sign-in, each
challenge accepted once (``operators_service.sign_in``); the web session then holds
``{"operator": {id, name, role, signed_in_at}}`` under a new session id and CSRF token.

Every back-office route goes through ONE check, ``authorize(request, uow, permission)``: not
signed in → the sign-in page; signed in as an operator who has since been disabled → signed out
and sent to the sign-in page; a role without the permission (``carnet.operators.roles``) → a 403
page. The role is read from the database on every page, so a role change or a disabled account
takes effect at once. The pages then call the domain services with the operator's principal,
so every access is audited as ``operator:<id>``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.apcv.service import apcv_service
from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import UnitOfWork, UnitOfWorkDep
from carnet.documents.service import documents_service
from carnet.exceptions import AppError
from carnet.identity import service as identity_service
from carnet.identity.schemas import InsIdentity, InsSearchRequest
from carnet.logging import get_logger
from carnet.operators.roles import ROLES, Permission, allows, permissions_of
from carnet.operators.schemas import Invitation, OperatorOut
from carnet.operators.service import operator_principal, operators_service
from carnet.web.security import web_session
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

HOME = "/gestion"
SIGN_IN = "/gestion/connexion"
SIGN_OUT = "/gestion/deconnexion"
ENROL = "/gestion/enrolement"
PERSONS = "/gestion/personnes"
AUDIT = "/gestion/audit"
DASHBOARD = "/gestion/tableau-de-bord"
OPERATORS = "/gestion/agents"
IDENTITY_KEY = "operator"
DASHBOARD_DAYS = 30
READINGS_DAYS = 30
REASON_MIN, REASON_MAX = 5, 300
CardAction = Literal["suspend", "revoke", "resume"]
CARD_ACTIONS: tuple[CardAction, ...] = ("suspend", "revoke", "resume")


def _(message: str) -> str:
    return message


ROLE_LABELS = {
    "support": _("Assistance"),
    "cards": _("Gestion des cartes"),
    "audit": _("Audit"),
    "admin": _("Administration"),
}
ROLE_HINTS = {
    "support": _("rechercher une personne, voir l’état de sa carte"),
    "cards": _("assistance, et suspendre, révoquer ou réactiver une carte"),
    "audit": _("vérifier le journal d’audit, tableau de bord"),
    "admin": _("tout, et gérer les agents"),
}
SIGN_IN_FAILED = _(
    "La connexion n’a pas abouti. Utilisez la clé d’accès enregistrée pour votre compte d’agent "
    "et réessayez."
)
ENROL_FAILED = _("L’enregistrement de la clé d’accès n’a pas abouti. Réessayez.")
INVITATION_INVALID = _(
    "Ce lien d’enrôlement est inconnu, déjà utilisé ou expiré. Demandez un nouveau lien à un "
    "administrateur."
)
STATUS_LABELS = {
    "active": _("Active"),
    "suspended": _("Suspendue"),
    "revoked": _("Révoquée"),
    "locked": _("Bloquée"),
}
ACTION_TITLES = {
    "suspend": _("Suspendre la carte"),
    "revoke": _("Révoquer la carte"),
    "resume": _("Réactiver la carte"),
}
ACTION_DONE = {
    "suspend": _("La carte est suspendue : ses codes sont refusés dès maintenant."),
    "revoke": _("La carte est révoquée : une nouvelle activation sera nécessaire."),
    "resume": _("La carte est réactivée."),
}
ACTION_REFUSED = {
    "card_not_active": _("Cette carte n’est pas active : elle ne peut pas être suspendue."),
    "card_not_suspended": _(
        "Seule une carte suspendue peut être réactivée (une carte bloquée demande une nouvelle "
        "activation)."
    ),
    "no_card": _("Cette personne n’a pas de carte en cours (aucune ou révoquée)."),
}


# -- the session and the one permission check ----------------------------------------------------


@dataclass(frozen=True)
class OperatorSession:
    id: int
    name: str
    role: str
    signed_in_at: int  # epoch seconds


def session_identity(operator: OperatorOut, now: int) -> dict[str, Any]:
    """What ``WebSession.sign_in`` stores for an operator."""
    return {IDENTITY_KEY: asdict(OperatorSession(operator.id, operator.name, operator.role, now))}


def signed_in_operator(request: Request) -> OperatorSession | None:
    raw = web_session(request).identity.get(IDENTITY_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        found = OperatorSession(**raw)
    except TypeError:
        return None
    return found if isinstance(found.id, int) else None


@dataclass(frozen=True)
class Allowed:
    operator: OperatorOut
    principal: Principal


async def authorize(
    request: Request, uow: UnitOfWork, permission: Permission
) -> Allowed | Response:
    """THE check of every back-office route: the operator (as the database knows them now) and
    their principal, or the response to send instead (sign-in redirect or 403 page)."""
    signed_in = signed_in_operator(request)
    if signed_in is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    operator = await uow.run(operators_service.current, signed_in.id)
    if operator is None:  # disabled (or removed) since the sign-in
        web_session(request).sign_out(int(time.time()))
        return RedirectResponse(SIGN_IN, status_code=303)
    request.state.actor = f"operator:{operator.id}"
    if not allows(operator.role, permission):
        return _page(request, "backoffice/forbidden.html", operator, status_code=403)
    return Allowed(operator, operator_principal(operator.id))


def _nav(operator: OperatorOut | None) -> list[tuple[str, str]]:
    if operator is None:
        return []
    granted = permissions_of(operator.role)
    items = [
        (PERSONS, _("Rechercher une personne"), Permission.SEARCH_PERSONS),
        (AUDIT, _("Journal d’audit"), Permission.VERIFY_AUDIT),
        (DASHBOARD, _("Tableau de bord"), Permission.VIEW_DASHBOARD),
        (OPERATORS, _("Agents"), Permission.MANAGE_OPERATORS),
    ]
    return [(href, label) for href, label, needed in items if needed in granted]


def _page(
    request: Request,
    template: str,
    operator: OperatorOut | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "operator": operator,
        "bo_nav": _nav(operator),
        "role_labels": ROLE_LABELS,
    }
    values.update(context or {})
    return render(request, template, values, status_code=status_code)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _message(request: Request, exc: AppError, known: dict[str, str], fallback: str) -> str:
    return _t(request, known.get(exc.code, fallback))


# -- landing, sign-in, sign-out ---------------------------------------------------------------


async def _current(request: Request, uow: UnitOfWork) -> OperatorOut | None:
    signed_in = signed_in_operator(request)
    if signed_in is None:
        return None
    return await uow.run(operators_service.current, signed_in.id)


@router.get(HOME, response_class=HTMLResponse)
async def home(request: Request, uow: UnitOfWorkDep) -> HTMLResponse:
    operator = await _current(request, uow)
    return _page(request, "backoffice/index.html", operator)


@router.get(SIGN_IN, response_class=HTMLResponse)
async def sign_in_page(request: Request, uow: UnitOfWorkDep) -> HTMLResponse:
    operator = await _current(request, uow)
    enrolled = request.query_params.get("enrole") == "1"
    return _page(request, "backoffice/sign_in.html", operator, {"enrolled": enrolled})


@router.post(SIGN_IN + "/options")
def sign_in_options(request: Request) -> dict[str, Any]:
    return operators_service.sign_in_options(_settings(request), utcnow())


@router.post(SIGN_IN)
async def sign_in(
    request: Request,
    uow: UnitOfWorkDep,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> JSONResponse:
    try:
        operator = await uow.run(
            operators_service.sign_in, _settings(request), credential, utcnow()
        )
    except AppError as exc:
        log.info("backoffice_sign_in_refused", code=exc.code, reason=exc.message)
        return JSONResponse(
            {"error": exc.code, "message": _t(request, SIGN_IN_FAILED)},
            status_code=exc.status_code,
        )
    now = int(time.time())
    web_session(request).sign_in(session_identity(operator, now), now)
    return JSONResponse({"location": HOME})


@router.post(SIGN_OUT)
async def sign_out(request: Request, uow: UnitOfWorkDep) -> RedirectResponse:
    signed_in = signed_in_operator(request)
    if signed_in is not None:
        await uow.run(operators_service.sign_out, signed_in.id)
    web_session(request).sign_out(int(time.time()))
    return RedirectResponse(HOME, status_code=303)


# -- enrolment -------------------------------------------------------------------------------


@router.get(ENROL + "/{token}", response_class=HTMLResponse)
async def enrol_page(request: Request, uow: UnitOfWorkDep, token: str) -> HTMLResponse:
    try:
        invited = await uow.run(operators_service.invitation, token, utcnow())
    except AppError:
        return _page(
            request,
            "backoffice/enrol.html",
            None,
            {"invited": None, "error": _t(request, INVITATION_INVALID)},
            status_code=404,
        )
    return _page(
        request, "backoffice/enrol.html", None, {"invited": invited, "token": token, "error": None}
    )


@router.post(ENROL + "/{token}/options")
async def enrol_options(request: Request, uow: UnitOfWorkDep, token: str) -> JSONResponse:
    try:
        options = await uow.run(
            operators_service.enrolment_options, _settings(request), token, utcnow()
        )
    except AppError as exc:
        return JSONResponse(
            {"error": exc.code, "message": _t(request, INVITATION_INVALID)},
            status_code=exc.status_code,
        )
    return JSONResponse(options)


@router.post(ENROL + "/{token}")
async def enrol(
    request: Request,
    uow: UnitOfWorkDep,
    token: str,
    credential: Annotated[dict[str, Any], Body(embed=True)],
) -> JSONResponse:
    try:
        await uow.run(operators_service.enrol, _settings(request), token, credential, utcnow())
    except AppError as exc:
        log.info("backoffice_enrolment_refused", code=exc.code, reason=exc.message)
        text = INVITATION_INVALID if exc.code == "invitation_invalid" else ENROL_FAILED
        return JSONResponse(
            {"error": exc.code, "message": _t(request, text)}, status_code=exc.status_code
        )
    return JSONResponse({"location": SIGN_IN + "?enrole=1"})


# -- persons and their card --------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    person_id: int
    matricule: str
    birth_name: str
    used_name: str | None
    first_names: str
    sex: str
    birth_date: str


def _found(person_id: int, identity: InsIdentity) -> Found:
    return Found(
        person_id=person_id,
        matricule=identity.ins.matricule,
        birth_name=identity.traits.birth_name,
        used_name=identity.used_name,
        first_names=" ".join(identity.traits.first_names),
        sex=identity.traits.sex,
        birth_date=_shown_date(identity.traits.birth_date),
    )


def _shown_date(value: str) -> str:
    parts = value.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else value


def _search_by_nir(session: Session, principal: Principal, nir: str) -> list[Found]:
    entry = identity_service.find_entry_by_identifier(
        session, principal, nir, kind=None, purpose="CARD", field="nir"
    )
    return [] if entry is None else [_found(entry.person_id, entry.identity)]


def _search_by_traits(
    session: Session, principal: Principal, body: InsSearchRequest
) -> tuple[list[Found], str]:
    answer = identity_service.register_service.search(session, principal, body, purpose="CARD")
    if answer.code != "00" or answer.identity is None:
        return [], answer.code
    person_id = identity_service.person_id_for_matricule(session, answer.identity.ins.matricule)
    if person_id is None:
        return [], "01"
    return [_found(person_id, answer.identity)], answer.code


def _search_page(
    request: Request,
    allowed: Allowed,
    *,
    form: dict[str, str] | None = None,
    results: list[Found] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "backoffice/persons.html",
        allowed.operator,
        {
            "form": form or {},
            "results": results,
            "error": error,
            "notice": notice,
            "may_view_cards": allows(allowed.operator.role, Permission.VIEW_CARDS),
        },
        status_code=status_code,
    )


@router.get(PERSONS, response_class=HTMLResponse, response_model=None)
async def persons(request: Request, uow: UnitOfWorkDep) -> Response:
    allowed = await authorize(request, uow, Permission.SEARCH_PERSONS)
    if isinstance(allowed, Response):
        return allowed
    return _search_page(request, allowed)


@router.post(PERSONS, response_class=HTMLResponse, response_model=None)
async def search_persons(
    request: Request,
    uow: UnitOfWorkDep,
    by: Annotated[str, Form(max_length=10)] = "nir",
    nir: Annotated[str, Form(max_length=40)] = "",
    birth_name: Annotated[str, Form(max_length=200)] = "",
    first_name: Annotated[str, Form(max_length=200)] = "",
    sex: Annotated[str, Form(max_length=6)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Search (POST: a NIR never appears in a URL or an access log)."""
    allowed = await authorize(request, uow, Permission.SEARCH_PERSONS)
    if isinstance(allowed, Response):
        return allowed
    form = {
        "by": by,
        "nir": nir,
        "birth_name": birth_name,
        "first_name": first_name,
        "sex": sex,
        "birth_date": birth_date,
    }
    try:
        if by == "traits":
            if not (birth_name.strip() and first_name.strip() and sex and birth_date.strip()):
                raise ValueError("missing")
            body = InsSearchRequest(
                birth_name=birth_name.strip(),
                first_name=first_name.strip(),
                sex=sex,
                birth_date=birth_date.strip(),
            )
            results, code = await uow.run(_search_by_traits, allowed.principal, body)
            notice = (
                _t(
                    request,
                    "Plusieurs personnes correspondent : précisez la recherche (tous les "
                    "prénoms, ou le NIR).",
                )
                if code == "02"
                else None
            )
        else:
            if not nir.strip():
                raise ValueError("missing")
            results = await uow.run(_search_by_nir, allowed.principal, nir.strip())
            notice = None
    except (AppError, ValidationError, ValueError):
        text = (
            _("Saisissez un NIR valide (13 chiffres et la clé, 15 caractères).")
            if by != "traits"
            else _(
                "Saisissez le nom de naissance, un prénom, le sexe et la date de naissance "
                "(AAAA-MM-JJ) d’une personne."
            )
        )
        return _search_page(request, allowed, form=form, error=_t(request, text), status_code=422)
    return _search_page(request, allowed, form=form, results=results, notice=notice)


def _person_card(
    session: Session, principal: Principal, person_id: int, now: datetime
) -> dict[str, Any] | None:
    entry = identity_service.read_entry_by_id(session, principal, person_id, purpose="CARD")
    if entry is None:
        return None
    shown = cards_service.operator_show(session, entry.identity.ins.matricule, principal)
    readings = apcv_service.reading_counts(
        session, now - timedelta(days=READINGS_DAYS), holder_person_id=person_id
    )
    current = next((c for c in reversed(shown["cards"]) if c["status"] != "revoked"), None)
    return {
        "person": _found(person_id, entry.identity),
        "account": shown["account"],
        "cards": shown["cards"],
        "current": current,
        "readings_recent": readings.since,
        "readings_total": readings.total,
    }


def _not_found(request: Request, allowed: Allowed) -> HTMLResponse:
    return _page(
        request,
        "backoffice/not_found.html",
        allowed.operator,
        {"text": _t(request, "Aucune personne n’a cet identifiant.")},
        status_code=404,
    )


@router.get(PERSONS + "/{person_id}", response_class=HTMLResponse, response_model=None)
async def person(request: Request, uow: UnitOfWorkDep, person_id: int) -> Response:
    allowed = await authorize(request, uow, Permission.VIEW_CARDS)
    if isinstance(allowed, Response):
        return allowed
    view = await uow.run(_person_card, allowed.principal, person_id, utcnow())
    if view is None:
        return _not_found(request, allowed)
    done = request.query_params.get("fait")
    return _page(
        request,
        "backoffice/person.html",
        allowed.operator,
        {
            **view,
            "status_labels": STATUS_LABELS,
            "readings_days": READINGS_DAYS,
            "done": _t(request, ACTION_DONE[done]) if done in ACTION_DONE else None,
            "may_change": allows(allowed.operator.role, Permission.CHANGE_CARDS),
            "actions": _actions_for(view["current"]),
            "action_titles": ACTION_TITLES,
        },
    )


def _actions_for(card: dict[str, Any] | None) -> list[str]:
    if card is None:
        return []
    status = card["status"]
    return {"active": ["suspend", "revoke"], "suspended": ["resume", "revoke"]}.get(
        status, ["revoke"]
    )


def _read_person(session: Session, principal: Principal, person_id: int) -> Found | None:
    entry = identity_service.read_entry_by_id(session, principal, person_id, purpose="CARD")
    return None if entry is None else _found(person_id, entry.identity)


def _set_status(
    session: Session,
    principal: Principal,
    person_id: int,
    action: CardAction,
    reason: str,
    now: datetime,
) -> bool:
    entry = identity_service.read_entry_by_id(session, principal, person_id, purpose="CARD")
    if entry is None:
        return False
    cards_service.operator_set_status(
        session, entry.identity.ins.matricule, action, now, principal=principal, reason=reason
    )
    return True


async def _card_target(
    request: Request, uow: UnitOfWork, person_id: int, action: str
) -> tuple[Allowed, Found] | Response:
    """The operator allowed to change cards and the person an action is about, or the
    response instead (sign-in, 403, or 404 for an unknown person or action)."""
    allowed = await authorize(request, uow, Permission.CHANGE_CARDS)
    if isinstance(allowed, Response):
        return allowed
    found = await uow.run(_read_person, allowed.principal, person_id)
    if found is None or action not in CARD_ACTIONS:
        return _not_found(request, allowed)
    return allowed, found


def _action_page(
    request: Request,
    allowed: Allowed,
    found: Found,
    action: str,
    *,
    reason: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "backoffice/card_action.html",
        allowed.operator,
        {
            "person": found,
            "action": action,
            "title": _t(request, ACTION_TITLES[action]),
            "reason": reason,
            "error": error,
            "reason_min": REASON_MIN,
            "reason_max": REASON_MAX,
        },
        status_code=status_code,
    )


@router.get(
    PERSONS + "/{person_id}/carte/{action}", response_class=HTMLResponse, response_model=None
)
async def card_action_page(
    request: Request, uow: UnitOfWorkDep, person_id: int, action: str
) -> Response:
    target = await _card_target(request, uow, person_id, action)
    if isinstance(target, Response):
        return target
    allowed, found = target
    return _action_page(request, allowed, found, action)


@router.post(
    PERSONS + "/{person_id}/carte/{action}", response_class=HTMLResponse, response_model=None
)
async def card_action(
    request: Request,
    uow: UnitOfWorkDep,
    person_id: int,
    action: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    target = await _card_target(request, uow, person_id, action)
    if isinstance(target, Response):
        return target
    allowed, found = target
    text = " ".join(reason.split())
    if not REASON_MIN <= len(text) <= REASON_MAX or confirm != "oui":
        problem = (
            _("Indiquez le motif (%(min)s à %(max)s caractères).")
            if not REASON_MIN <= len(text) <= REASON_MAX
            else _("Cochez la case pour confirmer l’opération.")
        )
        return _action_page(
            request,
            allowed,
            found,
            action,
            reason=reason[:REASON_MAX],
            error=_t(request, problem) % {"min": REASON_MIN, "max": REASON_MAX},
            status_code=422,
        )
    checked: CardAction = next(a for a in CARD_ACTIONS if a == action)
    try:
        await uow.run(_set_status, allowed.principal, person_id, checked, text, utcnow())
    except AppError as exc:
        message = _message(
            request, exc, ACTION_REFUSED, _("L’opération n’a pas pu être faite sur cette carte.")
        )
        return _action_page(
            request, allowed, found, action, reason=text, error=message, status_code=409
        )
    return RedirectResponse(f"{PERSONS}/{person_id}?fait={action}", status_code=303)


# -- audit chain ---------------------------------------------------------------------------------


def _verify_audit(session: Session, principal: Principal) -> dict[str, Any]:
    audit = get_audit_service()
    report = audit.verify(session)
    audit.record(
        session,
        actor=principal.actor,
        action="audit.verify",
        resource="AuditEvent",
        purpose="ADMIN",
        outcome="success" if report.ok else "problems",
        detail=f"chains={report.chains} events={report.events} problems={len(report.problems)}",
    )
    return {
        "ok": report.ok,
        "chains": report.chains,
        "events": report.events,
        "problems": report.problems[:100],
        "more_problems": max(0, len(report.problems) - 100),
    }


@router.get(AUDIT, response_class=HTMLResponse, response_model=None)
async def audit_page(request: Request, uow: UnitOfWorkDep) -> Response:
    allowed = await authorize(request, uow, Permission.VERIFY_AUDIT)
    if isinstance(allowed, Response):
        return allowed
    return _page(request, "backoffice/audit.html", allowed.operator, {"report": None})


@router.post(AUDIT, response_class=HTMLResponse, response_model=None)
async def audit_verify(request: Request, uow: UnitOfWorkDep) -> Response:
    """Recompute every chain (reads the whole trail: a button, never on a page load)."""
    allowed = await authorize(request, uow, Permission.VERIFY_AUDIT)
    if isinstance(allowed, Response):
        return allowed
    report = await uow.run(_verify_audit, allowed.principal)
    return _page(request, "backoffice/audit.html", allowed.operator, {"report": report})


# -- dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFigures:
    day: date
    activations: int
    readings: int
    documents: int


def _figures(session: Session, principal: Principal, today: date) -> dict[str, Any]:
    first = today - timedelta(days=DASHBOARD_DAYS - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    activations = cards_service.activation_counts(session, since)
    readings = apcv_service.reading_counts(session, since)
    documents = documents_service.deposit_counts(session, since)
    get_audit_service().record(
        session, actor=principal.actor, action="backoffice.dashboard", purpose="ADMIN"
    )
    days = [
        DayFigures(
            day,
            activations.per_day.get(day, 0),
            readings.per_day.get(day, 0),
            documents.per_day.get(day, 0),
        )
        for day in (today - timedelta(days=n) for n in range(DASHBOARD_DAYS))
    ]
    return {
        "days": days,
        "totals": {
            "activations": activations.total,
            "readings": readings.total,
            "documents": documents.total,
        },
        "recent": {
            "activations": activations.since,
            "readings": readings.since,
            "documents": documents.since,
        },
    }


@router.get(DASHBOARD, response_class=HTMLResponse, response_model=None)
async def dashboard(request: Request, uow: UnitOfWorkDep) -> Response:
    allowed = await authorize(request, uow, Permission.VIEW_DASHBOARD)
    if isinstance(allowed, Response):
        return allowed
    figures = await uow.run(_figures, allowed.principal, datetime.now(UTC).date())
    return _page(
        request,
        "backoffice/dashboard.html",
        allowed.operator,
        {**figures, "period_days": DASHBOARD_DAYS},
    )


# -- operators (admin) ----------------------------------------------------------------------------


OPERATOR_REFUSED = {
    "operator_email_taken": _("Un agent a déjà cette adresse électronique."),
    "invalid_mail_address": _("Saisissez une adresse électronique valide (nom@domaine.fr)."),
    "invalid_name": _("Saisissez le nom de l’agent (200 caractères au plus)."),
    "invalid_role": _("Choisissez un rôle dans la liste."),
    "operator_is_you": _("Vous ne pouvez pas modifier ni désactiver votre propre compte."),
    "operator_disabled": _("Cet agent est désactivé : il ne peut plus recevoir de lien."),
    "operator_not_found": _("Cet agent n’existe pas."),
}


async def _operators_page(
    request: Request,
    uow: UnitOfWork,
    allowed: Allowed,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    link: tuple[OperatorOut, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The agents' page, with the list as it is now (after the change the route just made)."""
    return _page(
        request,
        "backoffice/operators.html",
        allowed.operator,
        {
            "operators": await uow.run(operators_service.list),
            "roles": list(ROLES),
            "role_hints": ROLE_HINTS,
            "form": form or {"name": "", "email": "", "role": "support"},
            "error": error,
            "link": link,
            "notice": notice,
        },
        status_code=status_code,
    )


def _link_of(request: Request, invitation: Invitation) -> tuple[OperatorOut, str]:
    return invitation.operator, str(request.base_url).rstrip("/") + invitation.path


@router.get(OPERATORS, response_class=HTMLResponse, response_model=None)
async def operators(request: Request, uow: UnitOfWorkDep) -> Response:
    allowed = await authorize(request, uow, Permission.MANAGE_OPERATORS)
    if isinstance(allowed, Response):
        return allowed
    return await _operators_page(request, uow, allowed)


@router.post(OPERATORS, response_class=HTMLResponse, response_model=None)
async def create_operator(
    request: Request,
    uow: UnitOfWorkDep,
    name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    allowed = await authorize(request, uow, Permission.MANAGE_OPERATORS)
    if isinstance(allowed, Response):
        return allowed
    form = {"name": name, "email": email, "role": role}
    try:
        invitation = await uow.run(
            _create, name=name, email=email, role=role, actor=allowed.principal
        )
    except AppError as exc:
        error = _message(request, exc, OPERATOR_REFUSED, _("La création n’a pas abouti."))
        return await _operators_page(
            request,
            uow,
            allowed,
            form=form,
            error=error,
            status_code=422 if exc.status_code != 409 else 409,
        )
    return await _operators_page(request, uow, allowed, link=_link_of(request, invitation))


def _create(session: Session, *, name: str, email: str, role: str, actor: Principal) -> Invitation:
    return operators_service.create(
        session, name=name, email=email, role=role, now=utcnow(), actor=actor
    )


@router.post(
    OPERATORS + "/{operator_id}/{change}", response_class=HTMLResponse, response_model=None
)
async def change_operator(
    request: Request,
    uow: UnitOfWorkDep,
    operator_id: int,
    change: str,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """``role`` (change the role), ``desactivation`` (disable), ``invitation`` (a new link)."""
    allowed = await authorize(request, uow, Permission.MANAGE_OPERATORS)
    if isinstance(allowed, Response):
        return allowed
    link: tuple[OperatorOut, str] | None = None
    notice: str | None = None
    try:
        if change == "role":
            changed = await uow.run(
                operators_service.set_role, operator_id, role, utcnow(), allowed.principal
            )
            notice = _t(request, "Le rôle de %(name)s est changé.") % {"name": changed.name}
        elif change == "desactivation":
            changed = await uow.run(
                operators_service.disable, operator_id, utcnow(), allowed.principal
            )
            notice = _t(request, "%(name)s ne peut plus se connecter.") % {"name": changed.name}
        elif change == "invitation":
            invitation = await uow.run(
                operators_service.invite, operator_id, utcnow(), allowed.principal
            )
            link = _link_of(request, invitation)
        else:
            return _not_found(request, allowed)
    except AppError as exc:
        error = _message(request, exc, OPERATOR_REFUSED, _("L’opération n’a pas abouti."))
        return await _operators_page(
            request,
            uow,
            allowed,
            error=error,
            status_code=exc.status_code if exc.status_code in (404, 409) else 422,
        )
    return await _operators_page(request, uow, allowed, link=link, notice=notice)
