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
from carnet.profile.codes import RESOURCE_TYPES

SOFTWARE_VERSION = "0.1.0"
PATIENT_SEARCH_PARAMS = ("identifier", "_id", "_count")
# Local identities of a care structure (base {fhir}/structures/{structure_id}).
LOCAL_PATIENT_SEARCH_PARAMS = (
    "identifier",
    "family",
    "family:exact",
    "phonetic",
    "given",
    "birthdate",
    "gender",
    "identity-status",
    "_count",
    "_offset",
)
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

# What neither Patient base supports: history reads, update-as-create, conditional interactions.
_NO_HISTORY_NOR_CONDITIONALS: dict[str, Any] = {
    "readHistory": False,
    "updateCreate": False,
    "conditionalCreate": False,
    "conditionalRead": "not-supported",
    "conditionalUpdate": False,
    "conditionalDelete": "not-supported",
}


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
            "AuditEvent. Every access to a person is audited. The local identities of care "
            f"structures (identity-vigilance) have a FHIR base of their own per structure, "
            f"{base}/structures/{{structure_id}} (see its metadata)."
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
                    "produced. Patient here is the national register (scope ins.read); the local "
                    "identities of a care structure are at "
                    f"{base}/structures/{{structure_id}}/Patient (scopes identities.read, "
                    "identities.write)."
                ),
                "security": _security(
                    token_url,
                    "Scope ins.read for Patient, audit.read for AuditEvent",
                    "/fhir/metadata",
                ),
                "resource": [
                    _patient(),
                    _audit_event(),
                    _document_reference(),
                    _binary(),
                    *map(_profile, PROFILE_TYPES),
                ],
            }
        ],
    }


def _security(token_url: str, scopes: str, metadata: str) -> dict[str, Any]:
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {"system": CS_RESTFUL_SECURITY_SERVICE, "code": "OAuth", "display": "OAuth"}
                ],
                "text": "OAuth 2.0 client credentials (bearer token)",
            }
        ],
        "extension": [
            {"url": EXT_OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}
        ],
        "description": (
            f"Get a bearer token at {token_url} (client_secret_basic or private_key_jwt). "
            f"{scopes}; GET {metadata} needs no token."
        ),
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
        **_NO_HISTORY_NOR_CONDITIONALS,
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


def local_capability_statement(base: str, structure_id: int, token_url: str) -> dict[str, Any]:
    """The CapabilityStatement of a care structure's base (``{fhir}/structures/{id}``).

    ``base`` is that structure base. Served without a token and without checking that the
    structure exists (it says nothing about any structure's content).
    """
    return {
        "resourceType": "CapabilityStatement",
        "id": f"carnet-structure-{structure_id}",
        "url": f"{base}/metadata",
        "name": "CarnetLocalIdentities",
        "title": "Carnet: local identities of a care structure (FHIR R4, FR Core, RNIV)",
        "status": "active",
        "experimental": False,
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Carnet",
        "description": (
            f"The local identities (identity-vigilance) of care structure {structure_id} as FR "
            "Core Patient: create, read and search, with the RNIV status, attributes and "
            "validation in the fr-core-identity-reliability extension. The national register is "
            "at the root FHIR base (/fhir). Every access is audited."
        ),
        "kind": "instance",
        "software": {"name": "Carnet", "version": SOFTWARE_VERSION},
        "implementation": {
            "description": f"Carnet FHIR endpoint of care structure {structure_id}",
            "url": base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json", FHIR_JSON, "application/json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "A client bound to a care structure reaches only its own base: any other "
                    "structure answers 404, as a structure that does not exist. Unknown search "
                    "parameters are refused (400) unless the request carries "
                    "'Prefer: handling=lenient'."
                ),
                "security": _security(
                    token_url,
                    "Scope identities.read to read and search, identities.write to create",
                    f"{base}/metadata",
                ),
                "resource": [_local_patient(structure_id)],
            }
        ],
    }


def _local_patient(structure_id: int) -> dict[str, Any]:
    ipp = f"urn:carnet:structure:{structure_id}:ipp"
    return {
        "type": "Patient",
        "profile": PROFILE_PATIENT,
        "supportedProfile": [PROFILE_PATIENT_INS],
        "documentation": (
            "Local identities as FR Core Patient; fr-core-patient-ins and the INS identifier "
            "(INS-NIR / INS-NIA) only for a qualified (QUAL) identity. The IPP has the system "
            f"{ipp}. Create: the identity is always created PROV; a status, validation or INS "
            "claimed by the client (current or older FR Core encoding, e.g. VALI + INS) is not "
            "taken and the answer says so (Warning headers, or the OperationOutcome with "
            "'Prefer: return=OperationOutcome'); attributes (DOUT, FICT, HOMA...) are applied. "
            "A merged identity is active=false with a replaced-by link."
        ),
        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}],
        "versioning": "versioned",
        **_NO_HISTORY_NOR_CONDITIONALS,
        "searchParam": [
            {
                "name": "identifier",
                "definition": "http://hl7.org/fhir/SearchParameter/Patient-identifier",
                "type": "token",
                "documentation": (
                    f"the IPP ({ipp}|value, or a bare value), or the INS "
                    f"({SYSTEM_INS_NIR}|matricule, {SYSTEM_INS_NIA}|matricule) which finds "
                    "qualified identities only and is not combined with other criteria; "
                    "identifier searches also return merged (inactive) identities"
                ),
            },
            {
                "name": "family",
                "definition": "http://hl7.org/fhir/SearchParameter/individual-family",
                "type": "string",
                "documentation": (
                    "birth or used name, whole name once normalised (case, accents, "
                    "apostrophes); family:exact is the same"
                ),
            },
            {
                "name": "phonetic",
                "definition": "http://hl7.org/fhir/SearchParameter/individual-phonetic",
                "type": "string",
                "documentation": "birth or used name by sound (DUPOND finds DUPONT)",
            },
            {
                "name": "given",
                "definition": "http://hl7.org/fhir/SearchParameter/individual-given",
                "type": "string",
                "documentation": "one birth first name (any of the list)",
            },
            {
                "name": "birthdate",
                "definition": "http://hl7.org/fhir/SearchParameter/individual-birthdate",
                "type": "date",
                "documentation": "YYYY, YYYY-MM or YYYY-MM-DD (eq only)",
            },
            {
                "name": "gender",
                "definition": "http://hl7.org/fhir/SearchParameter/individual-gender",
                "type": "token",
                "documentation": "male | female",
            },
            {
                "name": "identity-status",
                "type": "token",
                "documentation": (
                    "the RNIV status: PROV | RECUP | VALI | QUAL "
                    "(https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status)"
                ),
            },
            {
                "name": "_count",
                "type": "number",
                "documentation": "page size (default 20, max 100)",
            },
            {"name": "_offset", "type": "number", "documentation": "paging (from the next link)"},
        ],
    }


# -- the medical profile of health spaces (carnet.fhir.profile) ----------------------------------
PROFILE_TYPES = RESOURCE_TYPES
# The main code's search parameter has its FHIR name per type; ``code`` is accepted everywhere.
PROFILE_CODE_PARAMS = {
    "Immunization": "vaccine-code",
    "Encounter": "class",
    "RelatedPerson": "relationship",
}
PROFILE_DATE_PARAMS = {"Condition": "onset-date"}
PROFILE_SEARCH_PARAMS: dict[str, tuple[str, ...]] = {
    t: tuple(
        dict.fromkeys(
            ("patient", "subject", "patient.identifier", "subject.identifier", "_id", "category",
             "code", PROFILE_CODE_PARAMS.get(t, "code"), "date", PROFILE_DATE_PARAMS.get(t, "date"),
             "_count", "_offset")
        )
    )
    for t in RESOURCE_TYPES
}  # fmt: skip


def _profile(resource_type: str) -> dict[str, Any]:
    return {
        "type": resource_type,
        "documentation": (
            f"{resource_type} resources of health spaces' medical profiles (scope dmp; access "
            "decided per space: consent or care relationship, blocks, emergency access). "
            "Read-only here: the holder writes the profile. Search one patient at a time."
        ),
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "history-instance"},
                        {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {"name": name, "type": _PROFILE_PARAM_TYPES.get(name, "token")}
            for name in PROFILE_SEARCH_PARAMS[resource_type]
        ],
    }  # fmt: skip


_PROFILE_PARAM_TYPES = {
    "patient": "reference",
    "subject": "reference",
    "date": "date",
    "onset-date": "date",
    "_count": "number",
    "_offset": "number",
}


# -- the documents of health spaces (carnet.fhir.documents) -------------------------------------
DOCUMENT_SEARCH_PARAMS = (
    "patient",
    "patient.identifier",
    "subject",
    "type",
    "category",
    "date",
    "status",
    "_count",
    "_offset",
)


def _document_reference() -> dict[str, Any]:
    return {
        "type": "DocumentReference",
        "documentation": (
            "Documents of health spaces (DMP, MHD-like; scope dmp; access decided per space: "
            "consent or care relationship, blocks, access matrix, visibility). Create with the "
            "content inline (attachment.data) and subject Patient/{id} or the INS identifier; "
            "a new version replaces the one named in relatesTo (code replaces)."
        ),
        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {"name": name, "type": _DOCUMENT_PARAM_TYPES.get(name, "token")}
            for name in DOCUMENT_SEARCH_PARAMS
        ],
    }


_DOCUMENT_PARAM_TYPES = {
    "patient": "reference",
    "subject": "reference",
    "date": "date",
    "_count": "number",
    "_offset": "number",
}


def _binary() -> dict[str, Any]:
    return {
        "type": "Binary",
        "documentation": (
            "A document's content (decrypted, checksum verified), raw with its content type or "
            "as a FHIR Binary with Accept: application/fhir+json; same access rules as its "
            "DocumentReference."
        ),
        "interaction": [{"code": "read"}],
    }
