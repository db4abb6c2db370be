"""Audit-trail entries as FHIR R4 AuditEvent resources (in the spirit of IHE BALP).

* ``type``: DICOM/HL7 audit event type ``rest`` (RESTful operation); ``subtype``: the FHIR
  restful interaction (``read``, ``search``, ``create``, ``update``, ``delete``, or ``operation``
  for anything else, such as an INS verification) plus Carnet's own action code
  (``urn:carnet:audit-action``, e.g. ``person.read``), so nothing of the trail is lost.
* ``action``: C/R/U/D/E from the same classification (a search is E, as FHIR defines it).
* ``recorded``; ``outcome``: 0 (success) for every completed access, including an INSi-like search
  answering 01 or 02 (the search itself succeeded), 4 (minor failure) for refused or invalid
  requests, 8 (serious failure) for errors; ``outcomeDesc`` spells our outcome out.
* ``agent``: the OAuth client (``who.identifier`` in ``urn:carnet:oauth-client``), requestor,
  with its network address and purpose of use (v3 ActReason, e.g. TREAT).
* ``source``: observer "Carnet", an application server.
* ``entity``: the Patient concerned (``Patient/{person id}``, type Person, role Patient), and the
  request id and detail of the trail as a system object.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from carnet.audit.models import AuditEvent
from carnet.audit.repository import ActionClause
from carnet.fhir.systems import (
    CS_ACT_REASON,
    CS_AUDIT_ACTION,
    CS_AUDIT_ENTITY_TYPE,
    CS_AUDIT_EVENT_TYPE,
    CS_AUDIT_SOURCE_TYPE,
    CS_DICOM,
    CS_OBJECT_ROLE,
    CS_RESTFUL_INTERACTION,
    SYSTEM_OAUTH_CLIENT,
)

# Carnet action suffix → (FHIR restful interaction, AuditEvent.action).
INTERACTIONS: dict[str, tuple[str, str]] = {
    ".read": ("read", "R"),
    ".search": ("search", "E"),
    ".create": ("create", "C"),
    ".import": ("create", "C"),
    ".load": ("create", "C"),
    ".update": ("update", "U"),
    ".qualify": ("update", "U"),
    ".merge": ("update", "U"),
    ".unmerge": ("update", "U"),
    ".link": ("update", "U"),
    ".delete": ("delete", "D"),
}
OTHER_INTERACTION = ("operation", "E")
ACTION_CODES = ("C", "R", "U", "D", "E")
INTERACTION_CODES = frozenset(i for i, _ in INTERACTIONS.values()) | {OTHER_INTERACTION[0]}

# Outcomes of the trail that mean the access did not happen as asked.
MINOR_FAILURES = frozenset(
    {"denied", "forbidden", "refused", "rejected", "invalid", "failure", "failed", "conflict"}
)
SERIOUS_FAILURES = frozenset({"error", "fatal"})
OUTCOME_TEXT = {
    "success": "success",
    "00": "INSi-like search 00: exactly one identity found",
    "01": "INSi-like search 01: no identity found",
    "02": "INSi-like search 02: several identities found (none disclosed)",
    "none": "no matching identity",
    "ok": "consistent with the register",
    "differs": "inconsistent with the register",
    "unknown": "unknown INS",
    "replaced": "replaced INS",
}


def interaction_of(action: str) -> tuple[str, str]:
    """(restful interaction, C/R/U/D/E) of a Carnet action such as ``person.read``."""
    for suffix, result in INTERACTIONS.items():
        if action.endswith(suffix):
            return result
    return OTHER_INTERACTION


def outcome_code(outcome: str) -> str:
    value = outcome.lower()
    if value in SERIOUS_FAILURES:
        return "8"
    if value in MINOR_FAILURES:
        return "4"
    return "0"


def action_clauses_for_codes(codes: list[str]) -> tuple[ActionClause, ...]:
    """SQL-able alternatives matching ``AuditEvent.action`` codes (C/R/U/D/E)."""
    clauses: list[ActionClause] = []
    for code in codes:
        suffixes = tuple(s for s, (_, c) in INTERACTIONS.items() if c == code)
        if suffixes:
            clauses.append(("suffix", suffixes))
        if code == OTHER_INTERACTION[1]:
            clauses.append(("no_suffix", tuple(INTERACTIONS)))
    return tuple(clauses)


def action_clauses_for_interactions(codes: list[str]) -> tuple[ActionClause, ...]:
    """SQL-able alternatives matching restful interaction codes (``read``, ``operation``…)."""
    clauses: list[ActionClause] = []
    for code in codes:
        suffixes = tuple(s for s, (i, _) in INTERACTIONS.items() if i == code)
        if suffixes:
            clauses.append(("suffix", suffixes))
        if code == OTHER_INTERACTION[0]:
            clauses.append(("no_suffix", tuple(INTERACTIONS)))
    return tuple(clauses)


def _network_type(event: AuditEvent) -> str:
    try:
        ipaddress.ip_address(event.client_address or "")
    except ValueError:
        return "1"
    return "2"


def _person_id(event: AuditEvent) -> int | None:
    if event.person_id is not None:
        return int(event.person_id)
    return None


def audit_event_resource(event: AuditEvent) -> dict[str, Any]:
    interaction, action = interaction_of(event.action)
    client_id = event.actor.removeprefix("client:")
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": CS_DICOM, "code": "110153", "display": "Source Role ID"}]},
        "who": {
            "identifier": {"system": SYSTEM_OAUTH_CLIENT, "value": client_id},
            "display": event.actor,
        },
        "requestor": True,
    }
    if event.client_address:
        # http://hl7.org/fhir/network-type: 2 IP address, 1 machine name.
        agent["network"] = {"address": event.client_address, "type": _network_type(event)}
    if event.purpose:
        agent["purposeOfUse"] = [{"coding": [{"system": CS_ACT_REASON, "code": event.purpose}]}]

    entities: list[dict[str, Any]] = []
    person_id = _person_id(event)
    if person_id is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{person_id}"},
                "type": {"system": CS_AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": CS_OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    details = []
    if event.request_id:
        details.append({"type": "request-id", "valueString": event.request_id})
    if event.detail:
        details.append({"type": "detail", "valueString": event.detail})
    if event.resource and not (person_id is not None and event.resource.startswith("Person/")):
        details.append({"type": "resource", "valueString": event.resource})
    if details:
        entities.append(
            {
                "type": {"system": CS_AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
                "description": "request",
                "detail": details,
            }
        )

    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {"system": CS_AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [
            {"system": CS_RESTFUL_INTERACTION, "code": interaction},
            {"system": CS_AUDIT_ACTION, "code": event.action},
        ],
        "action": action,
        "recorded": event.recorded_at.isoformat(),
        "outcome": outcome_code(event.outcome),
        "outcomeDesc": OUTCOME_TEXT.get(event.outcome, event.outcome),
        "agent": [agent],
        "source": {
            "observer": {"display": "Carnet"},
            "type": [
                {"system": CS_AUDIT_SOURCE_TYPE, "code": "4", "display": "Application Server"}
            ],
        },
    }
    if entities:
        resource["entity"] = entities
    return resource
