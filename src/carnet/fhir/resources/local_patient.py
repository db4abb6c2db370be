"""A care structure's local identity (identity-vigilance, RNIV) as an FR Core Patient, both ways.

URL space. Local identities are served under a FHIR base of their own per care structure,
``/fhir/structures/{structure_id}`` (``Patient``, ``Patient/{id}``, ``Patient/_search`` and a
``metadata`` of that base), while the national register stays at ``/fhir/Patient``. Why a separate
base rather than ``Patient/local-{id}`` ids on the register's base:

* the two are different things: a register person is the reference identity of the INS (always
  RECUP for whoever reads it, scope ``ins.read``); a local identity is what one structure knows of
  a patient, with its own RNIV status, attributes and IPP (scopes ``identities.read`` /
  ``identities.write``). A client knows what it reads from the URL, and an absolute reference
  (``…/structures/3/Patient/42``) can never be mistaken for a register person;
* every local identity belongs to exactly one structure, and the structure is always named in the
  URL: an operator client (bound to no structure) names it like any client, and a client bound to
  structure A gets, for structure B and anything under it, the same 404 as for a structure that
  does not exist (``carnet.vigilance.service.get_structure_or_404``);
* the register endpoints keep their behaviour, scopes and search rules unchanged, and each base
  publishes a CapabilityStatement that describes exactly what it supports (a multi-tenant layout
  FHIR clients know well).

Ids are the local identity keys (the ``/api/v1/structures/{s}/identities/{id}`` ids).

Output (``local_patient_resource``):

* ``meta.profile``: ``fr-core-patient``; ``fr-core-patient-ins`` as well only for a QUAL identity
  with a birth place (FR Core Patient-INS requires ``birthPlace`` with an INSEE code).
* ``extension[identityReliability]`` in the CURRENT FR Core encoding
  (``fr-core-identity-reliability`` with ``identityStatus`` from ``fr-core-cs-identity-status``:
  PROV, RECUP, VALI, QUAL;
  ``methodCollection``, ``dateInterrogationINSi`` (day of the last INSi retrieval, Paris time),
  ``validationDate``, ``validationMode``, and one ``comment`` per identity attribute, coded in
  ``fr-core-cs-identity-status-comment``).
* ``identifier``: the IPP (slice ``PI``: use ``usual``, type ``v2-0203#PI``, system
  ``urn:carnet:structure:{id}:ipp``); the INS (``INS-NIR`` use ``official`` or ``INS-NIA`` use
  ``temp``, system ``urn:oid:1.2.250.1.213.1.4.8`` / ``.9``) ONLY for a QUAL identity: the
  vigilance service does not even hand out the INS of a RECUP identity.
* ``name``: ``official`` (birth name, the first birth first name in ``given`` and the full list in
  ``birth-list-given-name``), ``usual`` (used name, used first name) when known.
* ``active = false`` for a merged identity (attribute DESA), with ``link`` ``replaced-by`` the
  surviving ``Patient/{id}`` of the same base; ``managingOrganization`` names the structure.

Input (``parse_local_patient``, for ``POST``): the official name (family + given and/or
``birth-list-given-name``), ``gender`` (male|female), ``birthDate`` (YYYY, YYYY-MM or YYYY-MM-DD),
``patient-birthPlace`` with ``fr-core-address-insee-code``, a ``usual`` name, the IPP identifier in
this structure's system, and the identity-reliability extension(s). The identity is created PROV,
whatever the client claims: under the RNIV a status comes only from this structure's own INSi
retrieval and document check (``POST /api/v1/structures/{s}/identities/{id}/insi-retrieval`` and
``…/document-check``). A claimed status (RECUP, VALI, QUAL, or the older "VALI + INS identifier"),
a validation mode or date, an INSi date and any INS identifier are therefore **downgraded, not
refused**: the identity is created PROV without them, and the answer says what was not taken
(OperationOutcome warning issues; see the router for how they travel). Refusing would make every
client strip fields that FR Core lets it send; silently dropping them would hide the downgrade.
Attributes in ``comment`` (DOUT, FICT, HOMA, HOMD…) are applied; DESA (set only by a merge) is
not. Elements a local identity does not hold (telecom, address, NSS…) are listed in a warning.

Reading both FR Core encodings (``reliability_from_fhir``): the current composite extension and
the older generations (FR Core 1.x/2.0/2.1 ``identityStatus`` coded in ``fr-core-cs-v2-0445`` /
``fr-core-v2-0445`` / ``fr-core-fiabilite-identite``, with ``dateCollection`` and ``comment`` as
a Coding; InteropSanté ``FrPatientIdentReliability`` and the 2022 draft
``fr-core-patient-insi-identity-reliability``, whose sub-extension is ``identityReliability``).
Old codes: ``VIDE`` → PROV; ``VALI`` with an INS identifier (INS-NIR/NIA, or the test and demo
OIDs) → QUAL, since FR Core Patient-INS then fixed the status of a qualified INS to VALI;
``VALI`` without → VALI; attribute codes of table 0445 used as a status (DOUT, FICT…) →
attributes. Sources: hl7.fhir.fr.core ``FRCorePatientIdentityReliabilityExtension.fsh``,
``FRCoreCodeSystemIdentityStatus.fsh``, ``FRCoreCodeSystemv2-0445.fsh``, ``FrCorePatientINS.fsh``
(domain.md §2.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from carnet.exceptions import AppError, BadRequest, ValidationFailed
from carnet.fhir.outcomes import invalid_resource, located
from carnet.fhir.resources.patient import (
    GENDERS,
    birth_place_extension,
    fhir_partial_date,
    patient_names,
)
from carnet.fhir.search import Params, parse_token, single, split_or
from carnet.fhir.systems import (
    CS_IDENTIFIER_TYPE,
    CS_IDENTITY_STATUS,
    CS_METHOD_COLLECTION,
    EXT_ADDRESS_INSEE_CODE,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_IDENTITY_RELIABILITY,
    FR_CORE,
    PROFILE_PATIENT,
    PROFILE_PATIENT_INS,
    SYSTEM_INS_NIA,
    SYSTEM_INS_NIR,
)
from carnet.identity.oids import KIND_BY_OID
from carnet.identity.traits import normalise_first_names
from carnet.vigilance import schemas
from carnet.vigilance.service import ATTRIBUTES, INCOMPATIBLE, SET_BY_MERGE

PARIS = ZoneInfo("Europe/Paris")

Status = Literal["PROV", "RECUP", "VALI", "QUAL"]
STATUSES: tuple[Status, ...] = ("PROV", "RECUP", "VALI", "QUAL")

# -- systems ---------------------------------------------------------------------------------------
CS_IDENTITY_STATUS_COMMENT = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status-comment"
CS_VALIDATION_MODE = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
CS_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
SYSTEM_INS_NIR_TEST = "urn:oid:1.2.250.1.213.1.4.10"
SYSTEM_INS_NIR_DEMO = "urn:oid:1.2.250.1.213.1.4.11"
INS_SYSTEMS = frozenset({SYSTEM_INS_NIR, SYSTEM_INS_NIA, SYSTEM_INS_NIR_TEST, SYSTEM_INS_NIR_DEMO})

# Older generations of the reliability extension (see the module docstring).
EXT_RELIABILITY_INTEROPSANTE = (
    "http://interopsante.org/fhir/StructureDefinition/FrPatientIdentReliability"
)
EXT_RELIABILITY_INSI_2022 = (
    f"{FR_CORE}/StructureDefinition/fr-core-patient-insi-identity-reliability"
)
RELIABILITY_EXTENSIONS = frozenset(
    {EXT_IDENTITY_RELIABILITY, EXT_RELIABILITY_INTEROPSANTE, EXT_RELIABILITY_INSI_2022}
)
# Code systems of the older encoding: HL7 v2 table 0445 as profiled by Interop'Santé, under the
# names it had over the versions (the last path segment is compared, whatever the base).
LEGACY_STATUS_SYSTEM_IDS = frozenset(
    {
        "fr-core-cs-v2-0445",
        "fr-core-v2-0445",
        "fr-core-fiabilite-identite",
        "fr-core-cs-fiabilite-identite",
        "fr-v2-0445",
    }
)

STATUS_DISPLAY: dict[str, str] = {
    "PROV": "Identité provisoire",
    "RECUP": "Identité récupérée",
    "VALI": "Identité validée",
    "QUAL": "Identité qualifiée",
}
METHOD_DISPLAY: dict[str, str] = {
    "SM": "Saisie manuelle",
    "CV": "Carte Vitale",
    "INSI": "Téléservice INSi",
    "CB": "Code à barre",
    "RFID": "Puce RFID",
    "AV": "Application carte Vitale",
}
VALIDATION_MODE_DISPLAY: dict[str, str] = {
    "CN": "Carte nationale d'identité",
    "PA": "Passeport",
    "CS": "Carte de séjour",
    "eCN": "e-carte d'identité",
    "IN": "Identité Numérique La Poste",
    "AV": "Application Carte Vitale",
    "LECV": "Livret de famille, accompagné de la carte Vitale avec photographie",
    "AN": "Extrait d'acte de naissance",
    "LEP": "Livret de famille des parents",
    "CC": "Carnet de circulation",
    "ANCV": "Acte de naissance, accompagné de la carte Vitale avec photographie",
}
COMMENT_DISPLAY: dict[str, str] = {
    "DOUT": "Identité douteuse",
    "FICT": "Identité fictive",
    "HOMA": "Homonyme avéré",
    "HOMD": "Homonyme détecté",
    "DOUB": "Doublon",
    "DPOT": "Doublon potentiel",
    "DOUA": "Doublon avéré",
    "COLP": "Collision potentielle",
    "COLV": "Collision avérée",
    "DESA": "Identité désactivée",
    "USUR": "Identité usurpée",
    "INVA": "Identité invalidée",
    "CACH": "Identité cachée",
    "ANOM": "Anonyme",
    "FILI": "Filiation",
    "IDVER": "Identité vérifiée par le patient",
    "RECD": "Identité reçue d'un autre domaine",
    "IDRA": "Identité rapprochée dans un autre domaine",
}
SEXES = {"male": "M", "female": "F"}
INS_TYPES = {
    "NIR": ("INS-NIR", "NIR définitif", "official"),
    "NIA": ("INS-NIA", "NIR temporaire", "temp"),
}
# Elements of a Patient that a local identity holds (the others are reported as not stored).
_READ_ELEMENTS = frozenset({"extension", "identifier", "name", "gender", "birthDate"})
_IGNORED_SILENTLY = frozenset(
    {"resourceType", "id", "meta", "text", "language", "implicitRules", "active"}
)


def ipp_system(structure_id: int) -> str:
    """The identifier system of a structure's IPP (local patient identifier)."""
    return f"urn:carnet:structure:{structure_id}:ipp"


def structure_base(fhir_base: str, structure_id: int) -> str:
    """The FHIR base of a structure's local identities (``…/fhir/structures/{id}``)."""
    return f"{fhir_base}/structures/{structure_id}"


# -- reading the identity-reliability extension (both encodings) -----------------------------------


class Reliability(NamedTuple):
    """What a Patient says about its identity reliability, mapped to the current FR Core codes.

    ``status`` is the claimed RNIV status (None when the Patient states none), ``claimed`` the
    status as the client coded it (``"VALI + INS identifier (older FR Core encoding)"``),
    ``encoding`` which generation was read, ``notes`` what was ignored (unknown extensible codes).
    """

    status: Status | None
    attributes: tuple[str, ...]
    validation_mode: str | None
    validation_date: date | None
    method_collection: str | None
    insi_date: date | None
    encoding: Literal["current", "legacy"] | None
    claimed: str | None
    notes: tuple[str, ...]


def _invalid(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{path}: {message}",
        code="invalid_resource",
        details=[{"field": path, "message": f"{path}: {message}"}],
    )


def _coding(sub: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The Coding of a sub-extension (valueCoding, or the first coding of a CodeableConcept)."""
    if isinstance(sub.get("valueCoding"), dict):
        return sub["valueCoding"], f"{path}.valueCoding"
    concept = sub.get("valueCodeableConcept")
    if isinstance(concept, dict):
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")]
        if codings:
            return codings[0], f"{path}.valueCodeableConcept.coding[0]"
    raise _invalid(path, "a Coding is expected (valueCoding or valueCodeableConcept)")


def _codings(sub: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    """Every Coding of a comment (a CodeableConcept today, a Coding in the older encoding)."""
    if isinstance(sub.get("valueCoding"), dict):
        return [(sub["valueCoding"], f"{path}.valueCoding")]
    concept = sub.get("valueCodeableConcept")
    if isinstance(concept, dict):
        return [
            (c, f"{path}.valueCodeableConcept.coding[{i}]")
            for i, c in enumerate(concept.get("coding") or [])
            if isinstance(c, dict)
        ]
    raise _invalid(path, "a CodeableConcept (or a Coding) is expected")


def _date_value(sub: dict[str, Any], path: str) -> date | None:
    raw = sub.get("valueDate") or sub.get("valueDateTime")
    if raw is None and isinstance(sub.get("valuePeriod"), dict):  # validationDateIdentity (2022)
        raw = sub["valuePeriod"].get("start")
    if not isinstance(raw, str):
        raise _invalid(path, "a date is expected (valueDate)")
    text = raw[:10]
    if len(text) < 10:
        return None  # a partial date (YYYY or YYYY-MM) cannot be a day of retrieval or check
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise _invalid(path, f"{raw!r} is not a date") from exc


def _system_id(system: Any) -> str:
    return str(system or "").rstrip("/").rsplit("/", 1)[-1]


def _has_ins_identifier(patient: dict[str, Any]) -> bool:
    return any(
        isinstance(i, dict) and i.get("system") in INS_SYSTEMS and i.get("value")
        for i in patient.get("identifier") or []
    )


@dataclass
class _Reading:
    statuses: list[tuple[str, str, str]] = field(default_factory=list)  # (status, claimed, path)
    attributes: list[tuple[str, str]] = field(default_factory=list)  # (code, path)
    validation_mode: str | None = None
    validation_date: date | None = None
    method: str | None = None
    insi_date: date | None = None
    legacy: bool = False
    notes: list[str] = field(default_factory=list)


def _read_status(coding: dict[str, Any], path: str, reading: _Reading, ins: bool) -> None:
    code = str(coding.get("code") or "").strip()
    system = coding.get("system")
    if system == CS_IDENTITY_STATUS:
        if code not in STATUSES:
            raise _invalid(
                path, f"{code!r} is not in fr-core-cs-identity-status (PROV|RECUP|VALI|QUAL)"
            )
        reading.statuses.append((code, code, path))
        return
    if system is not None and _system_id(system) not in LEGACY_STATUS_SYSTEM_IDS:
        raise _invalid(
            path,
            f"code system {system!r} is not an FR Core identity status system (expected "
            f"{CS_IDENTITY_STATUS}, or fr-core-cs-v2-0445 / fr-core-fiabilite-identite)",
        )
    reading.legacy = True
    upper = code.upper()
    if upper == "VIDE":
        reading.statuses.append(("PROV", "VIDE", path))
    elif upper == "VALI":
        if ins:
            reading.statuses.append(
                ("QUAL", "VALI + INS identifier (older FR Core encoding)", path)
            )
        else:
            reading.statuses.append(("VALI", "VALI", path))
    elif upper in STATUSES:
        reading.statuses.append((upper, upper, path))
    elif upper in ATTRIBUTES:
        reading.attributes.append((upper, path))  # table 0445 carried attributes as statuses
    else:
        raise _invalid(path, f"{code!r} is not an identity status of the v2-0445 table")


def _read_comment(coding: dict[str, Any], path: str, reading: _Reading) -> None:
    code = str(coding.get("code") or "").strip().upper()
    system = coding.get("system")
    known_system = system is None or system == CS_IDENTITY_STATUS_COMMENT
    if not known_system and _system_id(system) not in LEGACY_STATUS_SYSTEM_IDS:
        reading.notes.append(f"{path}: code system {system} is not read (comment ignored)")
        return
    if code == "VIDE":
        return  # "not yet qualified": a status of the older table, nothing to apply
    if code in ATTRIBUTES:
        reading.attributes.append((code, path))
    else:
        reading.notes.append(f"{path}: {code!r} is not a known identity attribute (ignored)")


def _read_extension(ext: dict[str, Any], path: str, reading: _Reading, ins: bool) -> None:
    if ext.get("url") != EXT_IDENTITY_RELIABILITY:
        reading.legacy = True
    subs = ext.get("extension")
    if not isinstance(subs, list) or not subs:
        raise _invalid(path, "the identity-reliability extension has no sub-extension")
    for index, sub in enumerate(subs):
        sub_path = f"{path}.extension[{index}]"
        if not isinstance(sub, dict):
            raise _invalid(sub_path, "an extension is expected")
        url = sub.get("url")
        if url in ("identityStatus", "identityReliability", "identityreliability"):
            coding, coding_path = _coding(sub, sub_path)
            _read_status(coding, coding_path, reading, ins)
        elif url == "comment":
            for coding, coding_path in _codings(sub, sub_path):
                _read_comment(coding, coding_path, reading)
        elif url == "methodCollection":
            coding, coding_path = _coding(sub, sub_path)
            code = str(coding.get("code") or "").strip().upper()
            if code in METHOD_DISPLAY:
                reading.method = code
            else:
                reading.notes.append(f"{coding_path}: method {code!r} is not known (ignored)")
        elif url == "validationMode":
            coding, coding_path = _coding(sub, sub_path)
            code = str(coding.get("code") or "").strip()
            known = {c.upper(): c for c in VALIDATION_MODE_DISPLAY}
            if code.upper() not in known:
                raise _invalid(
                    coding_path,
                    f"{code!r} is not in fr-core-vs-mode-validation-identity "
                    f"({', '.join(VALIDATION_MODE_DISPLAY)})",
                )
            reading.validation_mode = known[code.upper()]
        elif url in ("validationDate", "validationDateIdentity"):
            reading.validation_date = _date_value(sub, sub_path)
        elif url in ("dateInterrogationINSi", "dateCollection"):
            reading.insi_date = _date_value(sub, sub_path)
            if url == "dateCollection":
                reading.legacy = True
        else:
            reading.notes.append(f"{sub_path}: sub-extension {url!r} is not read")


def reliability_from_fhir(patient: dict[str, Any]) -> Reliability:
    """The identity reliability a Patient JSON states, in either FR Core encoding.

    Reads every identity-reliability extension of ``patient`` (current ``fr-core-identity-
    reliability`` with ``fr-core-cs-identity-status``, or the older encodings: see the module
    docstring) and maps it to the current codes: ``VIDE`` → PROV, old ``VALI`` + an INS identifier
    → QUAL. Raises ``ValidationFailed`` naming the element (``Patient.extension[0].extension[1]…``)
    for an unknown status or validation mode (required bindings), two different statuses, FICT
    with DOUT, or DOUT/FICT with another status than PROV (FR Core fr-core-identity-reliability-1
    and -2); unknown codes of extensible bindings are left out and reported in ``notes``.
    """
    reading = _Reading()
    ins = _has_ins_identifier(patient)
    found = False
    for index, ext in enumerate(patient.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") in RELIABILITY_EXTENSIONS:
            found = True
            _read_extension(ext, f"Patient.extension[{index}]", reading, ins)
    if not found:
        return Reliability(None, (), None, None, None, None, None, None, ())

    statuses = {status for status, _claimed, _path in reading.statuses}
    if len(statuses) > 1:
        raise _invalid(
            reading.statuses[1][2],
            f"several identity statuses ({', '.join(sorted(statuses))}): the RNIV statuses are "
            "mutually exclusive",
        )
    status: Status | None = None
    claimed = None
    if reading.statuses:
        first, claimed, _path = reading.statuses[0]
        status = first  # type: ignore[assignment]  # one of STATUSES by construction
    codes: list[str] = []
    for code, _path in reading.attributes:
        if code not in codes:
            codes.append(code)
    where = reading.attributes[0][1] if reading.attributes else ""
    if "FICT" in codes and "DOUT" in codes:
        raise _invalid(where, "FICT and DOUT cannot be combined (fr-core-identity-reliability-2)")
    locked = next((c for c in ("DOUT", "FICT") if c in codes), None)
    if locked and status is not None and status != "PROV" and not reading.legacy:
        raise _invalid(
            where,
            f"an identity marked {locked} must have the status PROV, not {status} "
            "(fr-core-identity-reliability-1, RNIV EXI SI 09)",
        )
    if status is None and reading.legacy and codes:
        status = "PROV"  # older table: an attribute given as the status of a non-qualified identity
    return Reliability(
        status=status,
        attributes=tuple(codes),
        validation_mode=reading.validation_mode,
        validation_date=reading.validation_date,
        method_collection=reading.method,
        insi_date=reading.insi_date,
        encoding="legacy" if reading.legacy else "current",
        claimed=claimed,
        notes=tuple(reading.notes),
    )


# -- input: a Patient to create --------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """A warning about what a create did not take, for the OperationOutcome of the answer."""

    code: Literal["business-rule", "informational"]
    text: str
    expression: str | None = None

    def as_issue(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "warning",
            "code": self.code,
            "details": {"text": self.text},
            "diagnostics": self.text,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


# Stands for the id of the identity being created in the warnings (known once it is created).
IDENTITY_ID = "{id}"


@dataclass
class LocalPatientInput:
    """What a POSTed Patient creates, what was not taken, and where each field came from."""

    body: schemas.LocalIdentityCreate
    reliability: Reliability
    warnings: list[Issue]
    paths: dict[str, str]

    def warnings_for(self, identity_id: int) -> list[Issue]:
        """The warnings, naming the identity created."""
        return [
            Issue(w.code, w.text.replace(IDENTITY_ID, str(identity_id)), w.expression)
            for w in self.warnings
        ]

    def relabel(self, error: AppError) -> AppError:
        """A service error naming a field (``birth_date: …``) renamed to its FHIR element."""
        detail_field = str(error.details[0].get("field", "")) if error.details else ""
        name = detail_field or error.message.split(":", 1)[0]
        path = self.paths.get(name.split("[", 1)[0].split(".", 1)[0])
        if path is None:
            return error
        prefix = f"{name}:"
        if error.message.startswith(prefix):
            error.message = f"{path}:{error.message[len(prefix) :]}"
        error.details = [{"field": path, "message": error.message}]
        return error


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(path, "a non-empty string is expected")
    return value


def _flat(names: list[str]) -> str:
    return " ".join(names).replace("-", " ")


def _official_name(patient: dict[str, Any], paths: dict[str, str]) -> tuple[str, str | list[str]]:
    names = patient.get("name") or []
    official = [(i, n) for i, n in enumerate(names) if n.get("use") == "official"]
    if len(official) != 1:
        raise _invalid(
            "Patient.name",
            f"exactly one official name (use = official: birth name and birth first names) is "
            f"required, {len(official)} found",
        )
    index, name = official[0]
    base = f"Patient.name[{index}]"
    paths["birth_name"] = f"{base}.family"
    family = _text(name.get("family"), f"{base}.family")
    given = name.get("given") or []
    lists = [
        (i, e)
        for i, e in enumerate(name.get("extension") or [])
        if e.get("url") == EXT_BIRTH_LIST_GIVEN_NAME
    ]
    if len(lists) > 1:
        raise _invalid(f"{base}.extension", "birth-list-given-name is given more than once")
    if lists:
        list_path = f"{base}.extension[{lists[0][0]}].valueString"
        paths["first_names"] = list_path
        first_names = _text(lists[0][1].get("valueString"), list_path)
        if given:
            given_path = f"{base}.given[0]"
            spoken = _flat(normalise_first_names(_text(given[0], given_path), field=given_path))
            listed = _flat(normalise_first_names(first_names, field=list_path))
            if listed != spoken and not listed.startswith(spoken + " "):
                raise _invalid(
                    given_path,
                    f"{given[0]!r} is not the first birth first name of birth-list-given-name "
                    f"({first_names!r})",
                )
        return family, first_names
    if not given:
        raise _invalid(
            f"{base}.given", "the birth first names are required (given or birth-list-given-name)"
        )
    paths["first_names"] = f"{base}.given"
    return family, [_text(g, f"{base}.given[{i}]") for i, g in enumerate(given)]


def _usual_name(
    patient: dict[str, Any], paths: dict[str, str], warnings: list[Issue]
) -> tuple[str | None, str | None]:
    used_name = used_first = None
    taken = False
    for index, name in enumerate(patient.get("name") or []):
        use = name.get("use")
        base = f"Patient.name[{index}]"
        if use == "official":
            continue
        if use != "usual" or taken:
            warnings.append(
                Issue(
                    "informational",
                    f"{base}: a name with use {use or '(none)'} is not stored (a local identity "
                    "holds the official name and one usual name)",
                    base,
                )
            )
            continue
        taken = True
        if name.get("family"):
            used_name = _text(name["family"], f"{base}.family")
            paths["used_name"] = f"{base}.family"
        given = name.get("given") or []
        if given:
            used_first = _text(given[0], f"{base}.given[0]")
            paths["used_first_name"] = f"{base}.given[0]"
            if len(given) > 1:
                warnings.append(
                    Issue(
                        "informational",
                        f"{base}.given: only the first used first name is stored",
                        f"{base}.given",
                    )
                )
    return used_name, used_first


def _birth_place(
    patient: dict[str, Any], paths: dict[str, str], warnings: list[Issue]
) -> str | None:
    places = [
        (i, e)
        for i, e in enumerate(patient.get("extension") or [])
        if e.get("url") == EXT_BIRTH_PLACE
    ]
    if len(places) > 1:
        raise _invalid("Patient.extension", "patient-birthPlace is given more than once")
    if not places:
        return None
    index, ext = places[0]
    base = f"Patient.extension[{index}]"
    address = ext.get("valueAddress") or {}
    for sub_index, sub in enumerate(address.get("extension") or []):
        if sub.get("url") == EXT_ADDRESS_INSEE_CODE:
            path = f"{base}.valueAddress.extension[{sub_index}]"
            coding = sub.get("valueCoding") or {}
            code = _text(coding.get("code"), f"{path}.valueCoding.code")
            paths["birth_place"] = f"{path}.valueCoding.code"
            return code
    warnings.append(
        Issue(
            "informational",
            f"{base}: the birth place has no INSEE code (fr-core-address-insee-code) and is not "
            "stored",
            base,
        )
    )
    return None


def _ipp(
    patient: dict[str, Any], structure_id: int, paths: dict[str, str], warnings: list[Issue]
) -> tuple[str | None, bool]:
    """The IPP in this structure's system, and whether an INS identifier was sent."""
    own = ipp_system(structure_id)
    ipp = None
    ins = False
    for index, identifier in enumerate(patient.get("identifier") or []):
        path = f"Patient.identifier[{index}]"
        system = identifier.get("system")
        codes = [
            (c.get("system"), c.get("code"))
            for c in (identifier.get("type") or {}).get("coding") or []
        ]
        if system in INS_SYSTEMS:
            ins = True
        elif system == own and identifier.get("use") != "old":
            if ipp is not None:
                raise _invalid(path, "a local identity has one IPP; it is given more than once")
            ipp = _text(identifier.get("value"), f"{path}.value")
            paths["ipp"] = f"{path}.value"
        elif (CS_V2_0203, "PI") in codes and identifier.get("use") != "old":
            raise _invalid(
                f"{path}.system",
                f"the IPP of this structure has the system {own}, not {system!r}",
            )
        else:
            warnings.append(
                Issue(
                    "informational",
                    f"{path}: identifier {system or '(no system)'} is not stored",
                    path,
                )
            )
    return ipp, ins


def _reliability_warnings(
    reliability: Reliability, ins_sent: bool, structure_id: int, where: str
) -> list[Issue]:
    warnings: list[Issue] = []
    api = f"/api/v1/structures/{structure_id}/identities/{IDENTITY_ID}"
    if reliability.status not in (None, "PROV"):
        claimed = reliability.claimed or reliability.status
        if claimed != reliability.status:
            claimed = f"{claimed}, read as {reliability.status},"
        warnings.append(
            Issue(
                "business-rule",
                f"identityReliability: the claimed status {claimed} was not taken: the identity "
                "is created PROV. Under the RNIV its status comes only from this structure's own "
                f"INSi retrieval (POST {api}/insi-retrieval) and document check "
                f"(POST {api}/document-check)",
                where,
            )
        )
    taken_nothing = [
        name
        for name, value in (
            ("validationMode", reliability.validation_mode),
            ("validationDate", reliability.validation_date),
            ("dateInterrogationINSi", reliability.insi_date),
        )
        if value is not None
    ]
    if taken_nothing:
        warnings.append(
            Issue(
                "business-rule",
                f"identityReliability: {', '.join(taken_nothing)} not recorded: record the "
                f"document check (POST {api}/document-check) and the INSi retrieval "
                f"(POST {api}/insi-retrieval) on the created identity",
                where,
            )
        )
    if reliability.method_collection == "INSI":
        warnings.append(
            Issue(
                "business-rule",
                "identityReliability: methodCollection INSI not taken (INSI is set by this "
                "structure's own INSi retrieval); recorded as SM",
                where,
            )
        )
    if ins_sent:
        warnings.append(
            Issue(
                "business-rule",
                "identifier: the INS was not stored: a local identity holds the INS only once this "
                "structure has retrieved it from INSi and qualified the identity",
                "Patient.identifier",
            )
        )
    if SET_BY_MERGE in reliability.attributes:
        warnings.append(
            Issue(
                "business-rule",
                "identityReliability: DESA not applied (an identity is deactivated only by a "
                "merge into another one)",
                where,
            )
        )
    warnings.extend(Issue("informational", note) for note in reliability.notes)
    return warnings


def parse_local_patient(resource: Any, *, structure_id: int) -> LocalPatientInput:
    """A POSTed Patient as a local-identity creation (see the module docstring).

    Raises ``BadRequest`` (400) for a resource fhir.resources refuses, ``ValidationFailed`` (422)
    naming the element for one that breaks FR Core or the local-identity rules.
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        found = resource.get("resourceType") if isinstance(resource, dict) else type(resource)
        raise located(
            BadRequest(
                f"a Patient resource is expected (resourceType = Patient), not {found!r}",
                code="invalid_resource",
            ),
            "Patient.resourceType",
        )
    try:
        Patient.model_validate(resource)
    except ValidationError as exc:
        raise invalid_resource(exc.errors(), root="Patient") from exc
    if resource.get("modifierExtension"):
        raise _invalid(
            "Patient.modifierExtension",
            "modifier extensions are not understood by this server (FHIR: the resource is "
            "refused rather than misread)",
        )

    paths: dict[str, str] = {"sex": "Patient.gender", "birth_date": "Patient.birthDate"}
    warnings: list[Issue] = []
    birth_name, first_names = _official_name(resource, paths)
    used_name, used_first_name = _usual_name(resource, paths, warnings)
    gender = resource.get("gender")
    if gender is None:
        raise _invalid("Patient.gender", "required (male or female)")
    if gender not in SEXES:
        raise _invalid(
            "Patient.gender",
            f"{gender!r}: a local identity is male or female (the INS traits know no other sex)",
        )
    birth_date = resource.get("birthDate")
    if not birth_date:
        raise _invalid("Patient.birthDate", "required (YYYY-MM-DD, YYYY-MM or YYYY)")
    birth_place = _birth_place(resource, paths, warnings)
    ipp, ins_sent = _ipp(resource, structure_id, paths, warnings)

    reliability = reliability_from_fhir(resource)
    where = next(
        (
            f"Patient.extension[{i}]"
            for i, e in enumerate(resource.get("extension") or [])
            if e.get("url") in RELIABILITY_EXTENSIONS
        ),
        "Patient.extension",
    )
    paths["attributes"] = paths["attribute"] = paths["collection_method"] = where
    warnings.extend(_reliability_warnings(reliability, ins_sent, structure_id, where))
    attributes = [a for a in reliability.attributes if a != SET_BY_MERGE]
    for code, excluded in INCOMPATIBLE.items():
        clash = [c for c in excluded if c in attributes]
        if code in attributes and clash:
            raise _invalid(
                where,
                f"the attributes {code} and {clash[0]} cannot be combined (RNIV: among DOUT, "
                "FICT and HOMA only DOUT and HOMA may go together)",
            )
    method = reliability.method_collection
    if method in (None, "INSI"):
        method = "SM"

    for index, ext in enumerate(resource.get("extension") or []):
        url = ext.get("url")
        if url not in RELIABILITY_EXTENSIONS and url != EXT_BIRTH_PLACE:
            warnings.append(
                Issue(
                    "informational",
                    f"Patient.extension[{index}]: extension {url} is not stored",
                    f"Patient.extension[{index}]",
                )
            )
    others = sorted(set(resource) - _READ_ELEMENTS - _IGNORED_SILENTLY)
    if others:
        warnings.append(
            Issue(
                "informational",
                f"not stored in a local identity: {', '.join(others)}",
                f"Patient.{others[0]}",
            )
        )
    if resource.get("active") is False:
        warnings.append(
            Issue(
                "informational",
                "active = false not taken: an identity is deactivated only by a merge",
                "Patient.active",
            )
        )
    try:
        body = schemas.LocalIdentityCreate(
            birth_name=birth_name,
            first_names=first_names,
            sex=SEXES[gender],
            birth_date=birth_date,
            birth_place=birth_place,
            used_name=used_name,
            used_first_name=used_first_name,
            ipp=ipp,
            collection_method=method,
            attributes=attributes,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error.get("loc") else ""
        path = paths.get(name, "Patient")
        raise _invalid(path, str(error.get("msg", "invalid"))) from exc
    return LocalPatientInput(body=body, reliability=reliability, warnings=warnings, paths=paths)


# -- output: a local identity as an FR Core Patient ------------------------------------------------


def _reliability_extension(identity: schemas.LocalIdentity) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {
            "url": "identityStatus",
            "valueCoding": {
                "system": CS_IDENTITY_STATUS,
                "code": identity.status,
                "display": STATUS_DISPLAY[identity.status],
            },
        }
    ]
    if identity.collection_method:
        parts.append(
            {
                "url": "methodCollection",
                "valueCoding": {
                    "system": CS_METHOD_COLLECTION,
                    "code": identity.collection_method,
                    "display": METHOD_DISPLAY[identity.collection_method],
                },
            }
        )
    if identity.insi_retrieved_at is not None:
        moment = identity.insi_retrieved_at
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        parts.append(
            {
                "url": "dateInterrogationINSi",
                "valueDate": moment.astimezone(PARIS).date().isoformat(),
            }
        )
    if identity.validation_date is not None:
        parts.append({"url": "validationDate", "valueDate": identity.validation_date.isoformat()})
    if identity.validation_mode:
        parts.append(
            {
                "url": "validationMode",
                "valueCoding": {
                    "system": CS_VALIDATION_MODE,
                    "code": identity.validation_mode,
                    "display": VALIDATION_MODE_DISPLAY[identity.validation_mode],
                },
            }
        )
    for code in identity.attributes:
        coding = {"system": CS_IDENTITY_STATUS_COMMENT, "code": code}
        if code in COMMENT_DISPLAY:
            coding["display"] = COMMENT_DISPLAY[code]
        parts.append({"url": "comment", "valueCodeableConcept": {"coding": [coding]}})
    return {"url": EXT_IDENTITY_RELIABILITY, "extension": parts}


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_patient_resource(
    identity: schemas.LocalIdentity, *, structure_name: str | None = None
) -> dict[str, Any]:
    """The FR Core Patient of a local identity (see the module docstring)."""
    traits = identity.traits
    qualified = identity.status == "QUAL" and identity.ins is not None
    identifiers: list[dict[str, Any]] = []
    if identity.ipp:
        identifiers.append(
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": CS_V2_0203,
                            "code": "PI",
                            "display": "Patient internal identifier",
                        }
                    ]
                },
                "system": ipp_system(identity.structure_id),
                "value": identity.ipp,
            }
        )
    if qualified and identity.ins is not None:
        kind = KIND_BY_OID.get(identity.ins.oid, identity.ins.kind)
        type_code, display, use = INS_TYPES[kind]
        identifiers.append(
            {
                "use": use,
                "type": {
                    "coding": [
                        {"system": CS_IDENTIFIER_TYPE, "code": type_code, "display": display}
                    ]
                },
                "system": f"urn:oid:{identity.ins.oid}",
                "value": identity.ins.matricule,
            }
        )

    names = patient_names(
        birth_name=traits.birth_name,
        first_names=traits.first_names,
        first_names_text=" ".join(traits.first_names),
        used_name=identity.used_name,
        used_first_name=identity.used_first_name,
    )
    extensions: list[dict[str, Any]] = [_reliability_extension(identity)]
    if traits.birth_place:
        extensions.append(birth_place_extension(traits.birth_place))
    profiles = [PROFILE_PATIENT]
    if qualified and traits.birth_place:
        profiles.append(PROFILE_PATIENT_INS)

    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(identity.id),
        "meta": {
            "versionId": str(identity.version),
            "lastUpdated": _instant(identity.updated_at),
            "profile": profiles,
        },
        "extension": extensions,
    }
    if identifiers:
        resource["identifier"] = identifiers
    resource["active"] = identity.active
    resource["name"] = names
    resource["gender"] = GENDERS[traits.sex]
    resource["birthDate"] = fhir_partial_date(traits.birth_date)
    if structure_name:
        resource["managingOrganization"] = {"display": structure_name}
    if identity.merged_into_id is not None:
        resource["link"] = [
            {"other": {"reference": f"Patient/{identity.merged_into_id}"}, "type": "replaced-by"}
        ]
    return resource


# -- search ----------------------------------------------------------------------------------------

LOCAL_PAGE_DEFAULT = 20
LOCAL_PAGE_MAX = 100
LOCAL_OFFSET_MAX = 10_000
_BIRTHDATE_RE = re.compile(r"(?:eq)?(\d{4}(?:-\d{2}(?:-\d{2})?)?)", re.ASCII)


@dataclass(frozen=True)
class LocalSearch:
    """A Patient search on a structure's identities, in the terms of the vigilance service.

    ``ins`` set: a lookup by INS (``(oid, matricule)``), which finds QUAL identities only;
    ``impossible``: a criterion no identity can meet (a gender other than male/female, an
    identifier system this base does not hold); otherwise ``query``.
    """

    query: schemas.IdentitySearch | None
    ins: tuple[str | None, str] | None = None
    impossible: bool = False


def _bad(name: str, message: str) -> AppError:
    return located(BadRequest(f"{name}: {message}", code="invalid_search_parameter"), name)


def _one_value(used: Params, name: str) -> str | None:
    value = single(used, name)
    if value is None:
        return None
    alternatives = split_or(value)
    if len(alternatives) != 1:
        raise _bad(name, "give one value (alternatives separated by commas are not supported)")
    return alternatives[0]


def parse_local_search(used: Params, *, structure_id: int, count: int, offset: int) -> LocalSearch:
    """Translate the (checked) FHIR parameters into a vigilance search.

    ``family`` and ``family:exact`` match the birth or used name once normalised (accents, case,
    apostrophes: ``d’Artagnan`` finds ``D'ARTAGNAN``), ``phonetic`` the same names by sound (DUPOND
    finds DUPONT); ``given`` one birth first name; ``birthdate`` ``YYYY``, ``YYYY-MM`` or
    ``YYYY-MM-DD`` (eq only); ``gender`` male|female; ``identity-status`` PROV|RECUP|VALI|QUAL;
    ``identifier`` the IPP (``{ipp system}|value`` or a bare value) or the INS
    (``urn:oid:1.2.250.1.213.1.4.8|matricule`` or ``…4.9|…``), the latter alone.
    """
    identifier = _one_value(used, "identifier")
    family = _one_value(used, "family")
    exact_family = _one_value(used, "family:exact")
    phonetic = _one_value(used, "phonetic")
    given = _one_value(used, "given")
    birthdate = _one_value(used, "birthdate")
    gender = _one_value(used, "gender")
    status = _one_value(used, "identity-status")
    names = [v for v in (family, exact_family, phonetic) if v is not None]
    if len(names) > 1:
        raise _bad("family", "give one of family, family:exact and phonetic")
    impossible = False
    ipp = None
    if identifier is not None:
        system, value = parse_token(identifier)
        if not value:
            raise _bad("identifier", "a value is required (system|value)")
        if system in INS_SYSTEMS:
            others = [n for n, _v in used if n not in ("identifier", "_count", "_offset")]
            if others:
                raise _bad(
                    "identifier",
                    "an INS designates one person: search by INS alone (without "
                    f"{', '.join(sorted(set(others)))})",
                )
            oid = system.removeprefix("urn:oid:") if system else None
            return LocalSearch(query=None, ins=(oid, value))
        if system in (None, ipp_system(structure_id)):
            ipp = value
        else:
            impossible = True  # "|value" (no system) or another system: not held here
    sex = None
    if gender is not None:
        sex = SEXES.get(gender)
        if sex is None:
            if gender not in ("other", "unknown"):
                raise _bad("gender", f"{gender!r} is not male, female, other or unknown")
            impossible = True
    birth_date = None
    if birthdate is not None:
        match = _BIRTHDATE_RE.fullmatch(birthdate)
        if match is None:
            raise _bad(
                "birthdate",
                f"{birthdate!r}: expected YYYY, YYYY-MM or YYYY-MM-DD (prefix eq only)",
            )
        birth_date = match.group(1)
    state: Status | None = None
    if status is not None:
        system, code = parse_token(status)
        if system not in (None, CS_IDENTITY_STATUS) or code not in STATUSES:
            raise _bad(
                "identity-status",
                f"{status!r}: expected PROV, RECUP, VALI or QUAL (system {CS_IDENTITY_STATUS})",
            )
        state = code
    query = schemas.IdentitySearch(
        name=names[0] if names else None,
        exact=phonetic is None,
        first_name=given,
        birth_date=birth_date,
        sex=sex,
        status=state,
        ipp=ipp,
        # An identifier lookup also finds merged identities (with their replaced-by link).
        include_inactive=ipp is not None,
        limit=max(count, 1),
        offset=offset,
    )
    return LocalSearch(query=query, impossible=impossible)


SEARCH_FIELDS = {
    "name": "family",
    "first_name": "given",
    "birth_date": "birthdate",
    "sex": "gender",
    "ipp": "identifier",
}


def relabel_search_error(error: AppError) -> AppError:
    """A service error about a search field (``name: …``) renamed to the FHIR parameter."""
    detail_field = str(error.details[0].get("field", "")) if error.details else ""
    name = detail_field or error.message.split(":", 1)[0]
    parameter = SEARCH_FIELDS.get(name)
    if parameter is None:
        return error
    if error.message.startswith(f"{name}:"):
        error.message = f"{parameter}:{error.message[len(name) + 1 :]}"
    error.details = [{"field": parameter, "message": error.message}]
    return error
