"""The insured person's health space (Mon espace santé) pages, under ``/espace-sante``.

Every page calls the services the holder REST API calls (``space``, ``documents``, ``profile``,
``access``), with the signed-in card holder (``holder.holder_principal``) as the principal, so
that the access chokepoint (``access_service.authorize``) decides and the services audit exactly
as for the API. A parent manages a minor child's space with ``?espace=<person id>``: the chokepoint
accepts it only for a minor attached to them in the rights; every page names whose space it is.

Each use case runs in one unit of work (``uow.run``): an error rolls everything back and becomes
a message on the page (the services' errors are English and technical: the pages map their
stable codes to French texts), never a 500. Forms are plain POSTs answered by a redirection
(post/redirect/get) with a message code; hiding a document is also an htmx toggle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from carnet.access import schemas as access_schemas
from carnet.access.policy import Action, ActorKind, Area
from carnet.access.service import access_service, care_date
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import UnitOfWork, UnitOfWorkDep
from carnet.directory.service import directory_service
from carnet.documents import schemas as doc_schemas
from carnet.documents.codes import CLASS_CODES, TYPE_CODES
from carnet.documents.service import documents_service
from carnet.exceptions import AppError, Forbidden, NotFound
from carnet.identity.service import register_names
from carnet.profile.service import profile_service
from carnet.rights.service import rights_service
from carnet.space.schemas import SpaceOut, SpaceState
from carnet.space.service import Transition, is_minor
from carnet.web import space_profile as sp
from carnet.web.holder import SIGN_IN, holder_principal
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

router = APIRouter(include_in_schema=False)

BASE = "/espace-sante"
DOCUMENTS = BASE + "/documents"
PROFILE = BASE + "/profil"
HISTORY = BASE + "/historique"
PRIVACY = BASE + "/confidentialite"
PAGE_SIZE = 20
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


def _(message: str) -> str:
    return message


# -- whose space -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Whose:
    """The space a page shows: the holder's own (``ref`` ``me``) or a minor child's."""

    ref: str
    person_id: int
    name: str
    child: bool

    def url(self, path: str, **params: str | int | None) -> str:
        query = {"espace": str(self.person_id)} if self.child else {}
        query.update({k: str(v) for k, v in params.items() if v not in (None, "")})
        return path + ("?" + urlencode(query) if query else "")


@dataclass(frozen=True)
class Child:
    person_id: int
    name: str


def _name(first_names: tuple[str, ...] | list[str], used_first: str | None, family: str) -> str:
    first = used_first or (first_names[0] if first_names else "")
    return f"{first.title()} {family}".strip()


def _whose(session: Session, principal: Principal, espace: str | None, now: datetime) -> Whose:
    assert principal.person_id is not None
    person_id = principal.person_id
    if espace:
        if not espace.isdigit() or len(espace) > 18:
            raise NotFound(f"no health space {espace[:20]!r}", code="unknown_space")
        person_id = int(espace)
    if person_id != principal.person_id:
        # The chokepoint decides: only a parent of a minor attached in the rights gets through.
        grant = access_service.authorize(
            session, principal, person_id, Area.LIFECYCLE, Action.READ, now=now
        )
        if grant.actor is not ActorKind.REPRESENTATIVE:
            raise Forbidden("not a minor child's space", code="space_access_denied")
    names = register_names(session, [person_id]).get(person_id)
    name = (
        _name(names.first_names, names.used_first_name, names.used_name or names.birth_name)
        if names
        else ""
    )
    child = person_id != principal.person_id
    return Whose(str(person_id) if child else "me", person_id, name, child)


def _children(session: Session, principal: Principal, now: datetime) -> list[Child]:
    """The minor children attached to the holder in the rights (whose spaces they manage)."""
    assert principal.person_id is not None
    on = care_date(now)
    return [
        Child(d.person_id, _name(d.first_names, None, d.used_name or d.birth_name))
        for d in rights_service.dependants_of(session, principal.person_id, on)
        if is_minor(d.birth_date, on)
    ]


@dataclass(frozen=True)
class Start:
    principal: Principal
    whose: Whose
    children: list[Child]


def _start_work(session: Session, principal: Principal, espace: str | None, now: datetime) -> Start:
    return Start(
        principal, _whose(session, principal, espace, now), _children(session, principal, now)
    )


async def _start(request: Request, uow: UnitOfWork) -> Start | Response:
    principal = holder_principal(request)
    if principal is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    espace = request.query_params.get("espace")
    return await uow.run(_start_work, principal, espace, utcnow())


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(
    request: Request,
    start: Start,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    values = {
        "whose": start.whose,
        "children": start.children,
        "url": start.whose.url,
        "done": _done_message(request),
        "paris": sp.PARIS,
    }
    values.update(context)
    return render(request, template, values, status_code=status_code)


def _redirect(whose: Whose, path: str, done: str, **params: str | None) -> RedirectResponse:
    return RedirectResponse(whose.url(path, fait=done, **params), status_code=303)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- messages ----------------------------------------------------------------------------------

_DONE = {
    "objection": _("Votre opposition est enregistrée : l’espace santé ne sera pas ouvert."),
    "opening": _("L’espace santé est ouvert."),
    "closure": _("L’espace santé est fermé et archivé."),
    "deletion-request": _(
        "La suppression est demandée : les données seront supprimées dans un délai de trois "
        "mois au plus."
    ),
    "reopening": _("L’espace santé est rouvert : les données archivées sont restaurées."),
    "upload": _("Le document est ajouté à votre espace santé."),
    "hidden": _("Le document est masqué aux professionnels de santé."),
    "shown": _("Le document est de nouveau visible par les professionnels de santé."),
    "deleted": _("Le document est supprimé."),
    "profile-added": _("L’information est ajoutée à votre profil médical."),
    "profile-saved": _("L’information est modifiée."),
    "profile-deleted": _("L’information est supprimée du profil médical."),
    "privacy": _("Vos paramètres de confidentialité sont enregistrés."),
    "blocked": _(
        "Le professionnel est bloqué : il n’a plus accès à votre espace santé, même en "
        "urgence."
    ),
    "unblocked": _("Le professionnel est débloqué."),
    "consent": _("Le professionnel a désormais accès à votre espace santé."),
    "consent-revoked": _("L’accès du professionnel est retiré."),
    "aidant": _("Votre proche a désormais accès à votre espace santé."),
    "aidant-revoked": _("L’accès de votre proche est retiré."),
}  # fmt: skip


def _done_message(request: Request) -> str | None:
    code = request.query_params.get("fait")
    return _t(request, _DONE[code]) if code in _DONE else None


# Stable error codes of the services → what the holder can do about it.
_ERRORS = {
    "space_not_open": _(
        "Votre espace santé n’est pas ouvert : ouvrez-le pour consulter ou ajouter des "
        "documents et votre profil médical."
    ),
    "unknown_space": _("Cet espace santé n’existe pas encore."),
    "space_not_created": _(
        "Cet espace santé n’existe pas encore : vous pouvez vous y opposer ou l’ouvrir dès "
        "maintenant."
    ),
    "invalid_transition": _(
        "Cette action n’est pas possible dans l’état actuel de l’espace santé."
    ),
    "document_too_large": _(
        "Le fichier est trop volumineux : la taille maximale est de %(size)s Mo."
    ),
    "unsupported_content_type": _(
        "Ce type de fichier n’est pas accepté : envoyez un PDF ou une photo (JPEG ou PNG)."
    ),
    "invalid_content": _(
        "Le fichier est illisible ou endommagé : vérifiez-le et envoyez-le à nouveau."
    ),
    "unknown_code": _("Choisissez une catégorie et un type de document dans les listes."),
    "unknown_document": _("Ce document n’existe pas ou n’est plus disponible."),
    "invalid_rpps": _("Le numéro RPPS n’est pas valide : il compte 11 chiffres."),
    "professional_not_found": _(
        "Aucun professionnel de santé avec ce numéro RPPS dans l’annuaire."
    ),
    "professional_inactive": _(
        "Ce professionnel n’exerce plus : il n’est plus actif dans l’annuaire."
    ),
    "already_blocked": _("Ce professionnel est déjà bloqué."),
    "professional_blocked": _("Ce professionnel est bloqué : débloquez-le d’abord."),
    "block_not_found": _("Ce professionnel n’est pas bloqué."),
    "consent_not_found": _("Ce professionnel n’a pas d’accès à retirer."),
    "person_not_found": _("Aucune personne avec ce numéro de sécurité sociale."),
    "aidant_is_holder": _("Vous avez déjà accès à votre propre espace santé."),
    "aidant_not_found": _("Cet accès n’existe plus."),
    "invalid_date": _("La date de fin doit être dans le futur."),
    "invalid_search": _("Saisissez au moins deux lettres du nom."),
    "version_conflict": _(
        "Cette information a été modifiée entre-temps : rechargez la page et recommencez."
    ),
    "space_access_denied": _("Vous n’avez pas accès à cet espace santé."),
}  # fmt: skip
GENERIC_ERROR = _("La demande n’a pas abouti : vérifiez les informations saisies.")


def _megabytes(settings: Settings) -> str:
    """The size limit in MB as people read it (20 MiB → "20")."""
    return f"{round(settings.document_max_bytes / 1_048_576, 1):g}"


def _error(code: str) -> str:
    """The text (to translate) of a known error code."""
    return _ERRORS[code]


def _error_text(request: Request, exc: AppError, settings: Settings | None = None) -> str:
    if exc.code == "document_too_large" and settings is not None:
        size = _megabytes(settings)
        return _t(request, _error("document_too_large")) % {"size": size}
    if exc.code in _ERRORS:
        return _t(request, _ERRORS[exc.code])
    if exc.status_code == 409:
        return _t(request, _error("invalid_transition"))
    return _t(request, GENERIC_ERROR)


# -- overview and lifecycle ----------------------------------------------------------------------

_ACTIONS = {
    Transition.OBJECTION: (
        _("M’opposer à l’ouverture"),
        _(
            "Vous refusez l’ouverture de l’espace santé. Aucun document ne pourra y être "
            "déposé ni consulté. Vous pourrez l’ouvrir plus tard si vous changez d’avis."
        ),
    ),
    Transition.OPENING: (
        _("Ouvrir l’espace santé maintenant"),
        _(
            "L’espace santé est ouvert tout de suite, sans attendre la fin du délai "
            "d’opposition. Les professionnels qui vous soignent pourront y déposer et y "
            "consulter vos documents, selon vos paramètres de confidentialité."
        ),
    ),
    Transition.CLOSURE: (
        _("Fermer l’espace santé"),
        _(
            "L’espace santé est fermé et archivé : plus personne, ni vous ni les "
            "professionnels de santé, ne peut y déposer ou y consulter de documents. Les "
            "données sont conservées dix ans, puis supprimées définitivement. Pendant ce "
            "délai, vous pouvez rouvrir l’espace : les données sont alors restaurées."
        ),
    ),
    Transition.DELETION_REQUEST: (
        _("Demander la suppression des données"),
        _(
            "L’espace santé est fermé s’il est ouvert, et toutes ses données (documents, "
            "profil médical, historique) sont supprimées définitivement dans un délai de trois "
            "mois au plus. Cette suppression est irréversible."
        ),
    ),
    Transition.REOPENING: (
        _("Rouvrir l’espace santé"),
        _("L’espace santé est rouvert et les données archivées sont restaurées."),
    ),
}  # fmt: skip
# Actions whose consequences cannot be undone easily: the holder ticks a confirmation box.
_ACKNOWLEDGED = frozenset({Transition.CLOSURE, Transition.DELETION_REQUEST})


def _overview_work(
    session: Session, principal: Principal, whose: Whose, now: datetime
) -> SpaceOut | None:
    try:
        return access_service.view_space(session, principal, whose.ref, now=now)
    except NotFound as exc:
        if exc.code != "space_not_created":
            raise
        return None  # not created yet: the holder may still object or open it


def _actions(out: SpaceOut | None) -> list[Transition]:
    if out is None:
        return [Transition.OBJECTION, Transition.OPENING]
    return [Transition(a.action) for a in out.next_actions]


@router.get(BASE, response_class=HTMLResponse, response_model=None)
async def overview(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    out = await uow.run(_overview_work, start.principal, start.whose, utcnow())
    actions = [(t.value, _t(request, _ACTIONS[t][0])) for t in _actions(out)]
    return _page(
        request,
        start,
        "space/overview.html",
        {
            "space": out,
            "state": out.state.value if out else None,
            "state_label": _t(request, STATES[out.state.value]) if out else None,
            "actions": actions,
            "local_time": _local_time,
        },
    )


def _local_time(moment: datetime | None) -> str:
    return moment.astimezone(sp.PARIS).strftime("%d/%m/%Y") if moment else ""


def _transition(value: str) -> Transition:
    try:
        return Transition(value)
    except ValueError:
        raise NotFound(f"no action {value[:40]!r}", code="unknown_action") from None


def _action_page(
    request: Request, start: Start, transition: Transition, error: str | None = None
) -> HTMLResponse:
    title, consequences = _ACTIONS[transition]
    return _page(
        request,
        start,
        "space/confirm_action.html",
        {
            "action": transition.value,
            "action_title": _t(request, title),
            "consequences": _t(request, consequences),
            "acknowledge": transition in _ACKNOWLEDGED,
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get(BASE + "/action/{action}", response_class=HTMLResponse, response_model=None)
async def confirm_action(request: Request, action: str, uow: UnitOfWorkDep) -> Response:
    transition = _transition(action)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return _action_page(request, start, transition)


def _change_work(
    session: Session,
    settings: Settings,
    principal: Principal,
    whose: Whose,
    transition: Transition,
    now: datetime,
) -> SpaceOut:
    """What ``POST /api/v1/spaces/{person}/<transition>`` does: the same service call."""
    return access_service.change_space(session, settings, principal, whose.ref, transition, now=now)


@router.post(BASE + "/action/{action}", response_class=HTMLResponse, response_model=None)
async def do_action(request: Request, action: str, uow: UnitOfWorkDep) -> Response:
    transition = _transition(action)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    if transition in _ACKNOWLEDGED and _field(form, "compris") != "oui":
        return _action_page(
            request,
            start,
            transition,
            _t(request, _("Cochez la case pour confirmer que vous avez compris les conséquences.")),
        )
    try:
        await uow.run(
            _change_work, _settings(request), start.principal, start.whose, transition, utcnow()
        )
    except AppError as exc:
        return _action_page(request, start, transition, _error_text(request, exc))
    return _redirect(start.whose, BASE, transition.value)


# -- documents -----------------------------------------------------------------------------------


@dataclass
class DocumentFilters:
    class_code: str = ""
    type_code: str = ""
    author: str = ""
    act_from: str = ""
    act_to: str = ""
    offset: int = 0

    def params(self) -> dict[str, str | None]:
        return {
            "categorie": self.class_code or None,
            "type": self.type_code or None,
            "auteur": self.author or None,
            "du": self.act_from or None,
            "au": self.act_to or None,
        }


def _date_or_none(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: Request) -> tuple[DocumentFilters, list[str]]:
    q = request.query_params
    problems: list[str] = []
    f = DocumentFilters(
        class_code=q.get("categorie", "") if q.get("categorie", "") in CLASS_CODES else "",
        type_code=q.get("type", "") if q.get("type", "") in TYPE_CODES else "",
        author=q.get("auteur", "").strip()[:200],
        act_from=q.get("du", ""),
        act_to=q.get("au", ""),
    )
    for name in ("act_from", "act_to"):
        if getattr(f, name) and _date_or_none(getattr(f, name)) is None:
            problems.append(_("La date indiquée n’est pas valide : elle est ignorée."))
            setattr(f, name, "")
    offset = q.get("decalage", "0")
    f.offset = min(int(offset), 1_000_000) if offset.isdigit() else 0
    return f, problems


def _documents_work(
    session: Session, principal: Principal, whose: Whose, f: DocumentFilters, now: datetime
) -> doc_schemas.DocumentPage:
    query = doc_schemas.DocumentQuery(
        class_codes=[f.class_code] if f.class_code else [],
        type_codes=[f.type_code] if f.type_code else [],
        act_from=_date_or_none(f.act_from),
        act_to=_date_or_none(f.act_to),
        author=f.author or None,
        offset=f.offset,
        limit=PAGE_SIZE,
    )
    return documents_service.search(session, principal, whose.ref, query, now=now)


async def _documents_page(
    request: Request,
    uow: UnitOfWork,
    start: Start,
    *,
    upload_error: str | None = None,
    upload_values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    f, problems = _filters(request)
    unavailable: str | None = None
    page: doc_schemas.DocumentPage | None = None
    try:
        page = await uow.run(_documents_work, start.principal, start.whose, f, utcnow())
    except AppError as exc:
        if exc.code not in ("space_not_open", "unknown_space"):
            raise
        unavailable = _error_text(request, exc)
    return _page(
        request,
        start,
        "space/documents.html",
        {
            "page": page,
            "filters": f,
            "filter_problems": [_t(request, p) for p in problems],
            "unavailable": unavailable,
            "class_codes": list(CLASS_CODES.values()),
            "type_codes": list(TYPE_CODES.values()),
            "upload_error": upload_error,
            "upload": upload_values or {"class_code": "90", "type_code": "DOCPAT03"},
            "max_mb": _megabytes(_settings(request)),
            "next_url": start.whose.url(DOCUMENTS, **f.params(), decalage=str(page.next_offset))
            if page is not None and page.next_offset is not None
            else None,
            "first_url": start.whose.url(DOCUMENTS, **f.params()) if f.offset else None,
            "return_to": start.whose.url(DOCUMENTS, **f.params(), decalage=str(f.offset or "")),
        },
        status_code=status_code,
    )


@router.get(DOCUMENTS, response_class=HTMLResponse, response_model=None)
async def documents(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return await _documents_page(request, uow, start)


def _upload_work(
    session: Session,
    settings: Settings,
    principal: Principal,
    whose: Whose,
    meta: doc_schemas.DocumentMetadata,
    data: bytes,
    content_type: str | None,
    filename: str | None,
    now: datetime,
) -> doc_schemas.DocumentOut:
    return documents_service.create(
        session, settings, principal, whose.ref, meta, data, content_type, filename, now=now
    )


def _chosen_file(form: FormData) -> UploadFile | None:
    for name in ("photo", "fichier"):
        item = form.get(name)
        if isinstance(item, UploadFile) and item.filename:
            return item
    return None


@router.post(DOCUMENTS, response_class=HTMLResponse, response_model=None)
async def upload_document(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    try:
        return await _upload(request, uow, start, form)
    finally:
        await form.close()  # the spooled file parts


async def _upload(request: Request, uow: UnitOfWork, start: Start, form: FormData) -> Response:
    settings = _settings(request)
    values = {k: _field(form, k) for k in ("class_code", "type_code", "title", "act_date")}

    async def refuse(message: str) -> HTMLResponse:
        return await _documents_page(
            request, uow, start, upload_error=message, upload_values=values, status_code=422
        )

    upload = _chosen_file(form)
    if upload is None:
        return await refuse(_t(request, _("Choisissez un fichier ou prenez une photo.")))
    if not values["title"]:
        return await refuse(_t(request, _("Donnez un titre au document.")))
    if values["class_code"] not in CLASS_CODES or values["type_code"] not in TYPE_CODES:
        return await refuse(_t(request, _error("unknown_code")))
    act_date = _date_or_none(values["act_date"])
    if values["act_date"] and act_date is None:
        return await refuse(_t(request, _("La date du document n’est pas valide.")))
    data = await upload.read(settings.document_max_bytes + 1)
    if len(data) > settings.document_max_bytes:
        size = _megabytes(settings)
        return await refuse(_t(request, _error("document_too_large")) % {"size": size})
    try:
        meta = doc_schemas.DocumentMetadata(
            class_code=values["class_code"],
            type_code=values["type_code"],
            title=values["title"][:255],
            act_date=act_date,
        )
        await uow.run(
            _upload_work,
            settings,
            start.principal,
            start.whose,
            meta,
            data,
            upload.content_type,
            upload.filename,
            utcnow(),
        )
    except AppError as exc:
        return await refuse(_error_text(request, exc, settings))
    return _redirect(start.whose, DOCUMENTS, "upload")


def _content_work(
    session: Session, settings: Settings, principal: Principal, whose: Whose, doc_id: str,
    now: datetime,
) -> tuple[bytes, doc_schemas.DocumentOut]:  # fmt: skip
    content = documents_service.content(session, settings, principal, whose.ref, doc_id, now=now)
    return content.data, content.document


@router.get(DOCUMENTS + "/{doc_id}/contenu", response_model=None)
async def document_content(request: Request, doc_id: str, uow: UnitOfWorkDep) -> Response:
    """The document itself: shown in the browser (PDF, images) or downloaded; never stored."""
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    data, document = await uow.run(
        _content_work, _settings(request), start.principal, start.whose, doc_id[:64], utcnow()
    )
    filename = document.filename or document.id
    inline = document.content_type in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            # Images are shown sandboxed; Chromium's PDF viewer refuses sandboxed documents.
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"
            if document.content_type == "application/pdf"
            else "sandbox; default-src 'none'; frame-ancestors 'none'",
        },
    )


def _visibility_work(
    session: Session, principal: Principal, whose: Whose, doc_id: str, hide: bool, now: datetime
) -> doc_schemas.DocumentOut:
    change = doc_schemas.VisibilityUpdate(hidden_from_professionals=hide)
    return documents_service.set_visibility(session, principal, whose.ref, doc_id, change, now=now)


@router.post(DOCUMENTS + "/{doc_id}/visibilite", response_class=HTMLResponse, response_model=None)
async def document_visibility(request: Request, doc_id: str, uow: UnitOfWorkDep) -> Response:
    """Hide from professionals (MASQUE_PS) or show again; htmx swaps the document's row."""
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    hide = _field(form, "masquer") == "oui"
    document = await uow.run(
        _visibility_work, start.principal, start.whose, doc_id[:64], hide, utcnow()
    )
    if request.headers.get("hx-request") == "true":
        return _page(
            request,
            start,
            "space/document_row.html",
            {"doc": document, "return_to": _local(_field(form, "retour"), DOCUMENTS),
             "announce": True},
        )  # fmt: skip
    return _redirect(start.whose, DOCUMENTS, "hidden" if hide else "shown")


def _local(path: str, fallback: str) -> str:
    """A return path on this site only."""
    if path.startswith(BASE) and not path.startswith("//"):
        return path
    return fallback


def _get_document_work(
    session: Session, principal: Principal, whose: Whose, doc_id: str, now: datetime
) -> doc_schemas.DocumentOut:
    return documents_service.get(session, principal, whose.ref, doc_id, now=now)


@router.get(DOCUMENTS + "/{doc_id}/suppression", response_class=HTMLResponse, response_model=None)
async def confirm_delete_document(request: Request, doc_id: str, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    document = await uow.run(
        _get_document_work, start.principal, start.whose, doc_id[:64], utcnow()
    )
    return _page(request, start, "space/confirm_delete.html", {"doc": document})


def _delete_work(
    session: Session, settings: Settings, principal: Principal, whose: Whose, doc_id: str,
    now: datetime,
) -> None:  # fmt: skip
    documents_service.delete(session, settings, principal, whose.ref, doc_id, now=now)


@router.post(DOCUMENTS + "/{doc_id}/suppression", response_class=HTMLResponse, response_model=None)
async def delete_document(request: Request, doc_id: str, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    await uow.run(
        _delete_work, _settings(request), start.principal, start.whose, doc_id[:64], utcnow()
    )
    return _redirect(start.whose, DOCUMENTS, "deleted")


# -- medical profile ------------------------------------------------------------------------------


def _profile_work(
    session: Session, principal: Principal, whose: Whose, now: datetime
) -> dict[str, Any]:
    summary = profile_service.summary(session, principal, whose.ref, now=now)
    return {
        "illnesses": [sp.describe(None, r) for r in summary.history.illnesses],
        "hospitalisations": [sp.describe(None, r) for r in summary.history.hospitalisations],
        "operations": [sp.describe(None, r) for r in summary.history.operations],
        "current": [sp.describe("traitement", r) for r in summary.treatments.current],
        "past": [sp.describe("traitement", r) for r in summary.treatments.past],
        "allergies": [sp.describe("allergie", r) for r in summary.allergies],
        "vaccinations": [sp.describe("vaccination", r) for r in summary.vaccinations],
        "measurements": summary.measurements,
        "directives": [sp.describe("directives", r) for r in summary.directives],
        "contacts": [sp.describe(None, r) for r in summary.contacts],
    }


@router.get(PROFILE, response_class=HTMLResponse, response_model=None)
async def profile(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    try:
        sections = await uow.run(_profile_work, start.principal, start.whose, utcnow())
        unavailable = None
    except AppError as exc:
        if exc.code not in ("space_not_open", "unknown_space"):
            raise
        sections, unavailable = {}, _error_text(request, exc)
    return _page(
        request,
        start,
        "space/profile.html",
        {
            "profile": sections,
            "unavailable": unavailable,
            "measure_labels": sp.MEASURE_LABELS,
            "measurement_value": sp.measurement_value,
            "local_day": sp.local_day,
        },
    )


def _kind(slug: str) -> sp.Kind:
    kind = sp.KINDS.get(slug)
    if kind is None:
        raise NotFound(f"no profile form {slug[:40]!r}", code="unknown_form")
    return kind


def _profile_form(
    request: Request,
    start: Start,
    kind: sp.Kind,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    resource_id: str | None = None,
    version: int | None = None,
) -> HTMLResponse:
    title = kind.edit_title if resource_id else kind.title
    return _page(
        request,
        start,
        "space/profile_form.html",
        {
            "kind": kind.slug,
            "form_title": _t(request, title),
            "values": values,
            "errors": {k: _t(request, v) for k, v in (errors or {}).items()},
            "resource_id": resource_id,
            "version": version,
            "allergy_categories": sp.ALLERGY_CATEGORIES,
            "criticalities": sp.CRITICALITIES,
            "treatment_statuses": sp.TREATMENT_STATUSES,
            "measures": {k: label for k, (_c, label, _u) in sp.MEASURES.items()},
        },
        status_code=422 if errors else 200,
    )


@router.get(PROFILE + "/{slug}/nouveau", response_class=HTMLResponse, response_model=None)
async def new_profile_item(request: Request, slug: str, uow: UnitOfWorkDep) -> Response:
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return _profile_form(request, start, kind, {})


def _create_work(
    session: Session, principal: Principal, whose: Whose, resource_type: str,
    resource: dict[str, Any], now: datetime,
) -> None:  # fmt: skip
    profile_service.create(session, principal, whose.ref, resource_type, resource, now=now)


def _update_work(
    session: Session, principal: Principal, whose: Whose, resource_type: str, resource_id: str,
    resource: dict[str, Any], version: int, now: datetime,
) -> None:  # fmt: skip
    profile_service.update(
        session, principal, whose.ref, resource_type, resource_id, resource, if_match=version,
        now=now,
    )  # fmt: skip


async def _save_profile_item(
    request: Request, uow: UnitOfWork, start: Start, kind: sp.Kind, resource_id: str | None
) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    version_text = values.pop("version", "")
    version = int(version_text) if version_text.isdigit() else 0
    result = sp.build(kind, values, start.whose.person_id)
    errors = dict(result.errors)
    if result.resource is not None:
        try:
            if resource_id is None:
                await uow.run(
                    _create_work, start.principal, start.whose, kind.resource_type,
                    result.resource, utcnow(),
                )  # fmt: skip
            else:
                await uow.run(
                    _update_work, start.principal, start.whose, kind.resource_type, resource_id,
                    result.resource, version, utcnow(),
                )  # fmt: skip
        except AppError as exc:
            if exc.code == "invalid_resource":
                errors = sp.service_problems(kind, exc.details)
            else:
                errors = {"__all__": _ERRORS.get(exc.code, GENERIC_ERROR)}
    if errors:
        return _profile_form(
            request, start, kind, values, errors=errors, resource_id=resource_id, version=version
        )
    return _redirect(start.whose, PROFILE, "profile-saved" if resource_id else "profile-added")


@router.post(PROFILE + "/{slug}/nouveau", response_class=HTMLResponse, response_model=None)
async def create_profile_item(request: Request, slug: str, uow: UnitOfWorkDep) -> Response:
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return await _save_profile_item(request, uow, start, kind, None)


def _read_work(
    session: Session, principal: Principal, whose: Whose, resource_type: str, resource_id: str,
    now: datetime,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    stored = profile_service.read(
        session, principal, whose.ref, resource_type, resource_id, now=now
    )
    return stored.resource or {}, stored.version


async def _read_item(
    uow: UnitOfWork, start: Start, kind: sp.Kind, resource_id: str
) -> tuple[dict[str, Any], int]:
    return await uow.run(
        _read_work, start.principal, start.whose, kind.resource_type, resource_id, utcnow()
    )


@router.get(PROFILE + "/{slug}/{resource_id}", response_class=HTMLResponse, response_model=None)
async def edit_profile_item(
    request: Request, slug: str, resource_id: str, uow: UnitOfWorkDep
) -> Response:
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    resource, version = await _read_item(uow, start, kind, resource_id[:64])
    return _profile_form(
        request, start, kind, sp.values_of(kind, resource), resource_id=resource_id[:64],
        version=version,
    )  # fmt: skip


@router.post(PROFILE + "/{slug}/{resource_id}", response_class=HTMLResponse, response_model=None)
async def update_profile_item(
    request: Request, slug: str, resource_id: str, uow: UnitOfWorkDep
) -> Response:
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return await _save_profile_item(request, uow, start, kind, resource_id[:64])


def _delete_item_work(
    session: Session, principal: Principal, whose: Whose, resource_type: str, resource_id: str,
    version: int | None, now: datetime,
) -> None:  # fmt: skip
    profile_service.delete(
        session, principal, whose.ref, resource_type, resource_id, if_match=version, now=now
    )


def _confirm_delete_item_page(
    request: Request, start: Start, kind: sp.Kind, resource: dict[str, Any], version: int,
    error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    item = sp.describe(kind.slug, resource)
    return _page(
        request,
        start,
        "space/confirm_delete_profile.html",
        {"item": item, "kind": kind.slug, "version": version, "error": error},
        status_code=409 if error else 200,
    )


@router.get(
    PROFILE + "/{slug}/{resource_id}/suppression", response_class=HTMLResponse, response_model=None
)
async def confirm_delete_profile_item(
    request: Request, slug: str, resource_id: str, uow: UnitOfWorkDep
) -> Response:
    """What will be deleted, and its consequences, before the holder confirms (as documents)."""
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    resource, version = await _read_item(uow, start, kind, resource_id[:64])
    return _confirm_delete_item_page(request, start, kind, resource, version)


@router.post(
    PROFILE + "/{slug}/{resource_id}/suppression", response_class=HTMLResponse, response_model=None
)
async def delete_profile_item(
    request: Request, slug: str, resource_id: str, uow: UnitOfWorkDep
) -> Response:
    kind = _kind(slug)
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    # The version confirmed: a change made since (another device) is not deleted unseen.
    version_text = _field(form, "version")
    version = int(version_text) if version_text.isdigit() and len(version_text) <= 9 else None
    try:
        await uow.run(
            _delete_item_work, start.principal, start.whose, kind.resource_type,
            resource_id[:64], version, utcnow(),
        )  # fmt: skip
    except AppError as exc:
        if exc.code != "version_conflict":
            raise
        resource, current = await _read_item(uow, start, kind, resource_id[:64])
        return _confirm_delete_item_page(
            request, start, kind, resource, current, _error_text(request, exc)
        )
    return _redirect(start.whose, PROFILE, "profile-deleted")


# -- access history -------------------------------------------------------------------------------

ACTOR_KINDS = {
    "representative": _("Représentant légal"),
    "aidant": _("Proche"),
    "professional": _("Professionnel de santé"),
    "emergency": _("Accès d’urgence"),
    "regulator": _("Régulation médicale (SAMU-Centre 15)"),
    "holder": _("Titulaire"),
}
WHAT = {
    "documents": _("Documents"),
    "profile": _("Profil médical"),
    "lifecycle": _("État de l’espace"),
    "privacy": _("Paramètres de confidentialité"),
    "blocks": _("Professionnels bloqués"),
    "consents": _("Accès des professionnels"),
    "aidants": _("Accès des proches"),
    "history": _("Historique des accès"),
    "emergency": _("Accès d’urgence"),
}
VERBS = {
    "read": _("consultation"),
    "search": _("consultation"),
    "summary": _("consultation"),
    "content": _("ouverture d’un document"),
    "create": _("ajout"),
    "update": _("modification"),
    "delete": _("suppression"),
    "version": _("nouvelle version"),
    "visibility": _("changement de visibilité"),
}


def _what(request: Request, what: str) -> str:
    area, _sep, verb = what.partition(".")
    label = _t(request, WHAT[area]) if area in WHAT else area
    if verb in VERBS:
        return f"{label} : {_t(request, VERBS[verb])}"
    return label


def _history_work(
    session: Session,
    principal: Principal,
    whose: Whose,
    cursor: int | None,
    kind: ActorKind | None,
    now: datetime,
) -> access_schemas.HistoryPage:
    return access_service.history_page(
        session, principal, whose.ref, limit=PAGE_SIZE, cursor=cursor, now=now, actor_kind=kind
    )


@router.get(HISTORY, response_class=HTMLResponse, response_model=None)
async def history(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    before = request.query_params.get("avant", "")
    cursor = int(before) if before.isdigit() and 0 < len(before) <= 18 else None
    kind = request.query_params.get("qui", "")
    kind = kind if kind in ACTOR_KINDS else ""
    page = await uow.run(
        _history_work,
        start.principal,
        start.whose,
        cursor,
        ActorKind(kind) if kind else None,
        utcnow(),
    )
    rows = [
        {
            "entry": entry,
            "kind": _t(request, ACTOR_KINDS.get(entry.actor_kind, entry.actor_kind)),
            "what": _what(request, entry.what),
            # The professional as the access service recorded them (blocks are by RPPS).
            "rpps": entry.professional_rpps,
        }
        for entry in page.items
    ]
    return _page(
        request,
        start,
        "space/history.html",
        {
            "rows": rows,
            "kinds": {k: _t(request, v) for k, v in ACTOR_KINDS.items() if k != "holder"},
            "kind": kind if kind in ACTOR_KINDS else "",
            "next_url": start.whose.url(HISTORY, avant=page.next_cursor, qui=kind or None)
            if page.next_cursor
            else None,
            "first_url": start.whose.url(HISTORY, qui=kind or None) if cursor else None,
        },
    )


# -- privacy --------------------------------------------------------------------------------------


@dataclass
class PrivacyView:
    privacy: access_schemas.Privacy
    blocks: list[access_schemas.BlockOut]
    grants: list[access_schemas.GrantOut]
    aidants: list[access_schemas.AidantOut]
    found: list[Any]


def _privacy_work(
    session: Session, principal: Principal, whose: Whose, search: str, now: datetime
) -> PrivacyView:
    found: list[Any] = []
    if search:
        found = directory_service.search(session, principal, name=search, limit=10).items
    return PrivacyView(
        access_service.get_privacy(session, principal, whose.ref, now=now),
        access_service.list_blocks(session, principal, whose.ref, now=now),
        access_service.list_consents(session, principal, whose.ref, now=now),
        access_service.list_aidants(session, principal, whose.ref, now=now),
        found,
    )


async def _privacy_page(
    request: Request,
    uow: UnitOfWork,
    start: Start,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    search = request.query_params.get("recherche", "").strip()[:100]
    search_error = None
    try:
        view = await uow.run(_privacy_work, start.principal, start.whose, search, utcnow())
    except AppError as exc:
        if not search or exc.code not in ("invalid_search",):
            raise
        search_error = _error_text(request, exc)
        view = await uow.run(_privacy_work, start.principal, start.whose, "", utcnow())
    return _page(
        request,
        start,
        "space/privacy.html",
        {
            "view": view,
            "search": search,
            "search_error": search_error,
            "errors": errors or {},
            "values": values or {},
            "scopes": [
                ("documents:read", _t(request, _("Consulter les documents"))),
                ("documents:write", _t(request, _("Ajouter des documents"))),
                ("profile:read", _t(request, _("Consulter le profil médical"))),
                ("profile:write", _t(request, _("Modifier le profil médical"))),
                ("history:read", _t(request, _("Consulter l’historique des accès"))),
            ],
            "bases": {
                "consent": _t(request, _("Votre accord")),
                "care": _t(request, _("Relation de soins (lecture de votre carte)")),
                "emergency": _t(request, _("Accès d’urgence")),
                "regulation": _t(request, _("Régulation médicale")),
            },
        },
        status_code=status_code,
    )


@router.get(PRIVACY, response_class=HTMLResponse, response_model=None)
async def privacy(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    return await _privacy_page(request, uow, start)


def _set_privacy_work(
    session: Session, principal: Principal, whose: Whose, body: access_schemas.Privacy,
    now: datetime,
) -> None:  # fmt: skip
    access_service.set_privacy(session, principal, whose.ref, body, now=now)


@router.post(PRIVACY + "/parametres", response_class=HTMLResponse, response_model=None)
async def set_privacy(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    body = access_schemas.Privacy(
        emergency_access_refused=_field(form, "urgence") == "refuser",
        notify_by_email=_field(form, "notifications") == "oui",
    )
    await uow.run(_set_privacy_work, start.principal, start.whose, body, utcnow())
    return _redirect(start.whose, PRIVACY, "privacy")


def _rpps(value: str) -> str | None:
    digits = value.replace(" ", "")
    return digits if re.fullmatch(r"\d{11}", digits) else None


# A change about one professional: (session, principal, whose, rpps, end of the access, now).
_ProfessionalWork = Callable[[Session, Principal, Whose, str, datetime | None, datetime], None]


def _block_work(
    session: Session, principal: Principal, whose: Whose, rpps: str, _ends: datetime | None,
    now: datetime,
) -> None:  # fmt: skip
    access_service.add_block(
        session, principal, whose.ref, access_schemas.BlockCreate(rpps=rpps), now=now
    )


def _unblock_work(
    session: Session, principal: Principal, whose: Whose, rpps: str, _ends: datetime | None,
    now: datetime,
) -> None:  # fmt: skip
    access_service.remove_block(session, principal, whose.ref, rpps, now=now)


def _consent_work(
    session: Session, principal: Principal, whose: Whose, rpps: str, ends: datetime | None,
    now: datetime,
) -> None:  # fmt: skip
    body = access_schemas.ConsentCreate(rpps=rpps, ends_at=ends)
    access_service.add_consent(session, principal, whose.ref, body, now=now)


def _revoke_consent_work(
    session: Session, principal: Principal, whose: Whose, rpps: str, _ends: datetime | None,
    now: datetime,
) -> None:  # fmt: skip
    access_service.revoke_consent(session, principal, whose.ref, rpps, now=now)


def _end_of(day: str) -> datetime | None:
    """The end of a day in Paris (an access ending "on" a date lasts that whole day)."""
    parsed = _date_or_none(day)
    if parsed is None:
        return None
    return datetime.combine(parsed, datetime.max.time(), tzinfo=sp.PARIS).replace(microsecond=0)


async def _professional_change(
    request: Request, uow: UnitOfWork, section: str, work: _ProfessionalWork, done: str
) -> Response:
    """Run a block/consent change named by an RPPS field (and the access's end date ``fin``
    where the form has one); errors shown in ``section``."""
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    raw = _field(form, "rpps")
    rpps = _rpps(raw)
    if rpps is None:
        message = _t(request, _error("invalid_rpps"))
        return await _privacy_page(
            request, uow, start, errors={section: message}, values={section: raw}, status_code=422
        )
    ends = _end_of(_field(form, "fin"))
    try:
        await uow.run(work, start.principal, start.whose, rpps, ends, utcnow())
    except AppError as exc:
        return await _privacy_page(
            request, uow, start, errors={section: _error_text(request, exc)},
            values={section: raw}, status_code=422,
        )  # fmt: skip
    back = _field(form, "retour")
    if back == "historique":
        return _redirect(start.whose, HISTORY, done)
    return _redirect(start.whose, PRIVACY, done)


@router.post(PRIVACY + "/blocages", response_class=HTMLResponse, response_model=None)
async def block(request: Request, uow: UnitOfWorkDep) -> Response:
    return await _professional_change(request, uow, "block", _block_work, "blocked")


@router.post(PRIVACY + "/blocages/retrait", response_class=HTMLResponse, response_model=None)
async def unblock(request: Request, uow: UnitOfWorkDep) -> Response:
    return await _professional_change(request, uow, "block", _unblock_work, "unblocked")


@router.post(PRIVACY + "/professionnels", response_class=HTMLResponse, response_model=None)
async def add_consent(request: Request, uow: UnitOfWorkDep) -> Response:
    return await _professional_change(request, uow, "consent", _consent_work, "consent")


@router.post(PRIVACY + "/professionnels/retrait", response_class=HTMLResponse, response_model=None)
async def revoke_consent(request: Request, uow: UnitOfWorkDep) -> Response:
    return await _professional_change(
        request, uow, "consent", _revoke_consent_work, "consent-revoked"
    )


def _aidant_work(
    session: Session, principal: Principal, whose: Whose, body: access_schemas.AidantCreate,
    now: datetime,
) -> None:  # fmt: skip
    access_service.add_aidant(session, principal, whose.ref, body, now=now)


def _revoke_aidant_work(
    session: Session, principal: Principal, whose: Whose, aidant_id: int, now: datetime
) -> None:
    access_service.revoke_aidant(session, principal, whose.ref, aidant_id, now=now)


@router.post(PRIVACY + "/proches", response_class=HTMLResponse, response_model=None)
async def add_aidant(request: Request, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    form = await request.form()
    nir = _field(form, "nir").replace(" ", "")
    scopes = [s for s in form.getlist("portee") if isinstance(s, str)]
    values = {"aidant": nir, "aidant_fin": _field(form, "fin")}

    async def refuse(message: str) -> HTMLResponse:
        return await _privacy_page(
            request, uow, start, errors={"aidant": message}, values=values, status_code=422
        )

    if not re.fullmatch(r"[0-9AB]{13,15}", nir.upper()):
        return await refuse(
            _t(request, _("Le numéro de sécurité sociale compte 13 chiffres (15 avec la clé)."))
        )
    if not scopes:
        return await refuse(_t(request, _("Cochez au moins une autorisation.")))
    try:
        body = access_schemas.AidantCreate(
            person=nir.upper(), scope=" ".join(scopes), ends_at=_end_of(values["aidant_fin"])
        )
    except ValueError:
        return await refuse(_t(request, _("Cochez au moins une autorisation.")))
    try:
        await uow.run(_aidant_work, start.principal, start.whose, body, utcnow())
    except AppError as exc:
        return await refuse(_error_text(request, exc))
    return _redirect(start.whose, PRIVACY, "aidant")


@router.post(
    PRIVACY + "/proches/{aidant_id}/retrait", response_class=HTMLResponse, response_model=None
)
async def revoke_aidant(request: Request, aidant_id: int, uow: UnitOfWorkDep) -> Response:
    start = await _start(request, uow)
    if isinstance(start, Response):
        return start
    await uow.run(
        _revoke_aidant_work, start.principal, start.whose, min(aidant_id, 2**63 - 1), utcnow()
    )
    return _redirect(start.whose, PRIVACY, "aidant-revoked")


# The states as the overview names them (SpaceState values → texts to translate).
STATES = {
    SpaceState.PENDING.value: _("En attente d’ouverture"),
    SpaceState.OPEN.value: _("Ouvert"),
    SpaceState.OBJECTED.value: _("Opposition enregistrée"),
    SpaceState.CLOSED.value: _("Fermé (archivé)"),
    SpaceState.PURGED.value: _("Supprimé"),
}
