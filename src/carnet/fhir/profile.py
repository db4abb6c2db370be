"""FHIR R4 read access to the medical profile of health spaces (professional software, scope dmp).

For each profile type (Condition, Procedure, Encounter, MedicationStatement, AllergyIntolerance,
Immunization, Observation, Consent, RelatedPerson), and only those (DocumentReference and Binary
are the documents' routes, Patient and AuditEvent the register's and the trail's):

- ``GET /fhir/{Type}?patient=Patient/{id}`` or
  ``?patient.identifier=urn:oid:1.2.250.1.213.1.4.8|{NIR}``: a searchset Bundle (one patient per
  search; with ``_id``, ``category``, ``code``, ``date``, ``_count``, ``_offset``);
- ``GET /fhir/{Type}/{id}``, ``GET /fhir/{Type}/{id}/_history``,
  ``GET /fhir/{Type}/{id}/_history/{vid}``.

Who may read is decided by ``access.service.authorize`` through the profile service (each
access recorded); a holder's token works too (their own space). The profile is written through
the holder's REST API only. Errors are OperationOutcomes (``carnet.errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.exceptions import BadRequest
from carnet.fhir.capability import (
    PROFILE_CODE_PARAMS,
    PROFILE_DATE_PARAMS,
    PROFILE_SEARCH_PARAMS,
)
from carnet.fhir.outcomes import located
from carnet.fhir.router import (
    MediaType,
    PreferHeader,
    SearchParams,
    fhir_response,
    patient_reference,
)
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
from carnet.fhir.systems import KIND_BY_SYSTEM
from carnet.identity.service import find_entry_by_identifier
from carnet.kit.rest import ProfessionalRpps as RppsHeader
from carnet.profile.codes import RESOURCE_TYPES
from carnet.profile.endpoints import version_headers
from carnet.profile.repository import Filters
from carnet.profile.schemas import StoredResource
from carnet.profile.service import parse_version_id, profile_service

router = APIRouter(prefix="/fhir", tags=["fhir profile"])

PAGE_DEFAULT = 50
PAGE_MAX = 200
MAX_OFFSET = 100_000


def _read_response(stored: StoredResource, media_type: str) -> JSONResponse:
    response = fhir_response(stored.resource or {}, media_type)
    response.headers.update(version_headers(stored))
    return response


def _patient_ref(value: str, name: str) -> str:
    """``Patient/12``, ``12`` or ``…/Patient/12`` → ``"12"`` (the service resolves the space)."""
    key = patient_reference(value, name)  # the Patient search's parsing (fhir.router)
    if key is None:
        raise located(
            BadRequest(f"{name}: {value!r} is not a Patient id", code="invalid_search_parameter"),
            name,
        )
    return str(key)


def _patient_by_identifier(
    value: str, name: str, request_principal: Any, session: Any
) -> str | None:
    system, matricule = parse_token(value)
    if not system or system not in KIND_BY_SYSTEM or not matricule:
        raise located(
            BadRequest(
                f"{name}: expected the INS, {', '.join(KIND_BY_SYSTEM)}|matricule",
                code="invalid_search_parameter",
            ),
            name,
        )
    entry = find_entry_by_identifier(
        session, request_principal, matricule, kind=KIND_BY_SYSTEM[system], field=name
    )
    return str(entry.person_id) if entry is not None else None


def _search(
    resource_type: str,
    request: Request,
    params: list[tuple[str, str]],
    prefer: str | None,
    principal: Any,
    session: Any,
    media_type: str,
    rpps: str | None,
) -> JSONResponse:
    used = check_parameters(
        params, PROFILE_SEARCH_PARAMS[resource_type], lenient=prefers_lenient(prefer)
    )
    count = parse_count(single(used, "_count"), default=PAGE_DEFAULT, maximum=PAGE_MAX)
    offset = parse_count(single(used, "_offset"), default=0, maximum=MAX_OFFSET, name="_offset")
    patients = [(n, v) for n, v in used if n in ("patient", "subject")]
    identifiers = [(n, v) for n, v in used if n.endswith(".identifier")]
    if len(patients) + len(identifiers) != 1 or any(
        len(split_or(v)) != 1 for _, v in patients + identifiers
    ):
        raise located(
            BadRequest(
                f"a {resource_type} search names one patient: patient=Patient/{{id}} or "
                "patient.identifier=urn:oid:1.2.250.1.213.1.4.8|{NIR}",
                code="search_needs_patient",
            ),
            "patient",
        )
    person_ref: str | None
    if patients:
        name, value = patients[0]
        person_ref = _patient_ref(value, name)
    else:
        name, value = identifiers[0]
        person_ref = _patient_by_identifier(value, name, principal, session)

    ids: list[str] = []
    categories: list[str] = []
    code_alternatives: list[tuple[str | None, str]] = []
    bounds = DateBounds()
    code_names = {"code", PROFILE_CODE_PARAMS.get(resource_type, "code")}
    date_names = {"date", PROFILE_DATE_PARAMS.get(resource_type, "date")}
    for name, value in used:
        if name == "_id":
            ids.extend(split_or(value))
        elif name == "category":
            categories.extend(parse_token(v)[1] for v in split_or(value))
        elif name in code_names:
            for alternative in split_or(value):
                system, code = parse_token(alternative)
                code_alternatives.append((system or None, code))
        elif name in date_names:
            bounds = bounds.narrow(parse_date(value, name=name))
    filters = Filters(
        public_ids=tuple(ids) if ids else None,
        categories=tuple(categories) if categories else None,
        codes=tuple(code_alternatives) if code_alternatives else None,
        effective_from=bounds.start,
        effective_before=bounds.end,
    )
    base = fhir_base(request)
    entries: list[dict[str, Any]] = []
    total = 0
    if person_ref is not None:
        page = profile_service.search(
            session,
            principal,
            person_ref,
            resource_type,
            filters,
            now=utcnow(),
            professional_rpps=rpps,
            limit=count,
            offset=offset,
        )
        total = page.total
        entries = [
            match_entry(f"{base}/{resource_type}/{s.public_id}", s.resource)
            for s in page.items
            if s.resource is not None
        ]
    more = offset + count < total and count > 0
    bundle = paged_searchset(
        base, resource_type, used, entries, total=total,
        page_param="_offset", next_value=str(offset + count) if more else None,
    )  # fmt: skip
    return fhir_response(bundle, media_type)


def _history_bundle(
    resource_type: str, public_id: str, versions: list[StoredResource], base: str
) -> dict[str, Any]:
    entries = []
    for stored in versions:
        url = f"{resource_type}/{public_id}"
        entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
        if stored.resource is not None:
            entry["resource"] = stored.resource
        method = "DELETE" if stored.deleted else ("POST" if stored.version == 1 else "PUT")
        entry["request"] = {"method": method, "url": resource_type if method == "POST" else url}
        entry["response"] = {
            "status": "204" if stored.deleted else ("201" if stored.version == 1 else "200"),
            "etag": stored.etag,
            "lastModified": stored.recorded_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        entries.append(entry)
    now = utcnow().isoformat(timespec="milliseconds")
    return {
        "resourceType": "Bundle",
        "type": "history",
        "meta": {"lastUpdated": now},
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{base}/{resource_type}/{public_id}/_history"}],
        "entry": entries,
    }


def _register(resource_type: str) -> None:
    """The four routes of one profile type (closures over ``resource_type``)."""

    def search(
        request: Request,
        principal: SpaceCaller,
        session: SessionDep,
        media_type: MediaType,
        params: SearchParams,
        prefer: PreferHeader = None,
        rpps: RppsHeader = None,
    ) -> JSONResponse:
        return _search(resource_type, request, params, prefer, principal, session, media_type, rpps)

    def read(
        resource_id: str,
        principal: SpaceCaller,
        session: SessionDep,
        media_type: MediaType,
        rpps: RppsHeader = None,
    ) -> JSONResponse:
        stored = profile_service.read(
            session, principal, None, resource_type, resource_id, now=utcnow(),
            professional_rpps=rpps,
        )  # fmt: skip
        return _read_response(stored, media_type)

    def history(
        resource_id: str,
        request: Request,
        principal: SpaceCaller,
        session: SessionDep,
        media_type: MediaType,
        rpps: RppsHeader = None,
    ) -> JSONResponse:
        versions = profile_service.history(
            session, principal, None, resource_type, resource_id, now=utcnow(),
            professional_rpps=rpps,
        )  # fmt: skip
        bundle = _history_bundle(resource_type, resource_id, versions, fhir_base(request))
        return fhir_response(bundle, media_type)

    def vread(
        resource_id: str,
        version_id: str,
        principal: SpaceCaller,
        session: SessionDep,
        media_type: MediaType,
        rpps: RppsHeader = None,
    ) -> JSONResponse:
        version = parse_version_id(version_id, resource_type, resource_id)
        (stored,) = profile_service.history(
            session, principal, None, resource_type, resource_id, now=utcnow(),
            professional_rpps=rpps, version=version,
        )  # fmt: skip
        return _read_response(stored, media_type)

    routes: list[tuple[str, Callable[..., JSONResponse], str]] = [
        (f"/{resource_type}", search, f"Search {resource_type} of one patient's profile"),
        (f"/{resource_type}/{{resource_id}}", read, f"Read a {resource_type} of a profile"),
        (
            f"/{resource_type}/{{resource_id}}/_history",
            history,
            f"History of a {resource_type} (every version, newest first)",
        ),
        (
            f"/{resource_type}/{{resource_id}}/_history/{{version_id}}",
            vread,
            f"Read one version of a {resource_type}",
        ),
    ]
    for path, endpoint, summary in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            summary=summary,
            operation_id=f"fhir_{resource_type}_{endpoint.__name__}",
        )


for _type in RESOURCE_TYPES:
    _register(_type)
