"""The professional portal: read a patient's card (a handheld scanner types the QR text, or a
photo / webcam frame decoded on the server), choose the beneficiary, see the identity, the INS
and the rights, then the documents of the health space the professional may see.

Every step goes through the services, with the principal bound to the signed-in professional
(``pro_session.pro_principal``): ``apcv_service.create_context`` reads the card (the same
checks as the apCV API: signature, status, secret code, single use), ``read_beneficiary``
restores one beneficiary (audited, and it starts the care relationship with their space),
``documents_service`` lists, returns, stores and deletes documents with the grant
``access_service.authorize`` gives, and break-glass is ``access_service.open_emergency_access``
(a mandatory reason, time-bounded, the holder notified). The pages hold no rule of their own.

Every patient page lives under the apCV context (``/pro/patient/{context}/{beneficiary}``):
when the context expires (``CARNET_APCV_CONTEXT_TTL_SECONDS``), the professional reads the card
again.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

import zxingcpp
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.access.schemas import EmergencyAccessCreate
from carnet.access.service import access_service
from carnet.apcv import schemas as apcv_schemas
from carnet.apcv.exceptions import BeneficiaryNotInContext, ContextExpired, ContextNotFound
from carnet.apcv.service import apcv_service
from carnet.auth.principal import Principal
from carnet.config import Settings
from carnet.dependencies import UnitOfWorkDep
from carnet.directory.schemas import ProfessionalRef
from carnet.documents import schemas as doc_schemas
from carnet.documents.service import documents_service
from carnet.exceptions import AppError, Forbidden, NotFound
from carnet.identity.places import get_places
from carnet.kit import card_qr
from carnet.logging import get_logger
from carnet.web.pro_session import ProSession, pro_principal, signed_in_professional
from carnet.web.templating import gettext as _t
from carnet.web.templating import render

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

HOME = "/pro"
SIGN_IN = "/pro/connexion"
PATIENT = "/pro/patient"
# A phone photo is a few megabytes; beyond this the upload is refused before decoding.
MAX_PHOTO_BYTES = 12 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000
PHOTO_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
# Decoded at most at this size (a card QR fills a good part of the frame).
DECODE_SIDE = 2400
DOCUMENTS_SHOWN = 100


def _(message: str) -> str:
    """Marks a text for extraction; translated when shown (``_t``)."""
    return message


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class Outcome:
    kind: str  # DSFR alert type: info, success, warning, error
    title: str
    text: str
    link: tuple[str, str] | None = None  # (href, label)


# -- the card-reading page -------------------------------------------------------------------------


def _pro_page(
    request: Request,
    *,
    code: str = "",
    error: str | None = None,
    photo_error: str | None = None,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pro = signed_in_professional(request)
    return render(
        request,
        "pro/index.html",
        {
            "pro": pro,
            "sign_in_url": SIGN_IN,
            "code": code,
            "error": error,
            "photo_error": photo_error,
            "outcome": outcome,
            "max_length": card_qr.MAX_TEXT_LENGTH,
            "max_photo_mb": MAX_PHOTO_BYTES // (1024 * 1024),
            "autofocus": error is None and outcome is None and photo_error is None,
        },
        status_code=status_code,
    )


@router.get(HOME, response_class=HTMLResponse)
def pro_home(request: Request) -> HTMLResponse:
    return _pro_page(request)


def check_card_text(text: str, now: datetime) -> str | None:
    """What is wrong with a scanned card code, as a text to translate; None if it may be read.

    Only the form is checked here (no database, no signature): the card service checks the rest
    when a signed-in professional reads it.
    """
    if not text:
        return _("Scannez le code QR de la carte ou collez son texte.")
    try:
        parsed = card_qr.parse(text)
    except card_qr.CardQrError:
        return _(
            "Ce texte n’est pas un code de carte Carnet. Scannez à nouveau le code QR affiché "
            "par le patient."
        )
    if parsed.token.purpose != card_qr.PURPOSE_PRESENTATION:
        return _(
            "Ce code sert à la connexion du patient, pas à la lecture par un professionnel. "
            "Demandez au patient d’afficher sa carte."
        )
    if parsed.token.expires_at < int(now.timestamp()):
        return _(
            "Ce code a expiré. Demandez au patient d’afficher à nouveau sa carte : le code se "
            "renouvelle toutes les deux minutes."
        )
    return None


ASK_AGAIN = _("Demandez au patient d’afficher à nouveau sa carte, puis lisez le nouveau code.")
# Why the card service refused a code, as the professional can act on it (stable codes).
REFUSALS: dict[str, str] = {
    "qr_malformed": _("Ce code n’est pas un code de carte Carnet valide."),
    "qr_unknown_card": _("Cette carte n’est pas connue de Carnet."),
    "qr_invalid_signature": _("La signature de ce code n’est pas valide : il a pu être modifié."),
    "qr_expired": _("Ce code a expiré."),
    "qr_not_yet_valid": _("Ce code n’est pas encore valide : l’horloge du téléphone est décalée."),
    "qr_lifetime_too_long": _("Ce code a une durée de validité trop longue."),
    "qr_wrong_purpose": _("Ce code sert à la connexion du patient, pas à la lecture."),
    "qr_replayed": _("Ce code a déjà été lu : un code ne sert qu’une fois."),
    "wrong_secret_code": _("Le code secret saisi par le patient est erroné."),
    "card_suspended": _("Cette carte est suspendue."),
    "card_revoked": _("Cette carte n’est plus valide (révoquée ou remplacée)."),
    "card_locked": _("Cette carte est bloquée après trop de codes secrets erronés."),
    "delegation_expired": _("La délégation utilisée n’est pas en cours de validité."),
    "delegation_revoked": _("La délégation utilisée a été révoquée."),
    "delegation_not_yours": _("La délégation utilisée n’est pas celle de ce porteur."),
}
NOT_ALLOWED = _(
    "Votre compte ne permet pas de lire une carte pour ce lieu d’exercice. Vérifiez votre "
    "inscription à l’annuaire ou reconnectez-vous."
)
UNCLEAR = _("La carte n’a pas pu être lue. Réessayez dans un instant.")


def _refusal(request: Request, exc: AppError) -> str:
    message = REFUSALS.get(exc.code)
    if message is None:
        message = NOT_ALLOWED if exc.status_code in (403, 404) else UNCLEAR
        return _t(request, message)
    return f"{_t(request, message)} {_t(request, ASK_AGAIN)}"


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _go(request: Request, target: str) -> Response:
    """A redirect after a form: htmx follows ``HX-Redirect`` with a full page load."""
    if _is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _create_context(
    session: Session, principal: Principal, pro: ProSession, text: str, ttl: int
) -> apcv_schemas.ContextCreated:
    body = apcv_schemas.ContextCreate(
        qr=text,
        professional=ProfessionalRef(
            rpps=pro.rpps, structure_identifier=pro.structure_identifier or None
        ),
    )
    return apcv_service.create_context(
        session, principal, body, now=datetime.now(UTC), ttl_seconds=ttl
    )


async def _read(request: Request, uow: UnitOfWorkDep, text: str, *, photo: bool) -> Response:
    """A checked card text → the apCV context (signed in) or the sign-in invitation."""
    pro = signed_in_professional(request)

    def refused(message: str, status_code: int) -> HTMLResponse:
        if photo:
            return _pro_page(request, photo_error=message, status_code=status_code)
        shown = text if len(text) <= card_qr.MAX_TEXT_LENGTH else ""
        return _pro_page(request, code=shown, error=message, status_code=status_code)

    problem = check_card_text(text, datetime.now(UTC))
    if problem is not None:
        return refused(_t(request, problem), 422)
    if pro is None:
        return _pro_page(
            request,
            outcome=Outcome(
                "warning",
                _t(request, "Connexion requise"),
                _t(
                    request,
                    "Le code est bien celui d’une carte Carnet. Connectez-vous en tant que "
                    "professionnel de santé pour la lire.",
                ),
                (SIGN_IN, _t(request, "Se connecter")),
            ),
        )
    ttl = _settings(request).apcv_context_ttl_seconds
    try:
        created = await uow.run(_create_context, pro_principal(pro), pro, text, ttl)
    except AppError as exc:
        log.info("web_pro_card_refused", code=exc.code)
        # 422 for the scanner form: htmx swaps it in place (other 4xx are not swapped).
        return refused(_refusal(request, exc), exc.status_code if photo else 422)
    return _go(request, f"{PATIENT}/{created.context_id}")


@router.post("/pro/lire-carte", response_model=None)
async def pro_read_card(
    request: Request,
    uow: UnitOfWorkDep,
    code: Annotated[str, Form(max_length=4 * card_qr.MAX_TEXT_LENGTH)] = "",
) -> Response:
    return await _read(request, uow, code.strip(), photo=False)


NO_PHOTO = _("Choisissez une photo du code QR de la carte.")
NOT_AN_IMAGE = _("Ce fichier n’est pas une image (formats acceptés : JPEG, PNG, WebP).")
PHOTO_TOO_BIG = _("Cette image est trop lourde : la limite est de {mb} Mo.")
NO_QR_FOUND = _(
    "Aucun code QR n’a été trouvé sur cette image. Cadrez le code QR de la carte en entier, "
    "bien éclairé et net, puis réessayez."
)
NOT_A_CARD_QR = _("Le code QR de cette image n’est pas celui d’une carte Carnet.")


class PhotoProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_card_photo(data: bytes) -> str:
    """The card code in a photo (a Carnet QR, ``CV1:``…), or ``PhotoProblem`` with a text to
    translate. Pillow opens only still-image formats, bounded in pixels; zxing-cpp decodes."""
    if not data:
        raise PhotoProblem(NO_PHOTO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.format not in PHOTO_FORMATS:
                raise PhotoProblem(NOT_AN_IMAGE)
            if opened.width * opened.height > MAX_PHOTO_PIXELS:
                raise PhotoProblem(NOT_AN_IMAGE)
            if opened.format == "JPEG":
                opened.draft("L", (DECODE_SIDE, DECODE_SIDE))
            image = ImageOps.exif_transpose(opened).convert("L")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, ValueError, SyntaxError) as exc:  # fmt: skip
        raise PhotoProblem(NOT_AN_IMAGE) from exc
    if max(image.size) > DECODE_SIDE:
        image.thumbnail((DECODE_SIDE, DECODE_SIDE))
    found = [
        str(barcode.text)
        for barcode in zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
    ]
    if not found:
        raise PhotoProblem(NO_QR_FOUND)
    cards = [text for text in found if text.startswith(card_qr.PREFIX)]
    if not cards:
        raise PhotoProblem(NOT_A_CARD_QR)
    return cards[0]


@router.post("/pro/lire-photo", response_model=None)
async def pro_read_photo(
    request: Request,
    uow: UnitOfWorkDep,
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if photo is None or not photo.filename:
        return _pro_page(request, photo_error=_t(request, NO_PHOTO), status_code=422)
    data = await photo.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        message = _t(request, PHOTO_TOO_BIG).format(mb=MAX_PHOTO_BYTES // (1024 * 1024))
        return _pro_page(request, photo_error=message, status_code=413)
    if photo.content_type and not photo.content_type.startswith(("image/", "application/octet")):
        return _pro_page(request, photo_error=_t(request, NOT_AN_IMAGE), status_code=415)
    try:
        text = decode_card_photo(data)
    except PhotoProblem as problem:
        status = 422 if problem.message in (NO_QR_FOUND, NOT_A_CARD_QR) else 415
        return _pro_page(request, photo_error=_t(request, problem.message), status_code=status)
    return await _read(request, uow, text, photo=True)


# -- the patient (one apCV context) ---------------------------------------------------------------


def _signed_in(request: Request) -> ProSession | None:
    return signed_in_professional(request)


def _not_signed_in() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


def _day(value: str | date | None) -> str:
    """A date as French readers write it (partial dates keep their unknown parts)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date) else value
    parts = text.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else text


def _name(summary: apcv_schemas.BeneficiarySummary) -> str:
    first = summary.used_first_name or summary.first_name
    return f"{first.title()} {summary.used_name or summary.birth_name}".strip()


def _place(code: str | None) -> str:
    if not code:
        return ""
    try:
        name = get_places().name(code)
    except Exception:  # the COG data is missing: the code alone still says where
        name = None
    return f"{name} ({code})" if name else code


@dataclass
class Patient:
    """One context's beneficiaries and the chosen one (person key stays on the server)."""

    context_id: str
    beneficiaries: list[dict[str, Any]]
    chosen: dict[str, Any] | None = None
    person_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _patient(
    session: Session, principal: Principal, context_id: str, ref: str | None, now: datetime
) -> Patient:
    listed = apcv_service.beneficiaries(session, principal, context_id, now=now)
    beneficiaries = [
        {
            "ref": summary.ref,
            "name": _name(summary),
            "quality": summary.quality,
            "birth_date": _day(summary.birth_date),
            "sex": summary.sex,
            "person_id": person_id,
        }
        for person_id, summary in listed
    ]
    patient = Patient(context_id, beneficiaries)
    if ref is not None:
        chosen = next((b for b in beneficiaries if b["ref"] == ref), None)
        if chosen is None:
            raise BeneficiaryNotInContext("no such beneficiary in this context")
        patient.chosen = chosen
        patient.person_id = next(pid for pid, s in listed if s.ref == ref)
    return patient


CONTEXT_GONE = _(
    "La lecture de cette carte a expiré : pour la sécurité du patient, elle ne vaut que quelques "
    "minutes. Lisez à nouveau sa carte."
)
CONTEXT_UNKNOWN = _("Cette lecture de carte est introuvable. Lisez à nouveau la carte du patient.")
BENEFICIARY_UNKNOWN = _("Ce bénéficiaire ne fait pas partie de cette lecture de carte.")


def _context_problem(request: Request, exc: AppError) -> HTMLResponse:
    if isinstance(exc, ContextExpired):
        title, text, status = _("Lecture expirée"), CONTEXT_GONE, 410
    elif isinstance(exc, BeneficiaryNotInContext):
        title, text, status = _("Bénéficiaire introuvable"), BENEFICIARY_UNKNOWN, 404
    else:
        title, text, status = _("Lecture introuvable"), CONTEXT_UNKNOWN, 404
    return render(
        request,
        "pro/patient_gone.html",
        {"title": _t(request, title), "text": _t(request, text)},
        status_code=status,
    )


CONTEXT_ERRORS = (ContextExpired, ContextNotFound, BeneficiaryNotInContext)


def _rights(read: apcv_schemas.BeneficiaryRead) -> dict[str, Any]:
    rights = read.rights
    return {
        "covered": rights.covered,
        "date_of_care": _day(rights.date_of_care),
        "regime": rights.regime_label or rights.regime,
        "regime_code": rights.regime,
        "fund": rights.fund,
        "centre": rights.centre,
        "quality": rights.quality_label or rights.quality,
        "insured_matricule": rights.insured_matricule,
        "start": _day(rights.start),
        "end": _day(rights.end),
        "validity_start": _day(rights.validity_start),
        "validity_end": _day(rights.validity_end),
        "situations": [
            {
                "code": s.code,
                "label": s.label,
                "start": _day(s.start),
                "end": _day(s.end),
                "ald_number": s.ald_number,
            }
            for s in rights.situations
        ],
    }


def _space_of(
    session: Session, principal: Principal, context_id: str, ref: str, now: datetime
) -> str:
    """The health space (as the services name it) of the beneficiary ``ref`` of this reading."""
    return str(_patient(session, principal, context_id, ref, now).person_id)


def _read_patient(
    session: Session, principal: Principal, context_id: str, ref: str, now: datetime
) -> Patient:
    patient = _patient(session, principal, context_id, ref, now)
    read = apcv_service.read_beneficiary(session, principal, context_id, ref, on=None, now=now)
    identity = read.identity
    traits = identity.traits
    patient.extra = {
        "identity": {
            "birth_name": traits.birth_name,
            "first_names": " ".join(traits.first_names),
            "used_name": identity.used_name,
            "used_first_name": identity.used_first_name,
            "sex": traits.sex,
            "birth_date": _day(traits.birth_date),
            "birth_place": _place(traits.birth_place),
            "matricule": identity.ins.matricule,
            "kind": identity.ins.kind,
            "oid": identity.ins.oid,
            "death_date": _day(identity.death_date),
        },
        "reliability": read.reliability,
        "delegated": read.delegated,
        "rights": _rights(read),
    }
    return patient


@router.get(PATIENT + "/{context_id}", response_class=HTMLResponse, response_model=None)
async def patient_choice(request: Request, uow: UnitOfWorkDep, context_id: str) -> Response:
    return await _patient_page(request, uow, context_id, None)


@router.get(PATIENT + "/{context_id}/{ref}", response_class=HTMLResponse, response_model=None)
async def patient_view(request: Request, uow: UnitOfWorkDep, context_id: str, ref: str) -> Response:
    return await _patient_page(request, uow, context_id, ref)


async def _patient_page(
    request: Request, uow: UnitOfWorkDep, context_id: str, ref: str | None
) -> Response:
    """A reading's beneficiaries to choose from (``ref`` None), or the one chosen, read."""
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    principal, now = pro_principal(pro), datetime.now(UTC)
    try:
        if ref is None:
            patient = await uow.run(_patient, principal, context_id, None, now)
        else:
            patient = await uow.run(_read_patient, principal, context_id, ref, now)
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)
    return render(request, "pro/patient.html", {"patient": patient, "pro": pro})


# -- the patient's documents -----------------------------------------------------------------------

# Why the space refused, as the professional can act on it; break-glass is offered when it may
# help (no relationship), never when the holder blocked this professional or refused it.
SPACE_REFUSALS: dict[str, str] = {
    "no_care_relationship": _(
        "Vous n’avez pas de relation de soins enregistrée avec ce patient, ni son consentement. "
        "En cas d’urgence, vous pouvez accéder à son espace en indiquant le motif : l’accès est "
        "tracé et le patient en est informé."
    ),
    "professional_blocked": _(
        "Le patient a bloqué votre accès à son espace santé. Vous ne pouvez pas consulter ses "
        "documents, même en urgence."
    ),
    "emergency_access_refused": _(
        "Le patient a refusé l’accès en urgence à son espace santé (article L1111-17)."
    ),
    "read_only_access": _(
        "Votre accès en urgence permet de consulter les documents, pas d’en déposer : le dépôt "
        "demande une relation de soins (lecture de la carte) ou le consentement du patient."
    ),
    "unknown_space": _(
        "Ce patient n’a pas d’espace santé ouvert : aucun document ne peut être consulté ni déposé."
    ),
}
SPACE_REFUSED = _("L’accès à l’espace santé de ce patient vous est refusé.")
BREAK_GLASS_CODES = frozenset({"no_care_relationship"})
REASON_MISSING = _(
    "Indiquez le motif de l’accès en urgence (au moins 10 caractères) : il est obligatoire, "
    "tracé et communiqué au patient."
)
NOT_A_PDF = _("Déposez un compte rendu au format PDF.")
UPLOAD_PROBLEMS: dict[str, str] = {
    "document_too_large": _("Ce fichier dépasse la taille maximale acceptée."),
    "unsupported_content_type": _("Le contenu de ce fichier ne correspond pas à un PDF."),
    "invalid_content": _("Ce fichier PDF est illisible ou vide."),
    "unknown_code": _("Choisissez une classe et un type de document dans les listes."),
}
UPLOAD_FAILED = _("Le document n’a pas pu être déposé. Vérifiez le fichier et les champs.")
FIELDS_MISSING = _("Indiquez le titre du document, sa classe et son type.")
DELETE_REFUSED = _("Vous ne pouvez supprimer que les documents dont vous êtes l’auteur.")


def _document_row(doc: doc_schemas.DocumentOut, professional_id: int) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "type": doc.type_label,
        "class": doc.class_label,
        "act_date": _day(doc.act_date),
        "created": doc.created_at.strftime("%d/%m/%Y"),
        "author": doc.author.label,
        "mine": doc.author.professional_id == professional_id,
        "content_type": doc.content_type,
        "size_kb": max(1, (doc.size + 1023) // 1024),
    }


def _documents(
    session: Session, principal: Principal, pro: ProSession, context_id: str, ref: str,
    now: datetime,
) -> Patient:  # fmt: skip
    """The chosen beneficiary and the documents this professional may see, or why not."""
    patient = _patient(session, principal, context_id, ref, now)
    assert patient.person_id is not None
    try:
        page = documents_service.search(
            session,
            principal,
            str(patient.person_id),
            doc_schemas.DocumentQuery(limit=DOCUMENTS_SHOWN),
            now=now,
        )
    except (Forbidden, NotFound) as exc:
        patient.extra = {"refused": exc.code}
        return patient
    patient.extra = {
        "documents": [_document_row(d, pro.professional_id) for d in page.items],
        "more": page.next_offset is not None,
    }
    return patient


def _documents_page(
    request: Request,
    pro: ProSession,
    patient: Patient,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    refused = patient.extra.get("refused")
    codes = documents_service.codes()
    context: dict[str, Any] = {
        "patient": patient,
        "pro": pro,
        "refused": refused,
        "notice": None,
        "refusal": _t(request, SPACE_REFUSALS.get(refused, SPACE_REFUSED)) if refused else None,
        "break_glass": refused in BREAK_GLASS_CODES,
        "documents": patient.extra.get("documents", []),
        "more": patient.extra.get("more", False),
        "class_codes": codes.class_codes,
        "type_codes": codes.type_codes,
        "form": {"class_code": "10", "type_code": "", "title": "", "act_date": ""},
        "today": datetime.now(UTC).date().isoformat(),
        "max_mb": _settings(request).document_max_bytes // (1024 * 1024),
    }
    context.update(values)
    return render(request, "pro/documents.html", context, status_code=status_code)


def _base(context_id: str, ref: str) -> str:
    return f"{PATIENT}/{context_id}/{ref}"


async def _patient_documents(
    request: Request, uow: UnitOfWorkDep, pro: ProSession, context_id: str, ref: str
) -> Patient | Response:
    """The patient and their documents (or why not), or the page for a reading gone stale."""
    try:
        return await uow.run(
            _documents, pro_principal(pro), pro, context_id, ref, datetime.now(UTC)
        )
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)


@router.get(
    PATIENT + "/{context_id}/{ref}/documents", response_class=HTMLResponse, response_model=None
)
async def documents(
    request: Request,
    uow: UnitOfWorkDep,
    context_id: str,
    ref: str,
    depose: str | None = None,
    supprime: str | None = None,
    urgence: str | None = None,
) -> Response:
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    patient = await _patient_documents(request, uow, pro, context_id, ref)
    if isinstance(patient, Response):
        return patient
    notice = None
    if depose is not None:
        notice = _t(request, "Le document a été déposé dans l’espace santé du patient.")
    elif supprime is not None:
        notice = _t(request, "Le document a été supprimé.")
    elif urgence is not None:
        notice = _t(
            request,
            "Accès en urgence ouvert : il est tracé, limité dans le temps, en lecture seule, et "
            "le patient en est informé.",
        )
    status = 403 if patient.extra.get("refused") else 200
    return _documents_page(request, pro, patient, notice=notice, status_code=status)


def _content(
    session: Session,
    settings: Settings,
    principal: Principal,
    context_id: str,
    ref: str,
    document_id: str,
    now: datetime,
) -> tuple[bytes, doc_schemas.DocumentOut]:
    space = _space_of(session, principal, context_id, ref, now)
    content = documents_service.content(session, settings, principal, space, document_id, now=now)
    return content.data, content.document


@router.get(
    PATIENT + "/{context_id}/{ref}/documents/{document_id}",
    response_class=Response,
    response_model=None,
)
async def document_content(
    request: Request, uow: UnitOfWorkDep, context_id: str, ref: str, document_id: str
) -> Response:
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    try:
        data, doc = await uow.run(
            _content,
            _settings(request),
            pro_principal(pro),
            context_id,
            ref,
            document_id[:64],
            datetime.now(UTC),
        )
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)
    except (Forbidden, NotFound):
        return render(
            request,
            "pro/patient_gone.html",
            {
                "title": _t(request, "Document introuvable"),
                "text": _t(
                    request,
                    "Ce document n’existe pas ou ne vous est pas accessible dans l’espace santé "
                    "de ce patient.",
                ),
                "back": f"{_base(context_id, ref)}/documents",
            },
            status_code=404,
        )
    filename = doc.filename or f"{doc.id}"
    return Response(
        data,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


def _upload(
    session: Session,
    settings: Settings,
    principal: Principal,
    context_id: str,
    ref: str,
    meta: doc_schemas.DocumentMetadata,
    data: bytes,
    filename: str | None,
    now: datetime,
) -> None:
    documents_service.create(
        session,
        settings,
        principal,
        _space_of(session, principal, context_id, ref, now),
        meta,
        data,
        "application/pdf",
        filename,
        now=now,
    )


async def _refresh(
    request: Request,
    uow: UnitOfWorkDep,
    pro: ProSession,
    context_id: str,
    ref: str,
    *,
    status_code: int,
    **values: Any,
) -> Response:
    """The documents page again, after a refused upload, deletion or emergency access."""
    patient = await _patient_documents(request, uow, pro, context_id, ref)
    if isinstance(patient, Response):
        return patient
    return _documents_page(request, pro, patient, status_code=status_code, **values)


@router.post(PATIENT + "/{context_id}/{ref}/documents", response_model=None)
async def document_upload(
    request: Request,
    uow: UnitOfWorkDep,
    context_id: str,
    ref: str,
    file: Annotated[UploadFile | None, File()] = None,
    class_code: Annotated[str, Form(max_length=16)] = "",
    type_code: Annotated[str, Form(max_length=32)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    act_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    settings = _settings(request)
    form = {"class_code": class_code, "type_code": type_code, "title": title, "act_date": act_date}

    async def problem(message: str, status_code: int = 422) -> Response:
        return await _refresh(
            request, uow, pro, context_id, ref, status_code=status_code,
            upload_error=_t(request, message), form=form,
        )  # fmt: skip

    if file is None or not file.filename:
        return await problem(NOT_A_PDF)
    name = file.filename.lower()
    if not name.endswith(".pdf") and file.content_type != "application/pdf":
        return await problem(NOT_A_PDF, 415)
    try:
        meta = doc_schemas.DocumentMetadata(
            class_code=class_code,
            type_code=type_code,
            title=title,
            act_date=date.fromisoformat(act_date) if act_date else None,
        )
    except (ValidationError, ValueError):
        return await problem(FIELDS_MISSING)
    data = await file.read(settings.document_max_bytes + 1)
    if len(data) > settings.document_max_bytes:
        return await problem(UPLOAD_PROBLEMS["document_too_large"], 413)
    try:
        await uow.run(
            _upload, settings, pro_principal(pro), context_id, ref, meta, data,
            file.filename[:255], datetime.now(UTC),
        )  # fmt: skip
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)
    except AppError as exc:
        log.info("web_pro_upload_refused", code=exc.code)
        message = UPLOAD_PROBLEMS.get(exc.code) or SPACE_REFUSALS.get(exc.code) or UPLOAD_FAILED
        return await problem(message, exc.status_code)
    return _go(request, f"{_base(context_id, ref)}/documents?depose=1")


def _delete(
    session: Session,
    settings: Settings,
    principal: Principal,
    context_id: str,
    ref: str,
    document_id: str,
    now: datetime,
) -> None:
    space = _space_of(session, principal, context_id, ref, now)
    documents_service.delete(session, settings, principal, space, document_id, now=now)


@router.post(PATIENT + "/{context_id}/{ref}/documents/{document_id}/suppression",
             response_model=None)  # fmt: skip
async def document_delete(
    request: Request, uow: UnitOfWorkDep, context_id: str, ref: str, document_id: str
) -> Response:
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    try:
        await uow.run(
            _delete, _settings(request), pro_principal(pro), context_id, ref, document_id[:64],
            datetime.now(UTC),
        )  # fmt: skip
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)
    except AppError as exc:
        log.info("web_pro_delete_refused", code=exc.code)
        return await _refresh(
            request, uow, pro, context_id, ref, status_code=exc.status_code,
            delete_error=_t(request, DELETE_REFUSED),
        )  # fmt: skip
    return _go(request, f"{_base(context_id, ref)}/documents?supprime=1")


def _break_glass(
    session: Session,
    principal: Principal,
    context_id: str,
    ref: str,
    body: EmergencyAccessCreate,
    now: datetime,
) -> None:
    space = _space_of(session, principal, context_id, ref, now)
    access_service.open_emergency_access(session, principal, space, body, now=now)


@router.post(PATIENT + "/{context_id}/{ref}/acces-urgence", response_model=None)
async def break_glass(
    request: Request,
    uow: UnitOfWorkDep,
    context_id: str,
    ref: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    pro = _signed_in(request)
    if pro is None:
        return _not_signed_in()
    try:
        body = EmergencyAccessCreate(reason=reason.strip(), kind="emergency")
    except ValidationError:
        return await _refresh(
            request, uow, pro, context_id, ref, status_code=422,
            reason_error=_t(request, REASON_MISSING), reason=reason[:500],
        )  # fmt: skip
    try:
        await uow.run(_break_glass, pro_principal(pro), context_id, ref, body, datetime.now(UTC))
    except CONTEXT_ERRORS as exc:
        return _context_problem(request, exc)
    except AppError as exc:
        log.info("web_pro_break_glass_refused", code=exc.code)
        return await _refresh(
            request, uow, pro, context_id, ref, status_code=exc.status_code,
            reason_error=_t(request, SPACE_REFUSALS.get(exc.code, SPACE_REFUSED)),
        )  # fmt: skip
    return _go(request, f"{_base(context_id, ref)}/documents?urgence=1")
