"""Holder REST API of the medical profile: /api/v1/spaces/{person}/profile.

``{person}`` is ``me`` or a register person id (a child, a relative who gave access, a
professional's patient); ``{resource_type}`` a FHIR type of the profile (Condition, Procedure,
Encounter, MedicationStatement, AllergyIntolerance, Immunization, Observation, Consent,
RelatedPerson). Bodies and answers are FHIR R4 JSON; updates name the version they replace
(``If-Match: W/"3"``). Who may do what is decided by ``access.service.authorize``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.exceptions import AppError, BadRequest
from carnet.kit.rest import ProfessionalRpps as RppsHeader
from carnet.profile import schemas
from carnet.profile.repository import Filters
from carnet.profile.service import check_type, parse_version_id, profile_service

router = APIRouter(tags=["profile"])
PREFIX = "/api/v1/spaces/{person}/profile"
# Advance directives may carry a PDF (base64): room for a few pages, not for a scan archive.
MAX_BODY_BYTES = 2 * 1024 * 1024
_JSON_TYPES = {"application/json", "application/fhir+json"}

IfMatch = Annotated[str | None, Header(alias="if-match", description='W/"<version>"')]

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "No access to this space (space_access_denied…), or a professional "
          "trying to write (profile_read_only)"},
    404: {"description": "Unknown space, resource type or resource"},
}  # fmt: skip


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r}: send application/json or "
            "application/fhir+json"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {str(exc)[:200]}", code="malformed_json"
        ) from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


JsonBody = Annotated[Any, Depends(json_body)]


def parse_if_match(value: str | None) -> int | None:
    """``W/"3"``, ``"3"`` or ``3`` → 3."""
    if value is None:
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value, re.ASCII)
    if match is None:
        raise BadRequest(
            f'If-Match: {value[:40]!r} is not a version of this server (expected W/"<version>")',
            code="invalid_if_match",
            details=[{"field": "If-Match", "message": 'expected W/"<version>"'}],
        )
    return int(match[1])


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def version_headers(stored: schemas.StoredResource) -> dict[str, str]:
    """``ETag`` and ``Last-Modified`` of a resource version (REST and FHIR reads)."""
    return {"ETag": stored.etag, "Last-Modified": http_date(stored.recorded_at)}


def resource_response(
    stored: schemas.StoredResource,
    *,
    status_code: int = 200,
    location: str | None = None,
    media_type: str = "application/json",
) -> JSONResponse:
    headers = {**version_headers(stored), "Cache-Control": "no-store"}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(
        stored.resource, status_code=status_code, headers=headers, media_type=media_type
    )


def _history_entry(stored: schemas.StoredResource) -> schemas.HistoryEntry:
    return schemas.HistoryEntry(
        version=stored.version,
        deleted=stored.deleted,
        recorded_at=stored.recorded_at,
        author=stored.author,
        resource=stored.resource,
    )


def _token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, _, code = value.partition("|")
        return (system.strip() or None), code.strip()
    return None, value.strip()


@router.get(
    PREFIX,
    response_model=schemas.ProfileSummary,
    summary="The medical profile grouped for display: history, treatments, allergies, "
    "vaccinations, latest measurements, advance directives, contacts",
    responses=_ERRORS,
)
def read_summary(
    person: str, principal: SpaceCaller, session: SessionDep, rpps: RppsHeader = None
) -> schemas.ProfileSummary:
    return profile_service.summary(session, principal, person, now=utcnow(), professional_rpps=rpps)


@router.post(
    f"{PREFIX}/{{resource_type}}",
    status_code=201,
    summary="Add a FHIR resource to the profile (answers it with its id, ETag and Location)",
    responses={**_ERRORS, 422: {"description": "invalid_resource: each problem located"}},
)
def create_resource(
    person: str,
    resource_type: str,
    principal: SpaceCaller,
    session: SessionDep,
    body: JsonBody,
    request: Request,
    rpps: RppsHeader = None,
) -> JSONResponse:
    stored = profile_service.create(
        session, principal, person, resource_type, body, now=utcnow(), professional_rpps=rpps
    )
    location = str(request.url).rstrip("/") + f"/{stored.public_id}"
    return resource_response(stored, status_code=201, location=location)


@router.get(
    f"{PREFIX}/{{resource_type}}",
    response_model=schemas.ResourceList,
    summary="The profile's resources of one type, most recent first",
    responses=_ERRORS,
)
def list_resources(
    person: str,
    resource_type: str,
    principal: SpaceCaller,
    session: SessionDep,
    category: Annotated[str | None, Query(max_length=64)] = None,
    code: Annotated[str | None, Query(max_length=200, description="system|code or code")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    rpps: RppsHeader = None,
) -> schemas.ResourceList:
    check_type(resource_type)
    filters = Filters(
        categories=(category,) if category else None,
        codes=(_token(code),) if code else None,
    )
    page = profile_service.search(
        session,
        principal,
        person,
        resource_type,
        filters,
        now=utcnow(),
        professional_rpps=rpps,
        limit=limit,
        offset=offset,
    )
    return schemas.ResourceList(
        resource_type=resource_type,
        total=page.total,
        items=[s.resource for s in page.items if s.resource is not None],
    )


@router.get(
    f"{PREFIX}/{{resource_type}}/{{resource_id}}",
    summary="One resource (current version; 410 once deleted)",
    responses=_ERRORS,
)
def read_resource(
    person: str,
    resource_type: str,
    resource_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> JSONResponse:
    stored = profile_service.read(
        session, principal, person, resource_type, resource_id, now=utcnow(), professional_rpps=rpps
    )
    return resource_response(stored)


@router.put(
    f"{PREFIX}/{{resource_type}}/{{resource_id}}",
    summary='Replace a resource by a new version (If-Match: W/"<version>"; 409 when stale)',
    responses={
        **_ERRORS,
        409: {"description": "version_conflict: someone changed it since that version"},
        422: {"description": "invalid_resource: each problem located"},
        428: {"description": "version_required: If-Match (or meta.versionId) missing"},
    },
)
def update_resource(
    person: str,
    resource_type: str,
    resource_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    body: JsonBody,
    if_match: IfMatch = None,
    rpps: RppsHeader = None,
) -> JSONResponse:
    stored = profile_service.update(
        session,
        principal,
        person,
        resource_type,
        resource_id,
        body,
        if_match=parse_if_match(if_match),
        now=utcnow(),
        professional_rpps=rpps,
    )
    return resource_response(stored)


@router.delete(
    f"{PREFIX}/{{resource_type}}/{{resource_id}}",
    status_code=204,
    summary="Delete a resource (its history is kept; If-Match optional)",
    responses={**_ERRORS, 409: {"description": "version_conflict"}},
)
def delete_resource(
    person: str,
    resource_type: str,
    resource_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    if_match: IfMatch = None,
    rpps: RppsHeader = None,
) -> Response:
    profile_service.delete(
        session,
        principal,
        person,
        resource_type,
        resource_id,
        if_match=parse_if_match(if_match),
        now=utcnow(),
        professional_rpps=rpps,
    )
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.get(
    f"{PREFIX}/{{resource_type}}/{{resource_id}}/_history",
    response_model=schemas.History,
    summary="Every version of a resource, newest first (deletions included)",
    responses=_ERRORS,
)
def read_history(
    person: str,
    resource_type: str,
    resource_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> schemas.History:
    versions = profile_service.history(
        session, principal, person, resource_type, resource_id, now=utcnow(), professional_rpps=rpps
    )
    return schemas.History(
        resource_type=resource_type,
        id=resource_id,
        versions=[_history_entry(v) for v in versions],
    )


@router.get(
    f"{PREFIX}/{{resource_type}}/{{resource_id}}/_history/{{version}}",
    summary="One version of a resource (410 for the version that deleted it)",
    responses=_ERRORS,
)
def read_version(
    person: str,
    resource_type: str,
    resource_id: str,
    version: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> JSONResponse:
    number = parse_version_id(version, resource_type, resource_id)
    (stored,) = profile_service.history(
        session,
        principal,
        person,
        resource_type,
        resource_id,
        now=utcnow(),
        professional_rpps=rpps,
        version=number,
    )
    return resource_response(stored)
