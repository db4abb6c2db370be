"""``Patient/$match`` with INSi semantics (FHIR R4 patient-operation-match, domain.md §3).

Input (a ``Parameters`` resource, or a bare Patient standing for the ``resource`` parameter):

* ``resource`` (1..1): a Patient with the birth name (``name`` with use ``official``, or without
  use), the birth first names (``given``, one or several, or the FR Core
  ``birth-list-given-name`` extension), ``gender`` (male|female), ``birthDate`` (``YYYY``,
  ``YYYY-MM`` or ``YYYY-MM-DD``) and optionally the birth place: an INSEE code in the
  ``patient-birthPlace`` extension's Address, as ``fr-core-address-insee-code`` or ``district``.
  ``Patient.address`` (the residence) is never read as a birth place. Identifiers are ignored.
* ``onlyCertainMatches`` (0..1 boolean), ``count`` (0..1 integer ≥ 1).

Lookup, through ``register_service.search`` (every probe is audited as ``ins.search``):

1. the full list of first names; 00 → a certain match; 02 → ambiguous, stop;
2. on 01 with several first names, each first name on its own, as INSi clients do. The result
   must stay unambiguous: the distinct identities answering 00 are collected, and
   * one identity whose birth first names include every first name given → certain match;
   * one identity lacking some of the first names given → a *probable* match (INSi would have
     answered 00 to the probe with that single first name, but the other first names contradict
     it), returned only when ``onlyCertainMatches`` is not true;
   * several identities → 02; none → 02 if a probe answered 02, else 01.

Output: a ``searchset`` Bundle. A match is an entry with ``search.mode = match``, ``search.score``
(1.0 certain, 0.8 probable) and the ``match-grade`` extension (certain|probable). 02 never
discloses the candidates, whatever ``onlyCertainMatches`` says (INSi never returns them): the
Bundle is empty (total 0). Every answer carries an OperationOutcome entry (``search.mode =
outcome``) whose issue is coded with the INSi response code (``urn:carnet:insi-response-code``:
00, 01, 02) and tells the caller what to do next (for 02: add the other first names, then the
birth place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fhir.resources.R4B.parameters import Parameters
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.exceptions import BadRequest, ValidationFailed
from carnet.fhir.outcomes import invalid_resource, located, outcome
from carnet.fhir.resources.patient import patient_resource
from carnet.fhir.search import match_entry, outcome_entry, searchset
from carnet.fhir.systems import (
    CS_INSI_RESPONSE,
    EXT_ADDRESS_INSEE_CODE,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_MATCH_GRADE,
)
from carnet.identity import schemas
from carnet.identity.service import (
    SEARCH_LABELS,
    RegisterEntry,
    person_id_for_matricule,
    register_service,
)
from carnet.identity.traits import normalise_name

Grade = Literal["certain", "probable"]
SCORES: dict[Grade, float] = {"certain": 1.0, "probable": 0.8}
PARAMETER_NAMES = ("resource", "onlyCertainMatches", "count")

# Register service fields → the Patient elements they came from.
FHIR_FIELDS = {
    "birth_name": "Patient.name.family",
    "first_name": "Patient.name.given",
    "sex": "Patient.gender",
    "birth_date": "Patient.birthDate",
    "birth_place": "Patient.extension[birthPlace]",
}


@dataclass(frozen=True)
class MatchRequest:
    family: str
    given: list[str]
    sex: str
    birth_date: str
    birth_place: str | None
    only_certain: bool = False
    count: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MatchResult:
    code: Literal["00", "01", "02"]
    entry: RegisterEntry | None = None
    grade: Grade | None = None
    probes: int = 1
    explanation: str = ""


# -- parsing -------------------------------------------------------------------------------------


def _missing(path: str, message: str) -> dict[str, str]:
    return {"field": path, "message": f"{path}: {message}"}


def parse_match_request(body: Any) -> MatchRequest:
    """Validate the $match input: 400 for a malformed request, 422 for missing traits."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a FHIR Parameters resource (a JSON object)")
    resource_type = body.get("resourceType")
    if resource_type == "Patient":
        body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": body}]}
    elif resource_type != "Parameters":
        raise located(
            BadRequest(
                f"the body must be a Parameters resource (or a Patient), not {resource_type!r}",
                code="invalid_resource",
            ),
            "resourceType",
        )
    parameters = body.get("parameter")
    if not isinstance(parameters, list) or not parameters:
        raise located(
            BadRequest(
                "Parameters.parameter: the 'resource' parameter (a Patient) is required",
                code="missing_parameter",
            ),
            "Parameters.parameter",
        )
    by_name: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, dict):
            raise BadRequest(f"Parameters.parameter[{index}]: must be an object")
        name = parameter.get("name")
        if name not in PARAMETER_NAMES:
            raise located(
                BadRequest(
                    f"Parameters.parameter[{index}].name: {name!r} is not a $match parameter "
                    f"(expected {', '.join(PARAMETER_NAMES)})",
                    code="unknown_parameter",
                ),
                f"Parameters.parameter[{index}].name",
            )
        by_name.setdefault(str(name), []).append((index, parameter))
    for name, occurrences in by_name.items():
        if len(occurrences) > 1:
            raise BadRequest(
                f"Parameters.parameter: {name!r} is given {len(occurrences)} times (0..1)",
                code="repeated_parameter",
            )
    if "resource" not in by_name:
        raise located(
            BadRequest(
                "Parameters.parameter: the 'resource' parameter (a Patient) is required",
                code="missing_parameter",
            ),
            "Parameters.parameter[resource]",
        )
    resource_index, resource_parameter = by_name["resource"][0]
    patient = resource_parameter.get("resource")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        got = patient.get("resourceType") if isinstance(patient, dict) else None
        raise located(
            BadRequest(
                f"Parameters.parameter[{resource_index}].resource: must be a Patient, not {got!r}",
                code="invalid_resource",
            ),
            f"Parameters.parameter[{resource_index}].resource",
        )
    try:
        Parameters.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        inner = [e for e in errors if e["loc"][:3] == ("parameter", resource_index, "resource")]
        if inner:
            raise invalid_resource(inner, root="Patient", strip=3) from exc
        raise invalid_resource(errors, root="Parameters") from exc

    only_certain = False
    if "onlyCertainMatches" in by_name:
        index, parameter = by_name["onlyCertainMatches"][0]
        if not isinstance(parameter.get("valueBoolean"), bool):
            raise BadRequest(
                f"Parameters.parameter[{index}]: onlyCertainMatches needs a valueBoolean",
                code="invalid_parameter",
            )
        only_certain = bool(parameter["valueBoolean"])
    count: int | None = None
    if "count" in by_name:
        index, parameter = by_name["count"][0]
        value = parameter.get("valueInteger", parameter.get("valuePositiveInt"))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BadRequest(
                f"Parameters.parameter[{index}]: count needs a valueInteger of at least 1",
                code="invalid_parameter",
            )
        count = value
    return _traits_from_patient(patient, only_certain=only_certain, count=count)


def _birth_place(patient: dict[str, Any], notes: list[str]) -> str | None:
    places = [e for e in patient.get("extension") or [] if e.get("url") == EXT_BIRTH_PLACE]
    if not places:
        return None
    if len(places) > 1:
        raise ValidationFailed(
            "Patient.extension[birthPlace]: given more than once (0..1)",
            code="invalid_birth_place",
            details=[_missing("Patient.extension[birthPlace]", "given more than once")],
        )
    address = places[0].get("valueAddress") or {}
    codes = [
        (e.get("valueCoding") or {}).get("code")
        for e in address.get("extension") or []
        if e.get("url") == EXT_ADDRESS_INSEE_CODE
    ]
    code = next((c for c in codes if c), None) or address.get("district")
    if not code:
        notes.append(
            "the birth place has no INSEE code (fr-core-address-insee-code or district): "
            "it was not used"
        )
        return None
    return str(code)


def _traits_from_patient(
    patient: dict[str, Any], *, only_certain: bool, count: int | None
) -> MatchRequest:
    problems: list[dict[str, str]] = []
    notes: list[str] = []
    names = patient.get("name") or []
    official = [n for n in names if n.get("use") == "official"]
    if len(official) > 1:
        problems.append(_missing("Patient.name", "several official (birth) names: give one"))
    candidates = official or [n for n in names if not n.get("use")]
    family = ""
    given: list[str] = []
    if not candidates:
        problems.append(
            _missing(
                "Patient.name",
                "a birth name is required (a name with use 'official', or without use)",
            )
        )
    else:
        name = candidates[0]
        family = (name.get("family") or "").strip()
        if not family:
            problems.append(_missing("Patient.name.family", "the birth name is required"))
        lists = [
            e.get("valueString", "")
            for e in name.get("extension") or []
            if e.get("url") == EXT_BIRTH_LIST_GIVEN_NAME and e.get("valueString")
        ]
        given_values = lists[0].split() if lists else list(name.get("given") or [])
        # One given may hold several first names ("Jean Pierre"): INSi takes them one by one.
        given = [part for value in given_values for part in str(value).split()]
        if not given:
            problems.append(
                _missing("Patient.name.given", "at least one birth first name is required")
            )
    gender = patient.get("gender")
    sex = {"male": "M", "female": "F"}.get(gender or "")
    if gender is None:
        problems.append(_missing("Patient.gender", "required (male or female)"))
    elif sex is None:
        problems.append(
            _missing("Patient.gender", f"{gender!r} cannot be searched: INS sexes are male, female")
        )
    birth_date = patient.get("birthDate")
    if not birth_date:
        problems.append(_missing("Patient.birthDate", "required (YYYY-MM-DD, YYYY-MM or YYYY)"))
    try:
        birth_place = _birth_place(patient, notes)
    except ValidationFailed as exc:
        problems.extend(exc.details)
        birth_place = None
    if problems:
        raise ValidationFailed(
            "; ".join(p["message"] for p in problems),
            code="missing_traits",
            details=problems,
        )
    return MatchRequest(
        family=family,
        given=given,
        sex=sex or "",
        birth_date=str(birth_date),
        birth_place=birth_place,
        only_certain=only_certain,
        count=count,
        notes=notes,
    )


# -- lookup --------------------------------------------------------------------------------------


def _fhir_field(field_name: str) -> str:
    base, bracket, rest = field_name.partition("[")
    mapped = FHIR_FIELDS.get(base, f"Patient.{base}")
    return mapped + (bracket + rest if bracket else "")


def _as_fhir_error(exc: ValidationFailed) -> ValidationFailed:
    """The register's trait errors, renamed to the Patient elements they came from."""
    details = []
    for detail in exc.details or []:
        path = _fhir_field(str(detail.get("field", "")))
        details.append({**detail, "field": path, "message": f"{path}: {detail.get('message')}"})
    message = "; ".join(d["message"] for d in details) if details else exc.message
    return ValidationFailed(message, code=exc.code, details=details)


def _probe(
    session: Session, principal: Principal, request: MatchRequest, first_names: list[str]
) -> schemas.InsSearchResponse:
    try:
        body = schemas.InsSearchRequest(
            birth_name=request.family,
            first_name=first_names if len(first_names) > 1 else first_names[0],
            sex=request.sex,
            birth_date=request.birth_date,
            birth_place=request.birth_place,
        )
    except ValidationError as exc:
        details = [
            {
                "field": _fhir_field(str(e["loc"][0]) if e.get("loc") else ""),
                "message": f"{_fhir_field(str(e['loc'][0]) if e.get('loc') else '')}: {e['msg']}",
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "; ".join(d["message"] for d in details), code="invalid_traits", details=details
        ) from exc
    try:
        return register_service.search(session, principal, body)
    except ValidationFailed as exc:
        raise _as_fhir_error(exc) from exc


def _entry(session: Session, identity: schemas.InsIdentity) -> RegisterEntry | None:
    person_id = person_id_for_matricule(session, identity.ins.matricule)
    return RegisterEntry(person_id, identity) if person_id is not None else None


def find_match(session: Session, principal: Principal, request: MatchRequest) -> MatchResult:
    """Run the INSi-like probes (see the module docstring); every probe is audited."""
    first = _probe(session, principal, request, request.given)
    if first.code == "00" and first.identity is not None:
        entry = _entry(session, first.identity)
        if entry is not None:
            return MatchResult("00", entry, "certain")
    if first.code == "02":
        return MatchResult("02", explanation=SEARCH_LABELS["02"])
    if len(request.given) == 1:
        return MatchResult("01", explanation=SEARCH_LABELS["01"])

    found: dict[str, schemas.InsIdentity] = {}
    several = False
    probes = 1
    for name in dict.fromkeys(_normalised(n) for n in request.given):  # distinct, in order
        probes += 1
        response = _probe(session, principal, request, [name])
        if response.code == "00" and response.identity is not None:
            found[response.identity.ins.matricule] = response.identity
        several = several or response.code == "02"
    if len(found) > 1:
        return MatchResult(
            "02",
            probes=probes,
            explanation="Several identities answer to different first names given: "
            "add the other birth first names, then the birth place",
        )
    if not found:
        code: Literal["01", "02"] = "02" if several else "01"
        return MatchResult(code, probes=probes, explanation=SEARCH_LABELS[code])
    identity = next(iter(found.values()))
    entry = _entry(session, identity)
    if entry is None:
        return MatchResult("01", probes=probes, explanation=SEARCH_LABELS["01"])
    registered = set(identity.traits.first_names)
    absent = [name for name in request.given if _normalised(name) not in registered]
    if not absent:
        return MatchResult("00", entry, "certain", probes=probes)
    return MatchResult(
        "00",
        entry,
        "probable",
        probes=probes,
        explanation="One identity answers to some of the first names given, but not to "
        f"{len(absent)} of them: check them against an identity document",
    )


def _normalised(first_name: str) -> str:
    try:
        return normalise_name(first_name, field="first_name")
    except ValidationFailed:
        return first_name


# -- answer --------------------------------------------------------------------------------------


def match_bundle(
    result: MatchResult,
    request: MatchRequest,
    *,
    base: str,
    self_url: str,
    retrieved_on: date,
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    returned = (
        result.entry is not None
        and result.grade is not None
        and (result.grade == "certain" or not request.only_certain)
        and (request.count is None or request.count >= 1)
    )
    if returned and result.entry is not None and result.grade is not None:
        entries.append(
            match_entry(
                f"{base}/Patient/{result.entry.person_id}",
                patient_resource(result.entry, retrieved_on=retrieved_on),
                score=SCORES[result.grade],
                extensions=[{"url": EXT_MATCH_GRADE, "valueCode": result.grade}],
            )
        )
    label = SEARCH_LABELS[result.code]
    if result.code == "00" and result.grade == "probable":
        text = result.explanation + (
            " (not returned: onlyCertainMatches is true)" if not returned else ""
        )
        severity: Literal["information", "warning"] = "warning"
    elif result.code == "00":
        text = f"INSi 00: {label}"
        severity = "information"
    else:
        text = f"INSi {result.code}: {result.explanation or label}"
        severity = "warning" if result.code == "02" else "information"
    if result.probes > 1:
        text += f" ({result.probes} probes: the full list of first names, then each one)"
    if request.notes:
        text += ". " + "; ".join(request.notes)
    issue_code = {"00": "informational", "01": "not-found", "02": "multiple-matches"}[result.code]
    if result.code == "00" and result.grade == "probable":
        issue_code = "informational"
    entries.append(
        outcome_entry(
            outcome(
                severity,
                issue_code,
                text,
                coding={"system": CS_INSI_RESPONSE, "code": result.code, "display": label},
            )
        )
    )
    total = sum(1 for e in entries if e["search"]["mode"] == "match")
    return searchset(self_url=self_url, entries=entries, total=total)
