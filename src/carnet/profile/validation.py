"""Checking a profile resource: fhir.resources (R4B) for structure, then the profile's own rules.

``check_resource`` takes the JSON a caller sent and returns the resource to store (normalised:
the space's Patient filled in where absent, the category of a vital sign or an advance directive
filled in) with the fields the table indexes, or raises ``ValidationFailed`` (422) listing every
problem with a FHIRPath-like location (``Observation.valueQuantity.code``).

Rules on top of the structure (fhir.resources checks no binding):
- the subject (or patient) is the space's ``Patient/{person id}``, every other ``Patient/...``
  reference too; ``contained``, ``text`` (narrative), ``implicitRules`` and ``modifierExtension``
  are refused (nothing unchecked is stored);
- required value sets (statuses, clinical and verification statuses, categories, Encounter
  class…) and the code systems of each main code (``codes.CODE_SYSTEMS``) with their code formats;
- Observations are the vital signs of ``codes.VITAL_SIGNS`` with their UCUM units and plausible
  values; a blood pressure is a panel with a systolic and a diastolic component;
- no date in the future (except the planned end of a current treatment), ends not before starts.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from carnet.exceptions import ValidationFailed
from carnet.profile import codes

PARIS = ZoneInfo("Europe/Paris")
# Clocks differ: a measurement taken "now" on a phone may be a few minutes ahead of the server.
CLOCK_SKEW = timedelta(minutes=5)
MAX_PROBLEMS = 30

_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_RE = re.compile(r"\+?[0-9 .()\-]{6,25}")
_FHIR_ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}", re.ASCII)
REFUSED_ELEMENTS = {
    "contained": "contained resources are not stored: reference resources of this space instead",
    "text": "narratives are not stored: the resource's elements are",
    "implicitRules": "implicit rules are not supported",
    "modifierExtension": "modifier extensions are not supported",
}


@dataclass(frozen=True, slots=True)
class Indexed:
    """What the table indexes for searches and the summary."""

    category: str | None
    code_system: str | None
    code: str | None
    effective_at: datetime | None
    status: str | None


@dataclass(frozen=True, slots=True)
class ProfileReference:
    """A reference to another profile resource, to be found in the same space."""

    path: str
    resource_type: str
    public_id: str


@dataclass(frozen=True, slots=True)
class CheckedResource:
    resource: dict[str, Any]  # without id and meta (the service sets them)
    index: Indexed
    references: tuple[ProfileReference, ...]


def invalid(resource_type: str, problems: list[tuple[str, str]]) -> ValidationFailed:
    details = [{"field": path, "message": f"{path}: {message}"} for path, message in problems]
    summary = "; ".join(d["message"] for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return ValidationFailed(
        f"invalid {resource_type}: {summary}{more}",
        code="invalid_resource",
        details=details[:MAX_PROBLEMS],
    )


def _fhir_model(resource_type: str) -> Any:
    module = import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _choice(loc: tuple[int | str, ...], message: str) -> str:
    """fhir.resources reports choice elements (``value[x]``: none or several given) on the
    object itself: name the choice, ``.occurrence[x]``."""
    names = re.findall(r"'([A-Za-z]+)'", message) if "from this list" in message else []
    if len(names) < 2:
        return ""
    stem = names[0]
    for name in names[1:]:
        while not name.startswith(stem):
            stem = stem[:-1]
    return f".{stem}[x]" if stem else ""


# -- dates ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moment:
    """A FHIR date or dateTime as the first instant it may mean (UTC) and its first day."""

    start: datetime
    first_day: date
    date_only: bool


def parse_moment(value: Any) -> Moment | None:
    if not isinstance(value, str):
        return None
    match = _DATETIME_RE.fullmatch(value)
    if match is not None:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        return Moment(moment.astimezone(UTC), moment.date(), False)
    match = _DATE_RE.fullmatch(value)
    if match is None:
        return None
    try:
        first = date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
    except ValueError:
        return None
    return Moment(datetime(first.year, first.month, first.day, tzinfo=UTC), first, True)


# -- the checker ----------------------------------------------------------------------------------


@dataclass
class _Checker:
    resource_type: str
    person_id: int
    now: datetime
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def today(self) -> date:
        return self.now.astimezone(PARIS).date()

    def add(self, path: str, message: str) -> None:
        self.problems.append(
            (f"{self.resource_type}.{path}" if path else self.resource_type, message)
        )

    # primitives

    def moment(
        self, resource: dict[str, Any], key: str, *, future_ok: bool = False
    ) -> Moment | None:
        value = resource.get(key)
        if value is None:
            return None
        return self.moment_value(value, key, future_ok=future_ok)

    def moment_value(self, value: Any, path: str, *, future_ok: bool = False) -> Moment | None:
        moment = parse_moment(value)
        if moment is None:
            self.add(path, f"{value!r} is not a FHIR date or dateTime (with a time zone)")
            return None
        if future_ok:
            return moment
        if (moment.date_only and moment.first_day > self.today) or (
            not moment.date_only and moment.start > self.now + CLOCK_SKEW
        ):
            self.add(path, f"{value} is in the future")
        return moment

    def period(
        self, resource: dict[str, Any], key: str, *, end_future_ok: bool = False
    ) -> Moment | None:
        value = resource.get(key)
        if not isinstance(value, dict):
            return None
        start = self.moment_value(value["start"], f"{key}.start") if "start" in value else None
        end = (
            self.moment_value(value["end"], f"{key}.end", future_ok=end_future_ok)
            if "end" in value
            else None
        )
        if start is not None and end is not None and end.start < start.start:
            self.add(f"{key}.end", "the end is before the start")
        return start

    def code(self, resource: dict[str, Any], key: str, allowed: frozenset[str]) -> str | None:
        value = resource.get(key)
        if value is None:
            return None
        if value not in allowed:
            self.add(key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
            return None
        return str(value)

    def coded_status(
        self,
        resource: dict[str, Any],
        key: str,
        system: str,
        allowed: frozenset[str],
    ) -> str | None:
        """A CodeableConcept bound to a required value set: one coding of ``system``."""
        concept = resource.get(key)
        if concept is None:
            return None
        found: str | None = None
        for i, coding in enumerate(concept.get("coding") or []):
            if coding.get("system") != system:
                self.add(f"{key}.coding[{i}].system", f"expected {system}")
            elif coding.get("code") not in allowed:
                self.add(
                    f"{key}.coding[{i}].code",
                    f"{coding.get('code')!r} is not one of {', '.join(sorted(allowed))}",
                )
            else:
                found = str(coding["code"])
        if found is None and not any(
            p[0].startswith(f"{self.resource_type}.{key}") for p in self.problems
        ):
            self.add(f"{key}.coding", f"a coding of {system} is required")
        return found

    def concept(
        self,
        resource: dict[str, Any],
        key: str,
        systems: frozenset[str] | None,
        *,
        required: bool,
    ) -> tuple[str | None, str | None]:
        """A main code: codings of the accepted systems (formats checked), or a text alone."""
        concept = resource.get(key)
        if concept is None:
            if required:
                self.add(key, "required")
            return None, None
        return self.concept_value(concept, key, systems)

    def concept_value(
        self, concept: dict[str, Any], path: str, systems: frozenset[str] | None
    ) -> tuple[str | None, str | None]:
        first: tuple[str | None, str | None] = (None, None)
        codings = concept.get("coding") or []
        for i, coding in enumerate(codings):
            system, value = coding.get("system"), coding.get("code")
            if not system or not value:
                self.add(f"{path}.coding[{i}]", "a coding needs a system and a code")
                continue
            if systems is not None and system not in systems:
                self.add(
                    f"{path}.coding[{i}].system",
                    f"{system!r} is not accepted here (use {', '.join(sorted(systems))})",
                )
                continue
            pattern = codes.CODE_FORMATS.get(system)
            if pattern is not None and not re.fullmatch(pattern, value, re.ASCII):
                self.add(f"{path}.coding[{i}].code", f"{value!r} is not a valid {system} code")
                continue
            if first == (None, None):
                first = (system, value)
        if not codings and not (concept.get("text") or "").strip():
            self.add(path, "a coding or a text is required")
        return first

    def subject(self, resource: dict[str, Any], key: str) -> None:
        expected = f"Patient/{self.person_id}"
        value = resource.get(key)
        if value is None:
            resource[key] = {"reference": expected}
            return
        reference = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(reference, str) or _reference_target(reference) != (
            "Patient",
            str(self.person_id),
        ):
            self.add(f"{key}.reference", f"must be {expected}, the patient of this health space")


def _reference_target(reference: str) -> tuple[str, str] | None:
    """``Type/id`` (relative or absolute, without ``_history``) → (type, id)."""
    parts = reference.split("?")[0].rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2:
        return None
    return parts[-2], parts[-1]


def _walk_references(
    node: Any, path: str, checker: _Checker, found: list[ProfileReference]
) -> None:
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            target = _reference_target(reference)
            if reference.startswith("#"):
                checker.problems.append(
                    (f"{path}.reference", "contained references are not stored")
                )
            elif target is None:
                checker.problems.append((f"{path}.reference", f"{reference!r} is not Type/id"))
            elif target[0] == "Patient" and target[1] != str(checker.person_id):
                checker.problems.append(
                    (
                        f"{path}.reference",
                        f"must be Patient/{checker.person_id}, the patient of this health space",
                    )
                )
            elif target[0] in codes.RESOURCE_TYPES:
                if _FHIR_ID_RE.fullmatch(target[1]) is None:
                    checker.problems.append((f"{path}.reference", f"{reference!r}: invalid id"))
                else:
                    found.append(ProfileReference(f"{path}.reference", target[0], target[1]))
        for key, value in node.items():
            _walk_references(value, f"{path}.{key}", checker, found)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk_references(item, f"{path}[{i}]", checker, found)


# -- per type -------------------------------------------------------------------------------------


def _defaults(resource_type: str, resource: dict[str, Any]) -> None:
    """Fill what a holder's form need not say (the code or the type implies it)."""
    if resource_type == "Condition" and "category" not in resource:
        resource["category"] = [
            {"coding": [{"system": codes.CS_CONDITION_CATEGORY, "code": "problem-list-item"}]}
        ]
    elif resource_type == "Observation" and "category" not in resource:
        resource["category"] = [
            {"coding": [{"system": codes.CS_OBSERVATION_CATEGORY, "code": "vital-signs"}]}
        ]
    elif resource_type == "Consent":
        resource.setdefault(
            "scope",
            {"coding": [{"system": codes.CS_CONSENT_SCOPE, "code": codes.CONSENT_SCOPE_ADR}]},
        )
        resource.setdefault(
            "category",
            [{"coding": [{"system": codes.LOINC, "code": codes.LOINC_ADVANCE_DIRECTIVE}]}],
        )
        if "policy" not in resource and "policyRule" not in resource:
            resource["policyRule"] = {"text": codes.ADVANCE_DIRECTIVE_RULE}


def _status(c: _Checker, resource: dict[str, Any]) -> str | None:
    return c.code(resource, "status", codes.STATUS[c.resource_type])


def _condition(c: _Checker, r: dict[str, Any]) -> Indexed:
    categories: list[str] = []
    for i, concept in enumerate(r.get("category") or []):
        for j, coding in enumerate(concept.get("coding") or []):
            if coding.get("system") == codes.CS_CONDITION_CATEGORY:
                if coding.get("code") in codes.CONDITION_CATEGORIES:
                    categories.append(str(coding["code"]))
                else:
                    c.add(
                        f"category[{i}].coding[{j}].code",
                        "expected problem-list-item or encounter-diagnosis",
                    )
    if not categories:
        c.add("category", f"a coding of {codes.CS_CONDITION_CATEGORY} is required")
    system, code = c.concept(r, "code", codes.CODE_SYSTEMS["Condition"], required=True)
    clinical = c.coded_status(
        r, "clinicalStatus", codes.CS_CONDITION_CLINICAL, codes.CONDITION_CLINICAL
    )
    verification = c.coded_status(
        r, "verificationStatus", codes.CS_CONDITION_VER, codes.CONDITION_VERIFICATION
    )
    if verification == "entered-in-error" and clinical is not None:
        c.add("clinicalStatus", "must be absent when the condition was entered in error")
    elif verification != "entered-in-error" and "clinicalStatus" not in r:
        c.add("clinicalStatus", "required unless the condition was entered in error")
    onset = c.moment(r, "onsetDateTime") or c.period(r, "onsetPeriod")
    abatement = c.moment(r, "abatementDateTime") or c.period(r, "abatementPeriod")
    if (abatement is not None or "abatementString" in r) and clinical in (
        "active",
        "recurrence",
        "relapse",
    ):
        c.add("clinicalStatus", "an abated condition is inactive, in remission or resolved")
    if onset is not None and abatement is not None and abatement.start < onset.start:
        c.add("abatementDateTime", "the abatement is before the onset")
    recorded = c.moment(r, "recordedDate")
    first = onset or recorded
    return Indexed(
        categories[0] if categories else None,
        system,
        code,
        first.start if first is not None else None,
        verification if verification == "entered-in-error" else clinical,
    )


def _procedure(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    system, code = c.concept(r, "code", codes.CODE_SYSTEMS["Procedure"], required=True)
    performed = c.moment(r, "performedDateTime") or c.period(r, "performedPeriod")
    return Indexed(None, system, code, performed.start if performed else None, status)


def _encounter(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    klass = r.get("class") or {}
    if klass.get("system") != codes.CS_ACT_CODE or klass.get("code") not in codes.HOSPITAL_CLASSES:
        c.add(
            "class",
            f"a hospital stay: {codes.CS_ACT_CODE} code "
            f"{', '.join(sorted(codes.HOSPITAL_CLASSES))}",
        )
    for i, concept in enumerate(r.get("reasonCode") or []):
        c.concept_value(concept, f"reasonCode[{i}]", codes.CODE_SYSTEMS["Condition"])
    start = c.period(r, "period")
    if start is None and not any(p[0].startswith("Encounter.period") for p in c.problems):
        c.add("period.start", "the start of the stay is required")
    return Indexed(
        klass.get("code"),
        codes.CS_ACT_CODE,
        klass.get("code"),
        start.start if start else None,
        status,
    )


def _medication_statement(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    if "medicationReference" in r:
        c.add("medicationReference", "code the medication (medicationCodeableConcept)")
    system, code = c.concept(
        r, "medicationCodeableConcept", codes.CODE_SYSTEMS["MedicationStatement"], required=True
    )
    ongoing = status in ("active", "intended", "on-hold")
    effective = c.moment(r, "effectiveDateTime") or c.period(
        r, "effectivePeriod", end_future_ok=ongoing
    )
    c.moment(r, "dateAsserted")
    return Indexed(None, system, code, effective.start if effective else None, status)


def _allergy(c: _Checker, r: dict[str, Any]) -> Indexed:
    clinical = c.coded_status(
        r, "clinicalStatus", codes.CS_ALLERGY_CLINICAL, codes.ALLERGY_CLINICAL
    )
    verification = c.coded_status(
        r, "verificationStatus", codes.CS_ALLERGY_VER, codes.ALLERGY_VERIFICATION
    )
    if verification == "entered-in-error" and "clinicalStatus" in r:
        c.add("clinicalStatus", "must be absent when the allergy was entered in error")
    elif verification != "entered-in-error" and "clinicalStatus" not in r:
        c.add("clinicalStatus", "required unless the allergy was entered in error")
    c.code(r, "type", codes.ALLERGY_TYPE)
    categories = r.get("category") or []
    for i, value in enumerate(categories):
        if value not in codes.ALLERGY_CATEGORY:
            c.add(
                f"category[{i}]",
                f"{value!r} is not one of {', '.join(sorted(codes.ALLERGY_CATEGORY))}",
            )
    c.code(r, "criticality", codes.ALLERGY_CRITICALITY)
    system, code = c.concept(r, "code", codes.CODE_SYSTEMS["AllergyIntolerance"], required=True)
    onset = c.moment(r, "onsetDateTime") or c.period(r, "onsetPeriod")
    recorded = c.moment(r, "recordedDate")
    c.moment(r, "lastOccurrence")
    for i, reaction in enumerate(r.get("reaction") or []):
        severity = reaction.get("severity")
        if severity is not None and severity not in codes.REACTION_SEVERITY:
            c.add(f"reaction[{i}].severity", "expected mild, moderate or severe")
        for j, concept in enumerate(reaction.get("manifestation") or []):
            c.concept_value(concept, f"reaction[{i}].manifestation[{j}]", frozenset({codes.SNOMED}))
        if "onset" in reaction:
            c.moment_value(reaction["onset"], f"reaction[{i}].onset")
    first = onset or recorded
    return Indexed(
        str(categories[0]) if categories and categories[0] in codes.ALLERGY_CATEGORY else None,
        system,
        code,
        first.start if first else None,
        verification if verification == "entered-in-error" else clinical,
    )


def _immunization(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    system, code = c.concept(r, "vaccineCode", codes.CODE_SYSTEMS["Immunization"], required=True)
    occurrence = None
    if "occurrenceDateTime" in r:
        occurrence = c.moment(r, "occurrenceDateTime")
    else:
        c.add("occurrenceDateTime", "the date of the injection is required")
    c.moment(r, "recorded")
    if "expirationDate" in r:
        c.moment_value(r["expirationDate"], "expirationDate", future_ok=True)
    return Indexed(None, system, code, occurrence.start if occurrence else None, status)


def _quantity(
    c: _Checker, quantity: Any, path: str, code: str, units: frozenset[str]
) -> float | None:
    if not isinstance(quantity, dict):
        c.add(path, "a valueQuantity is required")
        return None
    ok = True
    if quantity.get("system") != codes.UCUM:
        c.add(f"{path}.system", f"units are UCUM: {codes.UCUM}")
        ok = False
    unit = quantity.get("code")
    if unit not in units:
        c.add(
            f"{path}.code",
            f"{unit!r} is not a unit of LOINC {code} (use {', '.join(sorted(units))})",
        )
        ok = False
    value = quantity.get("value")
    if value is None:
        c.add(f"{path}.value", "required")
        return None
    if quantity.get("comparator") is not None:
        c.add(f"{path}.comparator", "a measurement is a value, not a bound")
    if ok:
        low, high = codes.RANGES[(code, str(unit))]
        if not low <= float(value) <= high:
            c.add(
                f"{path}.value", f"{value} {unit} is not a plausible value (expected {low}–{high})"
            )
    return float(value)


def _observation(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    codings = (r.get("code") or {}).get("coding") or []
    loinc = [coding.get("code") for coding in codings if coding.get("system") == codes.LOINC]
    vital = codes.VITAL_SIGNS.get(str(loinc[0])) if len(loinc) == 1 else None
    if vital is None:
        c.add(
            "code.coding",
            "one LOINC coding of a vital sign is required: "
            + ", ".join(f"{v.code} ({v.label})" for v in codes.VITAL_SIGNS.values()),
        )
    else:
        c.concept_value(r["code"], "code", None)
    category: str | None = None
    for i, concept in enumerate(r.get("category") or []):
        for j, coding in enumerate(concept.get("coding") or []):
            if coding.get("system") != codes.CS_OBSERVATION_CATEGORY:
                continue
            allowed = vital.categories if vital is not None else frozenset({"vital-signs"})
            if coding.get("code") in allowed:
                category = category or str(coding["code"])
            else:
                c.add(f"category[{i}].coding[{j}].code", f"expected {' or '.join(sorted(allowed))}")
    if category is None and not any(p[0].startswith("Observation.category") for p in c.problems):
        c.add("category", f"a coding of {codes.CS_OBSERVATION_CATEGORY} is required")
    effective = None
    if "effectiveDateTime" in r:
        effective = c.moment(r, "effectiveDateTime")
    else:
        c.add("effectiveDateTime", "the date and time of the measurement is required")
    for key in ("dataAbsentReason", "hasMember", "derivedFrom"):
        if key in r:
            c.add(key, "not supported for a measurement of the profile")
    value_keys = [k for k in r if k.startswith("value")]
    if vital is not None and vital.code == codes.BLOOD_PRESSURE:
        for key in value_keys:
            c.add(key, "a blood pressure panel has no value: its components carry them")
        _blood_pressure(c, r)
    elif vital is not None:
        for key in value_keys:
            if key != "valueQuantity":
                c.add(key, "a vital sign is a valueQuantity")
        if "component" in r:
            c.add("component", f"LOINC {vital.code} has no components")
        _quantity(c, r.get("valueQuantity"), "valueQuantity", vital.code, vital.units)
    return Indexed(
        category,
        codes.LOINC if vital is not None else None,
        vital.code if vital is not None else None,
        effective.start if effective else None,
        status,
    )


def _blood_pressure(c: _Checker, r: dict[str, Any]) -> None:
    values: dict[str, float | None] = {}
    for i, component in enumerate(r.get("component") or []):
        codings = (component.get("code") or {}).get("coding") or []
        loinc = [x.get("code") for x in codings if x.get("system") == codes.LOINC]
        code = str(loinc[0]) if len(loinc) == 1 else None
        if code not in codes.BP_COMPONENTS:
            c.add(f"component[{i}].code", f"expected LOINC {codes.SYSTOLIC} or {codes.DIASTOLIC}")
            continue
        if code in values:
            c.add(f"component[{i}].code", f"LOINC {code} is given twice")
            continue
        extra = [k for k in component if k.startswith("value") and k != "valueQuantity"]
        for key in extra:
            c.add(f"component[{i}].{key}", "a pressure is a valueQuantity")
        values[code] = _quantity(
            c,
            component.get("valueQuantity"),
            f"component[{i}].valueQuantity",
            code,
            frozenset({"mm[Hg]"}),
        )
    for code, label in codes.BP_COMPONENTS.items():
        if code not in values:
            c.add("component", f"the {label.lower()} (LOINC {code}) is required")
    systolic, diastolic = values.get(codes.SYSTOLIC), values.get(codes.DIASTOLIC)
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        c.add("component", "the systolic pressure must be higher than the diastolic pressure")


def _consent(c: _Checker, r: dict[str, Any]) -> Indexed:
    status = _status(c, r)
    scope = (r.get("scope") or {}).get("coding") or []
    if not any(
        x.get("system") == codes.CS_CONSENT_SCOPE and x.get("code") == codes.CONSENT_SCOPE_ADR
        for x in scope
    ):
        c.add("scope", f"advance directives: {codes.CS_CONSENT_SCOPE} code adr")
    if not any(
        x.get("system") == codes.LOINC and x.get("code") == codes.LOINC_ADVANCE_DIRECTIVE
        for concept in r.get("category") or []
        for x in concept.get("coding") or []
    ):
        c.add("category", f"advance directives: LOINC {codes.LOINC_ADVANCE_DIRECTIVE}")
    when = c.moment(r, "dateTime")
    attachment = r.get("sourceAttachment")
    if attachment is None and "sourceReference" not in r:
        c.add("sourceAttachment", "the directives are required (their text or a PDF)")
    if isinstance(attachment, dict):
        content_type = attachment.get("contentType")
        if content_type not in ("text/plain", "application/pdf"):
            c.add("sourceAttachment.contentType", "expected text/plain or application/pdf")
        if not attachment.get("data") and not attachment.get("url"):
            c.add("sourceAttachment", "give the directives (data, base64) or where they are (url)")
        if "creation" in attachment:
            c.moment_value(attachment["creation"], "sourceAttachment.creation")
    return Indexed(
        codes.CONSENT_SCOPE_ADR,
        codes.LOINC,
        codes.LOINC_ADVANCE_DIRECTIVE,
        when.start if when else None,
        status,
    )


def _related_person(c: _Checker, r: dict[str, Any]) -> Indexed:
    first: tuple[str | None, str | None] = (None, None)
    relationships = r.get("relationship") or []
    for i, concept in enumerate(relationships):
        for j, coding in enumerate(concept.get("coding") or []):
            system, code = coding.get("system"), coding.get("code")
            allowed = codes.CONTACT_ROLES.get(str(system))
            if allowed is None:
                c.add(
                    f"relationship[{i}].coding[{j}].system",
                    f"use {', '.join(sorted(codes.CONTACT_ROLES))}",
                )
            elif code not in allowed:
                c.add(f"relationship[{i}].coding[{j}].code", f"{code!r} is not a code of {system}")
            elif first == (None, None):
                first = (str(system), str(code))
    if first == (None, None) and not any(
        p[0].startswith("RelatedPerson.relationship") for p in c.problems
    ):
        c.add("relationship", "say who this person is (a coded relationship)")
    names = r.get("name") or []
    if not any(
        (n.get("family") or "").strip() or n.get("given") or (n.get("text") or "").strip()
        for n in names
    ):
        c.add("name", "a name is required")
    telecoms = r.get("telecom") or []
    if not telecoms:
        c.add("telecom", "a way to reach this person is required")
    for i, telecom in enumerate(telecoms):
        system, value = telecom.get("system"), (telecom.get("value") or "").strip()
        if system not in codes.TELECOM_SYSTEMS:
            c.add(f"telecom[{i}].system", f"expected {', '.join(sorted(codes.TELECOM_SYSTEMS))}")
        if telecom.get("use") is not None and telecom["use"] not in codes.TELECOM_USES:
            c.add(f"telecom[{i}].use", f"expected {', '.join(sorted(codes.TELECOM_USES))}")
        if not value:
            c.add(f"telecom[{i}].value", "required")
        elif system == "email" and _EMAIL_RE.fullmatch(value) is None:
            c.add(f"telecom[{i}].value", "not an e-mail address")
        elif system in ("phone", "sms", "fax") and (
            _PHONE_RE.fullmatch(value) is None or sum(ch.isdigit() for ch in value) < 6
        ):
            c.add(f"telecom[{i}].value", "not a telephone number")
    c.code(r, "gender", codes.GENDERS)
    if "birthDate" in r:
        c.moment(r, "birthDate")
    c.period(r, "period", end_future_ok=True)
    active = r.get("active")
    return Indexed(None, first[0], first[1], None, "inactive" if active is False else "active")


_CHECKS = {
    "Condition": _condition,
    "Procedure": _procedure,
    "Encounter": _encounter,
    "MedicationStatement": _medication_statement,
    "AllergyIntolerance": _allergy,
    "Immunization": _immunization,
    "Observation": _observation,
    "Consent": _consent,
    "RelatedPerson": _related_person,
}


def check_resource(
    resource_type: str, body: Any, *, person_id: int, now: datetime
) -> CheckedResource:
    """The resource to store and its index fields, or ``ValidationFailed`` naming each problem."""
    if not isinstance(body, dict):
        raise invalid(resource_type, [(resource_type, f"expected a {resource_type} JSON object")])
    if body.get("resourceType") != resource_type:
        raise invalid(
            resource_type,
            [
                (
                    f"{resource_type}.resourceType",
                    f"expected {resource_type!r}, got {body.get('resourceType')!r}",
                )
            ],
        )
    resource = copy.deepcopy(body)
    resource.pop("id", None)
    resource.pop("meta", None)
    checker = _Checker(resource_type, person_id, now)
    for key, reason in REFUSED_ELEMENTS.items():
        if key in resource:
            checker.add(key, reason)
    if checker.problems:
        raise invalid(resource_type, checker.problems)
    _defaults(resource_type, resource)
    checker.subject(resource, codes.SUBJECT_ELEMENT[resource_type])
    try:
        _fhir_model(resource_type).model_validate(resource)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:MAX_PROBLEMS]:
            loc = tuple(error.get("loc", ()))
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append((_path(resource_type, loc) + _choice(loc, message), message))
        raise invalid(resource_type, checker.problems + problems) from exc
    if checker.problems:  # the subject
        raise invalid(resource_type, checker.problems)
    index = _CHECKS[resource_type](checker, resource)
    found: list[ProfileReference] = []
    _walk_references(resource, resource_type, checker, found)
    if checker.problems:
        raise invalid(resource_type, checker.problems)
    return CheckedResource(resource, index, tuple(found))
