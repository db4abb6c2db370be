"""The CapabilityStatement served at ``GET /fhir/metadata``: exactly what the router supports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from carnet.fhir.resources.audit_event import ACTION_CODES
from carnet.fhir.systems import (
    CS_RESTFUL_SECURITY_SERVICE,
    EXT_OAUTH_URIS,
    FHIR_JSON,
    FHIR_VERSION,
    OPERATION_PATIENT_MATCH,
    PROFILE_PATIENT,
    PROFILE_PATIENT_INS,
    SYSTEM_INS_NIA,
    SYSTEM_INS_NIR,
)

SOFTWARE_VERSION = "0.1.0"
PATIENT_SEARCH_PARAMS = ("identifier", "_id", "_count")
AUDIT_SEARCH_PARAMS = (
    "patient",
    "entity",
    "date",
    "action",
    "subtype",
    "agent",
    "_count",
    "_total",
    "_cursor",
)


def capability_statement(base: str, token_url: str) -> dict[str, Any]:
    """The server's CapabilityStatement (FHIR 4.0.1, JSON only, OAuth 2.0 client credentials)."""
    return {
        "resourceType": "CapabilityStatement",
        "id": "carnet",
        "url": f"{base}/metadata",
        "name": "CarnetFhirServer",
        "title": "Carnet: national INS register (FHIR R4, FR Core)",
        "status": "active",
        "experimental": False,
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Carnet",
        "description": (
            "Read-only FHIR R4 facade of the national health identity register: FR Core "
            "Patient-INS read, identifier search and INSi-like $match, and the audit trail as "
            "AuditEvent. Every access to a person is audited."
        ),
        "kind": "instance",
        "software": {"name": "Carnet", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Carnet FHIR endpoint", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", FHIR_JSON, "application/json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Unknown search parameters are refused (400) unless the request carries "
                    "'Prefer: handling=lenient'. _format and _pretty are tolerated; only JSON is "
                    "produced."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": CS_RESTFUL_SECURITY_SERVICE,
                                    "code": "OAuth",
                                    "display": "OAuth",
                                }
                            ],
                            "text": "OAuth 2.0 client credentials (bearer token)",
                        }
                    ],
                    "extension": [
                        {
                            "url": EXT_OAUTH_URIS,
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                    "description": (
                        f"Get a bearer token at {token_url} (client_secret_basic or "
                        "private_key_jwt). Scope ins.read for Patient, audit.read for AuditEvent; "
                        "GET /fhir/metadata needs no token."
                    ),
                },
                "resource": [_patient(), _audit_event()],
            }
        ],
    }


def _patient() -> dict[str, Any]:
    return {
        "type": "Patient",
        "profile": PROFILE_PATIENT,
        "supportedProfile": [PROFILE_PATIENT_INS],
        "documentation": (
            "Identities of the national register as FR Core Patient-INS (scope ins.read). "
            f"Identifier systems: {SYSTEM_INS_NIR} (INS-NIR) and {SYSTEM_INS_NIA} (INS-NIA); "
            "current and previous matricules are searchable."
        ),
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {
                "name": "identifier",
                "definition": "http://hl7.org/fhir/SearchParameter/Patient-identifier",
                "type": "token",
                "documentation": "system|matricule, system being the INS-NIR or INS-NIA OID",
            },
            {
                "name": "_id",
                "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
                "type": "token",
            },
            {"name": "_count", "type": "number", "documentation": "page size (max 100)"},
        ],
        "operation": [
            {
                "name": "match",
                "definition": OPERATION_PATIENT_MATCH,
                "documentation": (
                    "INSi-like lookup by traits: certain match (00) returned with match-grade; "
                    "01 none; 02 several, never disclosed. Outcome entry coded with the INSi "
                    "response code."
                ),
            }
        ],
    }


def _audit_event() -> dict[str, Any]:
    return {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "The audit trail (scope audit.read); reading it is audited too.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "searchParam": [
            {
                "name": "patient",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-patient",
                "type": "reference",
            },
            {
                "name": "entity",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-entity",
                "type": "reference",
                "documentation": "Patient/{id} only",
            },
            {
                "name": "date",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-date",
                "type": "date",
                "documentation": "prefixes eq, ge, gt, le, lt, sa, eb",
            },
            {
                "name": "action",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-action",
                "type": "token",
                "documentation": f"{'|'.join(ACTION_CODES)}, or a Carnet action such as "
                "person.read",
            },
            {
                "name": "subtype",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-subtype",
                "type": "token",
                "documentation": "restful interaction (read, search, operation...) or Carnet "
                "action (urn:carnet:audit-action|person.read)",
            },
            {
                "name": "agent",
                "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-agent",
                "type": "reference",
                "documentation": "the OAuth client id (or client:<id>)",
            },
            {"name": "_count", "type": "number", "documentation": "page size (max 500)"},
            {"name": "_total", "type": "token", "documentation": "accurate (default) or none"},
            {"name": "_cursor", "type": "string", "documentation": "paging (from the next link)"},
        ],
    }
