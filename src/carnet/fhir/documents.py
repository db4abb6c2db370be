"""FHIR R4 documents for professional software (scope ``dmp``), MHD-like.

- ``POST /fhir/DocumentReference``: a DocumentReference whose ``content[0].attachment`` carries
  the document inline (``data``, base64) with its ``contentType``; ``subject`` is
  ``Patient/{register id}`` or an INS identifier (``urn:oid:1.2.250.1.213.1.4.8|NIR``);
  ``type`` is the typeCode, ``category`` the classCode, ``description`` the title,
  ``context.period.start`` the date of the act, ``securityLabel`` the DMP visibility codes
  (TRE_A07: ``MASQUE_PS``, ``INVISIBLE_PATIENT``, ``INVISIBLE_REPRESENTANTS_LEGAUX``), and
  ``relatesTo`` (``replaces`` → ``DocumentReference/{id}``) makes it a new version.
- ``GET /fhir/DocumentReference?patient=…|patient.identifier=…&type=…&category=…&date=…&status=…``
- ``GET /fhir/DocumentReference/{id}``, ``GET /fhir/Binary/{id}`` (the content).

Thin handlers over ``documents.service`` (which asks ``access.service.authorize``); errors are
``AppError``s rendered as OperationOutcome by ``carnet.errors``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import DmpUse, SessionDep
from carnet.documents import schemas
from carnet.documents.codes import CLASS_CODES, TYPE_CODES, Code
from carnet.documents.endpoints import content_response
from carnet.documents.service import documents_service
from carnet.exceptions import BadRequest, NotFound
from carnet.fhir.capability import DOCUMENT_SEARCH_PARAMS
from carnet.fhir.outcomes import PayloadTooLarge, UnsupportedMediaType, invalid_resource, located
from carnet.fhir.router import MediaType, PreferHeader, SearchParams, fhir_response
from carnet.fhir.search import (
    DateBounds,
    check_parameters,
    match_entry,
    parse_count,
    parse_date,
    parse_token,
    prefers_lenient,
    single,
    split_or,
)
from carnet.fhir.space_support import fhir_base, paged_searchset
from carnet.fhir.systems import FHIR_JSON, KIND_BY_SYSTEM
from carnet.identity.service import find_entry_by_identifier
from carnet.kit.rest import ProfessionalRpps as RppsHeader

router = APIRouter(prefix="/fhir", tags=["fhir"])

SYSTEM_VISIBILITY = "urn:oid:1.2.250.1.213.1.1.4.13"  # TRE_A07 StatutVisibiliteDocument
VISIBILITY_CODES = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
PAGE_DEFAULT = 50
PAGE_MAX = 200
_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}


def _coding(code: str, table: dict[str, Code]) -> dict[str, Any]:
    known = table.get(code)
    if known is None:
        return {"code": code}
    return {"system": known.system, "code": code, "display": known.label}


def document_reference(document: schemas.DocumentOut, base: str) -> dict[str, Any]:
    """A DocumentReference for a document's metadata (R4, MHD-like)."""
    labels = [
        code
        for code, on in zip(
            VISIBILITY_CODES,
            (
                document.visibility.hidden_from_professionals,
                document.visibility.invisible_to_patient,
                document.visibility.hidden_from_legal_representatives,
            ),
            strict=True,
        )
        if on
    ]
    attachment: dict[str, Any] = {
        "contentType": document.content_type,
        "url": f"{base}/Binary/{document.id}",
        "size": document.size,
        "title": document.filename or document.title,
        "creation": document.created_at.isoformat(),
    }
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": document.id,
        "meta": {
            "versionId": str(document.version),
            "lastUpdated": document.created_at.isoformat(),
        },
        "identifier": [
            {"system": "urn:carnet:document-set", "value": document.set_id},
            {"system": "urn:carnet:sha256", "value": document.sha256},
        ],
        "status": "current" if document.status == "current" else "superseded",
        "type": {"coding": [_coding(document.type_code, TYPE_CODES)]},
        "category": [{"coding": [_coding(document.class_code, CLASS_CODES)]}],
        "subject": {"reference": f"Patient/{document.person_id}"},
        "date": document.created_at.isoformat(),
        "author": [{"display": document.author.label}],
        "description": document.title,
        "content": [{"attachment": attachment}],
    }
    if labels:
        resource["securityLabel"] = [
            {"coding": [{"system": SYSTEM_VISIBILITY, "code": code}]} for code in labels
        ]
    if document.act_date is not None:
        resource["context"] = {"period": {"start": document.act_date.isoformat()}}
    return resource


# -- create ----------------------------------------------------------------------------------------


async def document_body(request: Request) -> Any:
    """The request body as JSON (read here, so that the handler can run in a worker thread)."""
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported: send "
            "application/fhir+json (or application/json)"
        )
    # base64 makes a document 4/3 larger; leave room for the metadata.
    limit = settings.document_max_bytes * 4 // 3 + 64 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the request body is larger than {limit} bytes (documents are limited to "
            f"{settings.document_max_bytes} bytes)"
        )
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc}", code="malformed_json"
        ) from exc


def _first_code(value: Any, path: str) -> str:
    codings = value.get("coding") if isinstance(value, dict) else None
    if not codings or not isinstance(codings, list) or not codings[0].get("code"):
        raise located(
            BadRequest(f"{path}: a coding with a code is required", code="invalid_resource"),
            path,
        )
    return str(codings[0]["code"])


def _subject(session: SessionDep, principal: DmpUse, subject: Any) -> str:
    if not isinstance(subject, dict):
        raise located(
            BadRequest(
                "DocumentReference.subject is required (the patient)", code="invalid_resource"
            ),
            "DocumentReference.subject",
        )
    reference = subject.get("reference")
    if isinstance(reference, str) and reference:
        kind, _, ident = reference.rpartition("/")
        if kind.rsplit("/", 1)[-1] != "Patient" or not ident.isdigit() or len(ident) > 18:
            raise located(
                BadRequest(
                    f"DocumentReference.subject.reference {reference!r}: expected "
                    "Patient/{register id}",
                    code="invalid_resource",
                ),
                "DocumentReference.subject.reference",
            )
        return ident
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and identifier.get("value"):
        ins_kind = KIND_BY_SYSTEM.get(str(identifier.get("system", "")))
        if ins_kind is None:
            raise located(
                BadRequest(
                    "DocumentReference.subject.identifier.system: expected an INS system "
                    f"({', '.join(KIND_BY_SYSTEM)})",
                    code="invalid_resource",
                ),
                "DocumentReference.subject.identifier.system",
            )
        entry = find_entry_by_identifier(
            session,
            principal,
            str(identifier["value"]),
            kind=ins_kind,
            field="DocumentReference.subject.identifier.value",
        )
        if entry is None:
            raise NotFound("no health space for this patient", code="unknown_space")
        return str(entry.person_id)
    raise located(
        BadRequest(
            "DocumentReference.subject: give reference Patient/{id} or an INS identifier",
            code="invalid_resource",
        ),
        "DocumentReference.subject",
    )


def _act_date(resource: dict[str, Any]) -> date | None:
    start = ((resource.get("context") or {}).get("period") or {}).get("start")
    if not start:
        return None
    try:
        return date.fromisoformat(str(start)[:10])
    except ValueError as exc:
        raise located(
            BadRequest(f"context.period.start {start!r} is not a date", code="invalid_resource"),
            "DocumentReference.context.period.start",
        ) from exc


def _replaces(resource: dict[str, Any]) -> str | None:
    for relation in resource.get("relatesTo") or []:
        if relation.get("code") == "replaces":
            reference = str((relation.get("target") or {}).get("reference", ""))
            kind, _, ident = reference.rpartition("/")
            if kind.rsplit("/", 1)[-1] != "DocumentReference" or not ident:
                raise located(
                    BadRequest(
                        f"relatesTo.target.reference {reference!r}: expected "
                        "DocumentReference/{id}",
                        code="invalid_resource",
                    ),
                    "DocumentReference.relatesTo.target.reference",
                )
            return ident
    return None


DocumentBody = Annotated[Any, Depends(document_body)]


@router.post("/DocumentReference", status_code=201, summary="Add a document to a health space")
def create_document_reference(
    request: Request,
    principal: DmpUse,
    session: SessionDep,
    media_type: MediaType,
    resource: DocumentBody,
    rpps: RppsHeader = None,
) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
        raise BadRequest("the body must be a DocumentReference resource", code="invalid_resource")
    from fhir.resources.R4B.documentreference import DocumentReference

    try:
        DocumentReference.model_validate(resource)
    except ValidationError as exc:
        raise invalid_resource(exc.errors(), root="DocumentReference") from exc
    if resource.get("status") != "current":
        raise located(
            BadRequest(
                f"status {resource.get('status')!r}: a new DocumentReference is 'current' "
                "(replace one with relatesTo, delete with the REST API)",
                code="invalid_resource",
            ),
            "DocumentReference.status",
        )
    contents = resource.get("content") or []
    attachment = (contents[0] or {}).get("attachment") or {}
    if not attachment.get("data"):
        raise located(
            BadRequest(
                "content[0].attachment.data is required: send the document inline (base64)",
                code="invalid_resource",
            ),
            "DocumentReference.content[0].attachment.data",
        )
    try:
        data = base64.b64decode(str(attachment["data"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise located(
            BadRequest("content[0].attachment.data is not valid base64", code="invalid_resource"),
            "DocumentReference.content[0].attachment.data",
        ) from exc
    labels = {
        str(c.get("code"))
        for label in resource.get("securityLabel") or []
        for c in (label.get("coding") or [])
    }
    unknown = sorted(labels - set(VISIBILITY_CODES))
    if unknown:
        raise located(
            BadRequest(
                f"securityLabel {unknown[0]!r} is not a DMP visibility code "
                f"({', '.join(VISIBILITY_CODES)})",
                code="invalid_resource",
            ),
            "DocumentReference.securityLabel",
        )
    title = resource.get("description") or attachment.get("title")
    try:
        meta = schemas.DocumentMetadata(
            class_code=_first_code(
                (resource.get("category") or [None])[0], "DocumentReference.category"
            ),
            type_code=_first_code(resource.get("type"), "DocumentReference.type"),
            title=str(title or ""),
            act_date=_act_date(resource),
            author=((resource.get("author") or [{}])[0] or {}).get("display"),
            hidden_from_professionals="MASQUE_PS" in labels,
            invisible_to_patient="INVISIBLE_PATIENT" in labels,
            hidden_from_legal_representatives="INVISIBLE_REPRESENTANTS_LEGAUX" in labels,
        )
    except ValidationError as exc:
        problems = [
            {
                "field": "DocumentReference.description"
                if e["loc"] == ("title",)
                else f"DocumentReference.{'.'.join(str(p) for p in e['loc'])}",
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        raise BadRequest(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems),
            code="invalid_resource",
            details=problems,
        ) from exc
    replaces = _replaces(resource)
    now = utcnow()
    if replaces is not None:
        document = documents_service.add_version(
            session,
            settings,
            principal,
            None,
            replaces,
            meta,
            data,
            attachment.get("contentType"),
            attachment.get("title"),
            now=now,
            professional_rpps=rpps,
        )
    else:
        person_ref = _subject(session, principal, resource.get("subject"))
        document = documents_service.create(
            session,
            settings,
            principal,
            person_ref,
            meta,
            data,
            attachment.get("contentType"),
            attachment.get("title"),
            now=now,
            professional_rpps=rpps,
        )
    base = fhir_base(request)
    response = fhir_response(document_reference(document, base), media_type, status_code=201)
    response.headers["Location"] = (
        f"{base}/DocumentReference/{document.id}/_history/{document.version}"
    )
    return response


# -- read and search -------------------------------------------------------------------------------


@router.get("/DocumentReference/{document_id}", summary="Read a DocumentReference")
def read_document_reference(
    document_id: str,
    request: Request,
    principal: DmpUse,
    session: SessionDep,
    media_type: MediaType,
    rpps: RppsHeader = None,
) -> JSONResponse:
    document = documents_service.get(
        session, principal, None, document_id, now=utcnow(), professional_rpps=rpps
    )
    return fhir_response(document_reference(document, fhir_base(request)), media_type)


@router.get("/Binary/{document_id}", summary="A document's content")
def read_binary(
    document_id: str,
    request: Request,
    principal: DmpUse,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> Response:
    content = documents_service.content(
        session,
        request.app.state.settings,
        principal,
        None,
        document_id,
        now=utcnow(),
        professional_rpps=rpps,
    )
    accept = request.headers.get("accept", "")
    if FHIR_JSON in accept or request.query_params.get("_format") in ("json", FHIR_JSON):
        return fhir_response(
            {
                "resourceType": "Binary",
                "id": content.document.id,
                "contentType": content.document.content_type,
                "data": base64.b64encode(content.data).decode(),
            },
            FHIR_JSON,
        )
    return content_response(content.data, content.document)


def _patient_ref(session: SessionDep, principal: DmpUse, used: list[tuple[str, str]]) -> str:
    patient = single(used, "patient") or single(used, "subject")
    identifier = single(used, "patient.identifier")
    if patient is not None:
        ident = patient.rsplit("/", 1)[-1].strip()
        if not ident.isdigit() or len(ident) > 18:
            raise located(
                BadRequest(
                    f"patient: {patient!r} is not a Patient id", code="invalid_search_parameter"
                ),
                "patient",
            )
        return ident
    if identifier is not None:
        system, value = parse_token(identifier)
        kind = KIND_BY_SYSTEM.get(system or "") if system else None
        if system and kind is None:
            raise located(
                BadRequest(
                    f"patient.identifier: {system!r} is not an INS system "
                    f"({', '.join(KIND_BY_SYSTEM)})",
                    code="invalid_search_parameter",
                ),
                "patient.identifier",
            )
        entry = find_entry_by_identifier(
            session, principal, value, kind=kind, field="patient.identifier"
        )
        if entry is None:
            raise NotFound("no health space for this patient", code="unknown_space")
        return str(entry.person_id)
    raise located(
        BadRequest(
            "a DocumentReference search needs patient or patient.identifier",
            code="search_too_broad",
        ),
        "patient",
    )


def _codes(used: list[tuple[str, str]], name: str) -> list[str]:
    codes: list[str] = []
    for n, value in used:
        if n == name:
            codes += [parse_token(v)[1] for v in split_or(value)]
    return codes


@router.get("/DocumentReference", summary="Search a patient's DocumentReferences")
def search_document_references(
    request: Request,
    params: SearchParams,
    principal: DmpUse,
    session: SessionDep,
    media_type: MediaType,
    prefer: PreferHeader = None,
    rpps: RppsHeader = None,
) -> JSONResponse:
    used = check_parameters(params, DOCUMENT_SEARCH_PARAMS, lenient=prefers_lenient(prefer))
    count = parse_count(single(used, "_count"), default=PAGE_DEFAULT, maximum=PAGE_MAX)
    offset = parse_count(single(used, "_offset"), default=0, maximum=1_000_000, name="_offset")
    person_ref = _patient_ref(session, principal, used)
    bounds = DateBounds()
    for n, value in used:
        if n == "date":
            bounds = bounds.narrow(parse_date(value))
    statuses = []
    for status in _codes(used, "status"):
        if status not in ("current", "superseded"):
            raise located(
                BadRequest(
                    f"status: {status!r} is not searchable (current, superseded)",
                    code="invalid_search_parameter",
                ),
                "status",
            )
        statuses.append(status)
    query = schemas.DocumentQuery(
        class_codes=_codes(used, "category"),
        type_codes=_codes(used, "type"),
        created_from=bounds.start,
        created_before=bounds.end,
        statuses=statuses or ["current"],
        offset=offset,
        limit=max(count, 1),
    )
    page = documents_service.search(
        session, principal, person_ref, query, now=utcnow(), professional_rpps=rpps
    )
    base = fhir_base(request)
    entries = [
        match_entry(f"{base}/DocumentReference/{d.id}", document_reference(d, base))
        for d in (page.items if count > 0 else [])
    ]
    more = page.next_offset is not None and count > 0
    bundle = paged_searchset(
        base, "DocumentReference", used, entries, total=None,
        page_param="_offset", next_value=str(page.next_offset) if more else None,
    )  # fmt: skip
    return fhir_response(bundle, media_type)
