"""The holder's access history as FHIR R4 AuditEvent: ``GET /fhir/space/AuditEvent``.

Why a base of its own (``/fhir/space``): ``/fhir/AuditEvent`` is the operators' view of the whole
audit trail (scope ``audit.read``); this one is the holder's view of *their* health space, read
with a ``holder`` token: every access by someone other than them (a parent, a relative, a
professional, an emergency access), as ``access_service`` records it — the same rows as
``GET /api/v1/spaces/{person}/history``, through the same chokepoint (area ``history``).

Search parameters: ``patient`` (``Patient/{id}``: a child's or a relative's space the holder may
read; default their own), ``_count`` (≤ 100), ``_cursor`` (the ``next`` link). Newest first.

Each entry: ``type`` rest; ``subtype`` the restful interaction and Carnet's action code
(``space.documents.read``…); ``agent`` the actor as the holder sees them (name, profession
coded in TRE_G15, purpose of use TREAT, ETREAT for emergency and regulation, FAMRQT for a
parent or a relative); ``entity`` the Patient and the resource concerned, with the reason given.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access import schemas as access_schemas
from carnet.access.service import HISTORY_PAGE_MAX, ME, access_service
from carnet.db import utcnow
from carnet.dependencies import Holder, SessionDep
from carnet.exceptions import BadRequest
from carnet.fhir.outcomes import located
from carnet.fhir.resources.audit_event import interaction_of
from carnet.fhir.router import MediaType, SearchParams, fhir_response
from carnet.fhir.search import (
    check_parameters,
    match_entry,
    parse_count,
    prefers_lenient,
    single,
)
from carnet.fhir.space_support import fhir_base, paged_searchset
from carnet.fhir.systems import (
    CS_ACT_REASON,
    CS_AUDIT_ACTION,
    CS_AUDIT_ENTITY_TYPE,
    CS_AUDIT_EVENT_TYPE,
    CS_AUDIT_SOURCE_TYPE,
    CS_OBJECT_ROLE,
    CS_RESTFUL_INTERACTION,
    SYSTEM_IDNAT_PS,
)

router = APIRouter(prefix="/fhir/space", tags=["fhir"])

SEARCH_PARAMS = ("patient", "_count", "_cursor")
PAGE_DEFAULT = 20
CS_PROFESSION = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
PURPOSE = {
    "professional": "TREAT",
    "emergency": "ETREAT",
    "regulator": "ETREAT",
    "representative": "FAMRQT",
    "aidant": "FAMRQT",
}


def _patient_ref(value: str) -> str:
    reference = value.strip().rstrip("/")
    key = reference.rpartition("/")[2] if "/" in reference else reference
    if "/" in reference and reference.rpartition("/")[0].rsplit("/", 1)[-1] != "Patient":
        raise located(
            BadRequest(
                f"patient: {value!r} is not a Patient reference (Patient/{{id}})",
                code="invalid_search_parameter",
            ),
            "patient",
        )
    return key or ME


def audit_event(entry: access_schemas.HistoryEntry, person_id: int) -> dict[str, Any]:
    action_code = f"space.{entry.what}"
    interaction, action = interaction_of(action_code)
    who: dict[str, Any] = {"display": entry.who or entry.actor_kind}
    if entry.professional_rpps:
        # The professional's idNat_PS ("8" + RPPS) in the national identifier system of health
        # professionals (domain.md §8), as CI-SIS and the DMP name an author.
        who["identifier"] = {"system": SYSTEM_IDNAT_PS, "value": "8" + entry.professional_rpps}
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "urn:carnet:space-actor",
                    "code": entry.actor_kind,
                }
            ]
        },
        "who": who,
        "requestor": True,
        "purposeOfUse": [
            {"coding": [{"system": CS_ACT_REASON, "code": PURPOSE.get(entry.actor_kind, "TREAT")}]}
        ],
    }
    if entry.profession_code:
        agent["role"] = [
            {
                "coding": [
                    {
                        "system": CS_PROFESSION,
                        "code": entry.profession_code,
                        "display": entry.profession_label or entry.profession_code,
                    }
                ]
            }
        ]
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{person_id}"},
            "type": {"system": CS_AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": CS_OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
    ]
    details = []
    if entry.resource:
        details.append({"type": "resource", "valueString": entry.resource})
    if entry.reason:
        details.append({"type": "reason", "valueString": entry.reason})
    if details:
        entities.append(
            {
                "type": {"system": CS_AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
                "description": "access",
                "detail": details,
            }
        )
    return {
        "resourceType": "AuditEvent",
        "id": f"space-{entry.id}",
        "type": {"system": CS_AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [
            {"system": CS_RESTFUL_INTERACTION, "code": interaction},
            {"system": CS_AUDIT_ACTION, "code": action_code},
        ],
        "action": action,
        "recorded": entry.at.isoformat(),
        "outcome": "0",
        "agent": [agent],
        "source": {
            "observer": {"display": "Carnet"},
            "type": [
                {"system": CS_AUDIT_SOURCE_TYPE, "code": "4", "display": "Application Server"}
            ],
        },
        "entity": entities,
    }


@router.get("/AuditEvent", summary="The holder's access history as AuditEvent (newest first)")
def search_space_audit(
    request: Request,
    principal: Holder,
    session: SessionDep,
    media_type: MediaType,
    params: SearchParams,
) -> JSONResponse:
    used = check_parameters(
        params, SEARCH_PARAMS, lenient=prefers_lenient(request.headers.get("prefer"))
    )
    count = parse_count(single(used, "_count"), default=PAGE_DEFAULT, maximum=HISTORY_PAGE_MAX)
    cursor_value = single(used, "_cursor")
    cursor: int | None = None
    if cursor_value is not None:
        if not cursor_value.isdigit() or len(cursor_value) > 18 or int(cursor_value) < 1:
            raise BadRequest("_cursor: use the next link as given", code="invalid_search_parameter")
        cursor = int(cursor_value)
    patient = single(used, "patient")
    person_ref = _patient_ref(patient) if patient is not None else ME
    now = utcnow()
    person_id = access_service.resolve_person(session, principal, person_ref)
    page = access_service.history_page(
        session, principal, str(person_id), limit=max(count, 1), cursor=cursor, now=now
    )
    items = page.items if count > 0 else []
    base = fhir_base(request, "/fhir/space")
    entries = [
        match_entry(f"{base}/AuditEvent/space-{e.id}", audit_event(e, person_id)) for e in items
    ]
    more = page.next_cursor is not None and count > 0
    bundle = paged_searchset(
        base, "AuditEvent", used, entries, total=None,
        page_param="_cursor", next_value=str(page.next_cursor) if more else None,
    )  # fmt: skip
    return fhir_response(bundle, media_type)
