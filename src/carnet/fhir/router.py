"""FHIR R4 endpoints under /fhir: metadata, Patient (FR Core Patient-INS) and AuditEvent.

Thin handlers: the register and the audit trail are read through their services (every access
audited in the request's unit of work); this module parses FHIR requests and shapes answers.
Errors are ``AppError``s, rendered as OperationOutcome by ``carnet.errors``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from carnet.audit import get_audit_service
from carnet.audit.models import AuditEvent
from carnet.audit.repository import ActionClause
from carnet.audit.service import AuditQuery
from carnet.dependencies import AuditRead, IdentitiesRead, IdentitiesWrite, InsRead, SessionDep
from carnet.exceptions import AppError, BadRequest, NotFound
from carnet.fhir.capability import (
    AUDIT_SEARCH_PARAMS,
    LOCAL_PATIENT_SEARCH_PARAMS,
    PATIENT_SEARCH_PARAMS,
    capability_statement,
    local_capability_statement,
)
from carnet.fhir.operations.match import find_match, match_bundle, parse_match_request
from carnet.fhir.outcomes import NotAcceptable, PayloadTooLarge, UnsupportedMediaType, located
from carnet.fhir.resources.audit_event import (
    ACTION_CODES,
    INTERACTION_CODES,
    action_clauses_for_codes,
    action_clauses_for_interactions,
    audit_event_resource,
)
from carnet.fhir.resources.local_patient import (
    LOCAL_OFFSET_MAX,
    LOCAL_PAGE_DEFAULT,
    LOCAL_PAGE_MAX,
    Issue,
    local_patient_resource,
    parse_local_patient,
    parse_local_search,
    relabel_search_error,
    structure_base,
)
from carnet.fhir.resources.patient import patient_resource, validate_patient
from carnet.fhir.search import (
    DateBounds,
    Params,
    check_parameters,
    match_entry,
    parse_count,
    parse_date,
    parse_token,
    prefers_lenient,
    search_url,
    searchset,
    single,
    split_or,
)
from carnet.fhir.systems import CS_AUDIT_ACTION, CS_RESTFUL_INTERACTION, FHIR_JSON, KIND_BY_SYSTEM
from carnet.identity.service import RegisterEntry, find_entry_by_identifier, read_entry_by_id
from carnet.vigilance import schemas as vigilance_schemas
from carnet.vigilance.service import (
    create_identity,
    get_identity,
    search_identities,
    search_qualified_by_ins,
    vigilance_service,
)

router = APIRouter(prefix="/fhir", tags=["fhir"])

PARIS = ZoneInfo("Europe/Paris")
PATIENT_PAGE_MAX = 100
PATIENT_SEARCH_MAX_VALUES = PATIENT_PAGE_MAX  # identifiers or ids in one Patient search
MAX_STRUCTURE_ID = 2**31 - 1
AUDIT_PAGE_DEFAULT = 50
AUDIT_PAGE_MAX = 500
# A $match Parameters holds one Patient: a few kilobytes. Refuse bodies far larger than that.
MAX_BODY_BYTES = 256 * 1024

_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}
_FORMAT_ALIASES = {"json": FHIR_JSON, **{t: t for t in _JSON_TYPES}}


# -- content negotiation -------------------------------------------------------------------------


def response_media_type(request: Request) -> str:
    """The media type to answer with: JSON only (``_format`` overrides ``Accept``)."""
    requested = request.query_params.get("_format")
    if requested is not None:
        media = _FORMAT_ALIASES.get(requested.strip().lower().replace(" ", "+"))
        if media is None:
            raise located(
                NotAcceptable(
                    f"_format={requested!r} is not supported: this server produces JSON only "
                    "(_format=json or application/fhir+json)"
                ),
                "_format",
            )
        return FHIR_JSON if media != "application/json" else media
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return FHIR_JSON
    offered: list[str] = []
    for item in accept.split(","):
        media_range, *params = (part.strip().lower() for part in item.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        offered.append(media_range)
    if any(m in (FHIR_JSON, "application/json+fhir", "*/*", "application/*") for m in offered):
        return FHIR_JSON
    if "application/json" in offered:
        return "application/json"
    raise NotAcceptable(
        f"cannot answer with {accept[:120]!r}: this server produces application/fhir+json "
        "(or application/json)"
    )


MediaType = Annotated[str, Depends(response_media_type)]


def fhir_response(
    content: dict[str, Any], media_type: str, *, status_code: int = 200, private: bool = True
) -> JSONResponse:
    headers = {"Cache-Control": "no-store"} if private else None
    return JSONResponse(content, status_code=status_code, media_type=media_type, headers=headers)


async def fhir_json_body(request: Request) -> Any:
    """The request body as JSON; only application/fhir+json and application/json are read."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported: send "
            "application/fhir+json (or application/json)"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc}", code="malformed_json"
        ) from exc
    except RecursionError as exc:  # "[[[[…": nesting deeper than the parser's stack
        raise BadRequest(
            "the request body is not valid JSON: nested too deeply", code="malformed_json"
        ) from exc


def _refuse_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259), whatever Python accepts."""
    raise ValueError(f"{name} is not a JSON value")


async def search_parameters(request: Request) -> Params:
    """Query parameters, plus the form body of a ``POST …/_search``."""
    params: Params = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType(
                "POST _search takes application/x-www-form-urlencoded parameters"
            )
        form = await request.form()
        params += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return params


SearchParams = Annotated[Params, Depends(search_parameters)]
PreferHeader = Annotated[str | None, Header(alias="prefer")]


def _today() -> date:
    """Today in France: the day of an INSi-like answer (dateInterrogationINSi)."""
    return datetime.now(PARIS).date()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


# -- metadata ------------------------------------------------------------------------------------


@router.get("/metadata", summary="CapabilityStatement (no authentication)")
def metadata(request: Request, media_type: MediaType) -> JSONResponse:
    token_url = str(request.base_url).rstrip("/") + "/oauth2/token"
    return fhir_response(capability_statement(_base(request), token_url), media_type, private=False)


# -- Patient -------------------------------------------------------------------------------------


def _patient(entry: RegisterEntry) -> dict[str, Any]:
    resource = patient_resource(entry, retrieved_on=_today())
    # Structural validation on every answer (~0.2 ms, measured): never serve a malformed Patient.
    validate_patient(resource)
    return resource


def _numeric_id(raw: str) -> int | None:
    """A numeric resource id (person key, audit entry id), None when it cannot be one."""
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


@router.get("/Patient/{patient_id}", summary="Read a register identity (FR Core Patient-INS)")
def read_patient(
    patient_id: str, principal: InsRead, session: SessionDep, media_type: MediaType
) -> JSONResponse:
    entry = _by_id(patient_id, principal, session)
    if entry is None:
        raise NotFound(f"Patient/{patient_id} is not known", code="unknown_patient")
    return fhir_response(_patient(entry), media_type)


def _search_patients(
    request: Request,
    params: Params,
    prefer: str | None,
    principal: InsRead,
    session: SessionDep,
    media_type: str,
) -> JSONResponse:
    used = check_parameters(params, PATIENT_SEARCH_PARAMS, lenient=prefers_lenient(prefer))
    count = parse_count(single(used, "_count"), default=PATIENT_PAGE_MAX, maximum=PATIENT_PAGE_MAX)
    criteria = [(n, v) for n, v in used if n != "_count"]
    if not criteria:
        raise located(
            BadRequest(
                "a Patient search needs identifier or _id: the register cannot be listed",
                code="search_too_broad",
            ),
            "identifier",
        )
    # Each alternative is one audited register access: bound them, so that one request cannot
    # write thousands of audit entries (``_id=1,1,1,…``) or read the register in bulk.
    alternatives = [(name, list(dict.fromkeys(split_or(value)))) for name, value in criteria]
    if sum(len(values) for _, values in alternatives) > PATIENT_SEARCH_MAX_VALUES:
        widest = max(alternatives, key=lambda item: len(item[1]))[0]
        raise located(
            BadRequest(
                f"{widest}: at most {PATIENT_SEARCH_MAX_VALUES} identifiers or ids in one search",
                code="too_many_values",
            ),
            widest,
        )
    found: dict[int, RegisterEntry] | None = None
    for name, values in alternatives:  # repeated parameters: AND; commas inside one: OR
        matches: dict[int, RegisterEntry] = {}
        for alternative in values:
            entry = (
                _by_identifier(alternative, principal, session)
                if name == "identifier"
                else _by_id(alternative, principal, session)
            )
            if entry is not None:
                matches[entry.person_id] = entry
        found = matches if found is None else {k: v for k, v in found.items() if k in matches}
    results = sorted((found or {}).values(), key=lambda e: e.person_id)
    base = _base(request)
    entries = [
        match_entry(f"{base}/Patient/{entry.person_id}", _patient(entry))
        for entry in results[:count]
    ]
    bundle = searchset(
        self_url=search_url(base, "Patient", used), entries=entries, total=len(results)
    )
    return fhir_response(bundle, media_type)


def _by_identifier(value: str, principal: InsRead, session: SessionDep) -> RegisterEntry | None:
    system, matricule = parse_token(value)
    if not matricule:
        raise located(
            BadRequest(
                "identifier: a matricule is required (system|value); the register cannot be listed",
                code="invalid_search_parameter",
            ),
            "identifier",
        )
    if system == "":
        return None  # identifiers without a system: the register has none
    kind = None
    if system is not None:
        kind = KIND_BY_SYSTEM.get(system)
        if kind is None:
            return None  # another identifier system (test/demo OIDs, IPP…): nothing here
    return find_entry_by_identifier(session, principal, matricule, kind=kind)


def _by_id(value: str, principal: InsRead, session: SessionDep) -> RegisterEntry | None:
    person_id = _numeric_id(value)
    return read_entry_by_id(session, principal, person_id) if person_id is not None else None


@router.get("/Patient", summary="Search register identities by INS identifier or _id")
def search_patients_get(
    request: Request,
    principal: InsRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_patients(request, params, prefer, principal, session, media_type)


@router.post("/Patient/_search", summary="Search register identities (form-encoded)")
def search_patients_post(
    request: Request,
    principal: InsRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_patients(request, params, prefer, principal, session, media_type)


@router.post("/Patient/$match", summary="INSi-like lookup by traits (FHIR $match)")
def match_patient(
    request: Request,
    principal: InsRead,
    session: SessionDep,
    media_type: MediaType,
    body: Annotated[Any, Depends(fhir_json_body)],
) -> JSONResponse:
    match_request = parse_match_request(body)
    result = find_match(session, principal, match_request)
    base = _base(request)
    bundle = match_bundle(
        result,
        match_request,
        base=base,
        self_url=f"{base}/Patient/$match",
        retrieved_on=_today(),
    )
    for entry in bundle.get("entry", []):
        if entry["resource"]["resourceType"] == "Patient":
            validate_patient(entry["resource"])
    return fhir_response(bundle, media_type)


# -- AuditEvent ----------------------------------------------------------------------------------


@router.get("/AuditEvent/{event_id}", summary="Read one audit-trail entry")
def read_audit_event(
    event_id: str, principal: AuditRead, session: SessionDep, media_type: MediaType
) -> JSONResponse:
    key = _numeric_id(event_id)
    event = (
        get_audit_service().read_event(session, actor=principal.actor, event_id=key)
        if key is not None
        else None
    )
    if event is None:
        raise NotFound(f"AuditEvent/{event_id} is not known", code="unknown_audit_event")
    return fhir_response(audit_event_resource(event), media_type)


def patient_reference(value: str, name: str) -> int | None:
    """``Patient/12``, ``12`` or an absolute ``…/Patient/12`` → 12; None: matches nothing."""
    reference = value.strip()
    if "/" in reference:
        resource_type, _, key = reference.rstrip("/").rpartition("/")
        if resource_type.rsplit("/", 1)[-1] != "Patient":
            raise located(
                BadRequest(
                    f"{name}: {value!r} is not a Patient reference (Patient/{{id}})",
                    code="invalid_search_parameter",
                ),
                name,
            )
        reference = key
    return _numeric_id(reference)


def _action_param(value: str, name: str) -> tuple[ActionClause, ...]:
    clauses: list[ActionClause] = []
    for alternative in split_or(value):
        system, code = parse_token(alternative)
        if system == CS_AUDIT_ACTION or (system is None and "." in code):
            clauses.append(("in", (code,)))
        elif name == "action" and code in ACTION_CODES and system in (None, ""):
            clauses.extend(action_clauses_for_codes([code]))
        elif (
            name == "subtype"
            and code in INTERACTION_CODES
            and system
            in (
                None,
                CS_RESTFUL_INTERACTION,
            )
        ):
            clauses.extend(action_clauses_for_interactions([code]))
        else:
            expected = (
                f"{'|'.join(ACTION_CODES)} or a Carnet action such as person.read"
                if name == "action"
                else f"{', '.join(sorted(INTERACTION_CODES))} or a Carnet action"
            )
            raise located(
                BadRequest(
                    f"{name}: {alternative!r} is not supported (expected {expected})",
                    code="invalid_search_parameter",
                ),
                name,
            )
    return tuple(clauses)


def _search_audit(
    request: Request,
    params: Params,
    prefer: str | None,
    principal: AuditRead,
    session: SessionDep,
    media_type: str,
) -> JSONResponse:
    used = check_parameters(params, AUDIT_SEARCH_PARAMS, lenient=prefers_lenient(prefer))
    count = parse_count(single(used, "_count"), default=AUDIT_PAGE_DEFAULT, maximum=AUDIT_PAGE_MAX)
    total_mode = (single(used, "_total") or "accurate").strip()
    if total_mode not in ("accurate", "estimate", "none"):
        raise located(
            BadRequest(
                "_total: expected none, estimate or accurate", code="invalid_search_parameter"
            ),
            "_total",
        )
    cursor_value = single(used, "_cursor")
    cursor = _numeric_id(cursor_value) if cursor_value is not None else None
    if cursor_value is not None and cursor is None:
        raise BadRequest("_cursor: use the next link as given", code="invalid_search_parameter")

    person_ids: set[int | None] = set()
    actors: list[str] = []
    bounds = DateBounds()
    clauses: list[tuple[ActionClause, ...]] = []
    impossible = False
    for name, value in used:
        if name in ("patient", "entity"):
            alternatives = {patient_reference(v, name) for v in split_or(value)}
            if len(alternatives) != 1:
                raise located(
                    BadRequest(
                        f"{name}: give one patient per search", code="invalid_search_parameter"
                    ),
                    name,
                )
            person_ids |= alternatives
        elif name == "date":
            bounds = bounds.narrow(parse_date(value, name=name))
        elif name in ("action", "subtype"):
            clauses.append(_action_param(value, name))
        elif name == "agent":
            for alternative in split_or(value):
                system, client = parse_token(alternative)
                client = client.rsplit("/", 1)[-1] if system is None else client
                actors.append(client if client.startswith("client:") else f"client:{client}")
    if len(person_ids) > 1 or None in person_ids:
        impossible = True  # two different patients, or an id that cannot exist
    person_id = next(iter(person_ids)) if len(person_ids) == 1 else None

    query = AuditQuery(
        person_id=person_id,
        actors=tuple(actors),
        action_clauses=tuple(clauses),
        recorded_from=bounds.start,
        recorded_before=bounds.end,
    )
    base = _base(request)
    self_params = [(n, v) for n, v in used if n != "_cursor"]
    page_events: list[AuditEvent] = []
    has_more, total = False, 0 if total_mode != "none" else None
    if not impossible:
        page = get_audit_service().read_trail(
            session,
            actor=principal.actor,
            query=query,
            limit=count,
            before_id=cursor,
            with_total=total_mode != "none",
        )
        page_events, has_more, total = page.events, page.has_more, page.total
    entries = [
        match_entry(f"{base}/AuditEvent/{event.id}", audit_event_resource(event))
        for event in page_events
    ]
    next_url = (
        search_url(base, "AuditEvent", [*self_params, ("_cursor", str(page_events[-1].id))])
        if has_more and page_events
        else None
    )
    bundle = searchset(
        self_url=search_url(base, "AuditEvent", used),
        entries=entries,
        total=total,
        next_url=next_url,
    )
    return fhir_response(bundle, media_type)


@router.get("/AuditEvent", summary="Search the audit trail (paged, newest first)")
def search_audit_get(
    request: Request,
    principal: AuditRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_audit(request, params, prefer, principal, session, media_type)


@router.post("/AuditEvent/_search", summary="Search the audit trail (form-encoded)")
def search_audit_post(
    request: Request,
    principal: AuditRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_audit(request, params, prefer, principal, session, media_type)


# -- local identities of a care structure (identity-vigilance) ------------------------------------
#
# A FHIR base per structure, /fhir/structures/{structure_id}: see
# carnet.fhir.resources.local_patient for why. The structure is checked first
# (get_structure_or_404 through the vigilance service): a client bound to another structure gets
# the 404 of a structure that does not exist.


def _structure_key(raw: str) -> int:
    key = _numeric_id(raw)
    if key is None or not 1 <= key <= MAX_STRUCTURE_ID:
        raise NotFound(f"structure {raw[:40]!r} not found", code="structure_not_found")
    return key


def _local_base(request: Request, structure_id: int) -> str:
    return structure_base(_base(request), structure_id)


def _local_patient(
    identity: vigilance_schemas.LocalIdentity, structure_name: str
) -> dict[str, Any]:
    resource = local_patient_resource(identity, structure_name=structure_name)
    validate_patient(resource)  # never serve a malformed Patient
    return resource


def _prefer_return(prefer: str | None) -> str:
    """``Prefer: return=minimal | representation | OperationOutcome`` (default representation)."""
    for token in re.split(r"[,;]", prefer or ""):
        name, _, value = token.strip().partition("=")
        if name.strip().lower() == "return":
            choice = value.strip().strip('"')
            if choice.lower() == "operationoutcome":
                return "OperationOutcome"
            if choice.lower() in ("minimal", "representation"):
                return choice.lower()
    return "representation"


_HEADER_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


def _warning_header(issue: Issue) -> str:
    """An RFC 7234 ``Warning`` value (199, miscellaneous): printable ASCII only, quoted."""
    text = _HEADER_UNSAFE.sub("?", issue.text)[:500]
    return f'199 carnet "{text}"'


def _create_outcome(identity_id: int, issues: list[Issue]) -> dict[str, Any]:
    created = (
        f"local identity {identity_id} created with the status PROV"
        if not issues
        else f"local identity {identity_id} created with the status PROV; see the warnings"
    )
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "details": {"text": created},
                "diagnostics": created,
            },
            *(issue.as_issue() for issue in issues),
        ],
    }


@router.get("/structures/{structure_id}/metadata", summary="CapabilityStatement of a structure")
def structure_metadata(structure_id: str, request: Request, media_type: MediaType) -> JSONResponse:
    key = _structure_key(structure_id)
    token_url = str(request.base_url).rstrip("/") + "/oauth2/token"
    statement = local_capability_statement(_local_base(request, key), key, token_url)
    return fhir_response(statement, media_type, private=False)


@router.post(
    "/structures/{structure_id}/Patient",
    status_code=201,
    summary="Create a local identity (always PROV) from an FR Core Patient",
)
def create_local_patient(
    structure_id: str,
    request: Request,
    principal: IdentitiesWrite,
    session: SessionDep,
    media_type: MediaType,
    body: Annotated[Any, Depends(fhir_json_body)],
    prefer: PreferHeader = None,
    if_none_exist: Annotated[str | None, Header(alias="if-none-exist")] = None,
) -> Response:
    key = _structure_key(structure_id)
    structure = vigilance_service.get_structure(session, principal, key)
    if if_none_exist is not None:
        raise located(
            BadRequest(
                "conditional create (If-None-Exist) is not supported: search first "
                "(GET Patient?identifier=...)",
                code="conditional_create_unsupported",
            ),
            "If-None-Exist",
        )
    parsed = parse_local_patient(body, structure_id=key)
    try:
        identity = create_identity(session, principal, key, parsed.body)
    except AppError as exc:
        raise parsed.relabel(exc) from exc
    location = f"{_local_base(request, key)}/Patient/{identity.id}"
    resource = _local_patient(identity, structure.name)
    warnings = parsed.warnings_for(identity.id)
    returned = _prefer_return(prefer)
    if returned == "OperationOutcome":
        content: dict[str, Any] | None = _create_outcome(identity.id, warnings)
    elif returned == "minimal":
        content = None
    else:
        content = resource
    response: Response = (
        fhir_response(content, media_type, status_code=201)
        if content is not None
        else Response(status_code=201, headers={"Cache-Control": "no-store"})
    )
    response.headers["Location"] = location
    response.headers["ETag"] = f'W/"{identity.version}"'
    response.headers["Last-Modified"] = _http_date(identity.updated_at)
    for issue in warnings[:20]:
        response.headers.append("Warning", _warning_header(issue))
    return response


def _http_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@router.get(
    "/structures/{structure_id}/Patient/{patient_id}",
    summary="Read a local identity (FR Core Patient; Patient-INS when qualified)",
)
def read_local_patient(
    structure_id: str,
    patient_id: str,
    principal: IdentitiesRead,
    session: SessionDep,
    media_type: MediaType,
) -> JSONResponse:
    key = _structure_key(structure_id)
    structure = vigilance_service.get_structure(session, principal, key)
    identity_id = _numeric_id(patient_id)
    if identity_id is None:
        raise NotFound(f"Patient/{patient_id[:40]} is not known", code="identity_not_found")
    identity = get_identity(session, principal, identity_id, structure_id=key)
    response = fhir_response(_local_patient(identity, structure.name), media_type)
    response.headers["ETag"] = f'W/"{identity.version}"'
    response.headers["Last-Modified"] = _http_date(identity.updated_at)
    return response


def _search_local(
    structure_id: str,
    request: Request,
    params: Params,
    prefer: str | None,
    principal: IdentitiesRead,
    session: SessionDep,
    media_type: str,
) -> JSONResponse:
    key = _structure_key(structure_id)
    structure = vigilance_service.get_structure(session, principal, key)
    used = check_parameters(params, LOCAL_PATIENT_SEARCH_PARAMS, lenient=prefers_lenient(prefer))
    count = parse_count(single(used, "_count"), default=LOCAL_PAGE_DEFAULT, maximum=LOCAL_PAGE_MAX)
    offset_value = single(used, "_offset")
    offset = parse_count(offset_value, default=0, maximum=LOCAL_OFFSET_MAX + 1, name="_offset")
    if offset > LOCAL_OFFSET_MAX:
        raise located(
            BadRequest(
                f"_offset: at most {LOCAL_OFFSET_MAX}; narrow the search instead",
                code="invalid_search_parameter",
            ),
            "_offset",
        )
    search = parse_local_search(used, structure_id=key, count=count, offset=offset)
    limit = max(count, 1)  # _count=0: the total only (the first row is read, and audited)
    page: vigilance_schemas.IdentityPage
    if search.impossible:
        page = vigilance_schemas.IdentityPage(total=0, limit=limit, offset=offset, items=[])
    elif search.ins is not None:
        oid, matricule = search.ins
        page = search_qualified_by_ins(
            session, principal, key, matricule, oid=oid, limit=limit, offset=offset
        )
    else:
        assert search.query is not None
        try:
            page = search_identities(session, principal, key, search.query)
        except AppError as exc:
            raise relabel_search_error(exc) from exc
    base = _local_base(request, key)
    items = page.items if count > 0 else []
    entries = [
        match_entry(f"{base}/Patient/{item.id}", _local_patient(item, structure.name))
        for item in items
    ]
    paging = [(n, v) for n, v in used if n != "_offset"]
    next_url = (
        search_url(base, "Patient", [*paging, ("_offset", str(offset + count))])
        if count > 0 and offset + count < page.total and offset + count <= LOCAL_OFFSET_MAX
        else None
    )
    bundle = searchset(
        self_url=search_url(base, "Patient", used),
        entries=entries,
        total=page.total,
        next_url=next_url,
    )
    if offset > 0 and count > 0:
        previous = [*paging, ("_offset", str(max(offset - count, 0)))]
        bundle["link"].append(
            {"relation": "previous", "url": search_url(base, "Patient", previous)}
        )
    return fhir_response(bundle, media_type)


@router.get("/structures/{structure_id}/Patient", summary="Search a structure's local identities")
def search_local_patients_get(
    structure_id: str,
    request: Request,
    principal: IdentitiesRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_local(structure_id, request, params, prefer, principal, session, media_type)


@router.post(
    "/structures/{structure_id}/Patient/_search",
    summary="Search a structure's local identities (form-encoded)",
)
def search_local_patients_post(
    structure_id: str,
    request: Request,
    principal: IdentitiesRead,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
    prefer: PreferHeader = None,
) -> JSONResponse:
    return _search_local(structure_id, request, params, prefer, principal, session, media_type)
