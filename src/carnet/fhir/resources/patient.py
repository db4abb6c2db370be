"""A register identity as a FHIR R4 Patient conforming to FR Core Patient-INS (fr-core-patient-ins).

Mapping (FR Core ``FRCorePatientINSProfile``, ``FRCorePatientProfile`` and extensions, from the
Interop'Santé hl7.fhir.fr.core sources; domain.md §1.2 and §1.5):

* ``id``: the register person key; ``meta.profile``: the FR Core Patient-INS canonical.
* ``identifier``: the current matricule as the ``INS-NIR`` slice (system
  ``urn:oid:1.2.250.1.213.1.4.8``, type ``fr-core-cs-v2-0203#INS-NIR``, use ``official``) or the
  ``INS-NIA`` slice (``…1.4.9``, type ``INS-NIA``, use ``temp``); every matricule the person held
  before (NIA replaced by a NIR, merged identities) with the type and system of its kind, use
  ``old`` and ``period.end`` when the register knows it. (FR Core fixes the NIA slice's use to
  ``temp`` yet documents ``old`` for a NIA replaced by a NIR; we follow the documented intent.)
* ``name``: the ``officialName`` slice, use ``official``: ``family`` = birth name, ``given`` = the
  FIRST birth first name only, and the ``fr-core-patient-birth-list-given-name`` extension with the
  full space-separated list (INSi ``ListePrenom``); the used name / used first name, when the
  register has them, as a second name with use ``usual``. Traits stay as the register stores them
  (uppercase, no diacritics): INS traits must never be rewritten.
* ``gender``: ``male`` / ``female``; ``birthDate`` and ``deceasedDateTime``: the FHIR partial forms
  ``YYYY-MM`` / ``YYYY`` when the day or month is unknown (register ``00``).
* ``extension[birthPlace]`` (``http://hl7.org/fhir/StructureDefinition/patient-birthPlace``): an
  Address carrying ``fr-core-address-insee-code`` (a Coding in TRE_R13 for a commune, TRE_R20 for
  a 99xxx country), and the city or country name from ``carnet.identity.places``.
* ``extension[identityReliability]`` (``fr-core-identity-reliability``): ``identityStatus`` =
  ``RECUP``, ``methodCollection`` = ``INSI``, ``dateInterrogationINSi`` = the day of the answer.

Why RECUP: FR Core's ``fr-core-cs-identity-status`` defines RECUP as an identity retrieved from
the INSi teleservice that has not been checked against a high-trust identity document, and QUAL
as retrieved from INSi *and* checked against such a document (RNIV EXI SI 07). The register plays
the role of INSi: what it serves is the reference identity, but nobody has seen the patient's
identity document. A client that stores this Patient therefore holds a RECUP identity until its
own desk checks a document (then QUAL); announcing QUAL, or VALI (which FR Core reserves for an
identity *not* retrieved from INSi), would overstate what the exchange proves.

When the register has no birth place, FR Core Patient-INS cannot be met (``birthPlace`` with an
INSEE code is 1..1), so such a Patient claims only the base ``fr-core-patient`` profile.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir.resources.R4B.patient import Patient

from carnet.fhir.systems import (
    CS_IDENTIFIER_TYPE,
    CS_IDENTITY_STATUS,
    CS_INSEE_COMMUNE,
    CS_INSEE_COUNTRY,
    CS_METHOD_COLLECTION,
    EXT_ADDRESS_INSEE_CODE,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_IDENTITY_RELIABILITY,
    PROFILE_PATIENT,
    PROFILE_PATIENT_INS,
    SYSTEM_BY_KIND,
    SYSTEM_INS_NIA,
    SYSTEM_INS_NIR,
)
from carnet.identity.places import get_places
from carnet.identity.service import RegisterEntry

IDENTIFIER_TYPES = {
    "NIR": {"system": CS_IDENTIFIER_TYPE, "code": "INS-NIR", "display": "NIR définitif"},
    "NIA": {"system": CS_IDENTIFIER_TYPE, "code": "INS-NIA", "display": "NIR temporaire"},
}
CURRENT_USE = {"NIR": "official", "NIA": "temp"}
GENDERS = {"M": "male", "F": "female"}

RELIABILITY_STATUS = "RECUP"
RELIABILITY_STATUS_DISPLAY = "Identité récupérée"


def fhir_partial_date(value: str) -> str:
    """The register's ``YYYY-MM-DD`` with ``00`` parts as a FHIR date: ``1950-03``, ``1950``."""
    year, month, day = value.split("-")
    if month == "00":
        return year
    if day == "00":
        return f"{year}-{month}"
    return value


def _identifier(kind: str, value: str, use: str) -> dict[str, Any]:
    return {
        "use": use,
        "type": {"coding": [dict(IDENTIFIER_TYPES[kind])]},
        "system": SYSTEM_BY_KIND[kind],
        "value": value,
    }


def birth_place_address(code: str) -> dict[str, Any]:
    """An Address naming an INSEE commune or country code (FR Core birth place)."""
    places = get_places()
    name = places.name(code)
    abroad = code.startswith("99")
    coding: dict[str, Any] = {
        "system": CS_INSEE_COUNTRY if abroad else CS_INSEE_COMMUNE,
        "code": code,
    }
    if name:
        coding["display"] = name
    address: dict[str, Any] = {
        "extension": [{"url": EXT_ADDRESS_INSEE_CODE, "valueCoding": coding}]
    }
    if abroad:
        if name:
            address["country"] = name
    else:
        if name:
            address["city"] = name
        address["country"] = "France"
    return address


def identity_reliability(retrieved_on: date) -> dict[str, Any]:
    return {
        "url": EXT_IDENTITY_RELIABILITY,
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": {
                    "system": CS_IDENTITY_STATUS,
                    "code": RELIABILITY_STATUS,
                    "display": RELIABILITY_STATUS_DISPLAY,
                },
            },
            {
                "url": "methodCollection",
                "valueCoding": {
                    "system": CS_METHOD_COLLECTION,
                    "code": "INSI",
                    "display": "Téléservice INSi",
                },
            },
            {"url": "dateInterrogationINSi", "valueDate": retrieved_on.isoformat()},
        ],
    }


def birth_place_extension(code: str) -> dict[str, Any]:
    """The FR Core birth-place extension for an INSEE code (commune or country)."""
    return {"url": EXT_BIRTH_PLACE, "valueAddress": birth_place_address(code)}


def patient_names(
    *,
    birth_name: str,
    first_names: list[str],
    first_names_text: str,
    used_name: str | None,
    used_first_name: str | None,
) -> list[dict[str, Any]]:
    """``Patient.name``: the official (birth) name, then the usual name when one is used.

    The official name's ``given`` is the first first name; the whole list of birth first names
    (``first_names_text``, space-separated) goes in the FR Core birth-list-given-name extension.
    """
    names: list[dict[str, Any]] = [
        {
            "extension": [{"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": first_names_text}],
            "use": "official",
            "family": birth_name,
            "given": [first_names[0]],
        }
    ]
    if used_name or used_first_name:
        usual: dict[str, Any] = {"use": "usual"}
        if used_name:
            usual["family"] = used_name
        if used_first_name:
            usual["given"] = [used_first_name]
        names.append(usual)
    return names


def patient_resource(entry: RegisterEntry, *, retrieved_on: date) -> dict[str, Any]:
    """The FR Core Patient-INS JSON of a register entry (see the module docstring)."""
    identity = entry.identity
    traits = identity.traits
    identifiers = [
        _identifier(identity.ins.kind, identity.ins.matricule, CURRENT_USE[identity.ins.kind])
    ]
    for old in identity.history:
        identifier = _identifier(old.kind, old.matricule, "old")
        if old.ended_at is not None:
            identifier["period"] = {"end": old.ended_at.isoformat()}
        identifiers.append(identifier)

    names = patient_names(
        birth_name=traits.birth_name,
        first_names=traits.first_names,
        first_names_text=traits.first_names_text,
        used_name=identity.used_name,
        used_first_name=identity.used_first_name,
    )
    extensions: list[dict[str, Any]] = [identity_reliability(retrieved_on)]
    if traits.birth_place:
        extensions.append(birth_place_extension(traits.birth_place))

    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(entry.person_id),
        "meta": {"profile": [PROFILE_PATIENT_INS if traits.birth_place else PROFILE_PATIENT]},
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": names,
        "gender": GENDERS[traits.sex],
        "birthDate": fhir_partial_date(traits.birth_date),
    }
    if identity.death_date:
        resource["deceasedDateTime"] = fhir_partial_date(identity.death_date)
    return resource


def validate_patient(resource: dict[str, Any]) -> Patient:
    """Parse with fhir.resources (R4B): types, cardinalities, unknown elements; raises if wrong."""
    return Patient.model_validate(resource)


def fr_core_patient_ins_problems(resource: dict[str, Any]) -> list[str]:
    """What breaks FR Core Patient-INS in a Patient JSON (fhir.resources checks neither profiles
    nor bindings). An empty list means the rules below hold:

    meta.profile names fr-core-patient-ins; identityReliability present with a known status;
    birthPlace with an INSEE code (5 characters); gender in male|female|unknown; birthDate present;
    exactly one official name with family, exactly one given and birth-list-given-name whose first
    element is that given; at least one identifier; INS identifiers carry the type and use of their
    slice (NIR official|old, NIA temp|old) and at most one is official.
    """
    problems: list[str] = []
    if PROFILE_PATIENT_INS not in (resource.get("meta") or {}).get("profile", []):
        problems.append("meta.profile: fr-core-patient-ins is not claimed")
    extensions = resource.get("extension") or []
    reliability = [e for e in extensions if e.get("url") == EXT_IDENTITY_RELIABILITY]
    if not reliability:
        problems.append("extension[identityReliability]: missing (1..*)")
    for ext in reliability:
        statuses = [
            sub.get("valueCoding", {})
            for sub in ext.get("extension", [])
            if sub.get("url") == "identityStatus"
        ]
        for coding in statuses:
            if coding.get("system") != CS_IDENTITY_STATUS or coding.get("code") not in (
                "PROV",
                "RECUP",
                "VALI",
                "QUAL",
            ):
                problems.append(f"identityStatus: {coding!r} is not in fr-core-vs-identity-status")
    birth_places = [e for e in extensions if e.get("url") == EXT_BIRTH_PLACE]
    if len(birth_places) != 1:
        problems.append(f"extension[birthPlace]: {len(birth_places)} found, expected 1..1")
    else:
        insee = [
            e
            for e in (birth_places[0].get("valueAddress") or {}).get("extension", [])
            if e.get("url") == EXT_ADDRESS_INSEE_CODE
        ]
        code = (insee[0].get("valueCoding") or {}).get("code", "") if len(insee) == 1 else ""
        if len(insee) != 1 or len(code) != 5:
            problems.append(
                "extension[birthPlace].valueAddress.extension[inseeCode]: 1..1, 5 chars"
            )
    if resource.get("gender") not in ("male", "female", "unknown"):
        problems.append(f"gender: {resource.get('gender')!r} not in fr-core-vs-patient-gender-INS")
    if not resource.get("birthDate"):
        problems.append("birthDate: missing (1..1)")
    official = [n for n in resource.get("name") or [] if n.get("use") == "official"]
    if len(official) != 1:
        problems.append(f"name[officialName]: {len(official)} found, expected 1..1")
    else:
        name = official[0]
        given = name.get("given") or []
        lists = [
            e.get("valueString", "")
            for e in name.get("extension") or []
            if e.get("url") == EXT_BIRTH_LIST_GIVEN_NAME
        ]
        if not name.get("family"):
            problems.append("name[officialName].family: missing")
        if len(given) != 1:
            problems.append(f"name[officialName].given: {len(given)} found, expected 1..1")
        if len(lists) != 1:
            problems.append("name[officialName].extension[birth-list-given-name]: expected 1..1")
        elif given and lists[0].split(" ")[0] != given[0]:
            problems.append("name[officialName].given: not the first birth first name")
    identifiers = resource.get("identifier") or []
    if not identifiers:
        problems.append("identifier: missing (1..*)")
    allowed = {
        SYSTEM_INS_NIR: ("INS-NIR", ("official", "old")),
        SYSTEM_INS_NIA: ("INS-NIA", ("temp", "old")),
    }
    for index, identifier in enumerate(identifiers):
        rule = allowed.get(identifier.get("system", ""))
        if rule is None:
            continue
        type_code, uses = rule
        codes = [
            (c.get("system"), c.get("code"))
            for c in (identifier.get("type") or {}).get("coding", [])
        ]
        if (CS_IDENTIFIER_TYPE, type_code) not in codes:
            problems.append(f"identifier[{index}].type: expected {type_code}")
        if identifier.get("use") not in uses:
            problems.append(f"identifier[{index}].use: expected one of {', '.join(uses)}")
        if not identifier.get("value"):
            problems.append(f"identifier[{index}].value: missing")
    if sum(1 for i in identifiers if i.get("use") == "official") > 1:
        problems.append("identifier: more than one official identifier (fr-core-2)")
    return problems
