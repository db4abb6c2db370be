"""The scopes a software client can be granted, and what each allows."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "ins.read": "Look up and verify national identities (INSi-like search, FHIR $match/read)",
    "ins.write": "Load and change the national identity register",
    "identities.read": "Read the local identities of the client's care structure",
    "identities.write": "Create, qualify, merge and unmerge the local identities of its structure",
    "audit.read": "Read the audit trail (FHIR AuditEvent)",
    "directory.read": "Read the directory of health professionals",
    "rights.read": "Query a beneficiary's health-insurance rights (ADRi-like)",
    "apcv": "Read insured persons' digital cards (apCV contexts, invoice signatures)",
    "dmp": "Read and feed patients' health spaces (DMP documents, medical profile) within the "
    "access rules: consent or care relationship, access matrix, blocks",
    "dmp.regulation": "Emergency regulation (SAMU-Centre 15): read the health space of a person "
    "a call concerns, unless they refused emergency access",
}

# Granted only to a card holder signed in with their card, never to a software client.
HOLDER_SCOPE = "holder"


def parse_scopes(raw: str | list[str] | tuple[str, ...]) -> list[str]:
    items = raw.split() if isinstance(raw, str) else [s for part in raw for s in part.split()]
    unknown = [s for s in items if s not in SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; known scopes: {', '.join(sorted(SCOPES))}"
        )
    return sorted(set(items))
