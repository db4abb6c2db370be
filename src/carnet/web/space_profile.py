"""The medical profile's forms on the health-space pages: what a holder types ↔ FHIR R4 resources.

The holder enters the items they are expected to know (allergies, treatments, vaccinations,
measurements, advance directives) as plain text and numbers; each form becomes the FHIR resource
the profile service checks and stores (``profile_service.create`` / ``update``), exactly as the
REST API would receive it. Editing reads the stored resource back into the form's fields.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from carnet.profile import codes

PARIS = ZoneInfo("Europe/Paris")


def _(message: str) -> str:
    return message


@dataclass(frozen=True)
class Kind:
    slug: str  # in the page's URL
    resource_type: str
    title: str  # "Ajouter une allergie" (translated when shown)
    edit_title: str


KINDS: dict[str, Kind] = {
    k.slug: k
    for k in (
        Kind(
            "allergie", "AllergyIntolerance", _("Ajouter une allergie"), _("Modifier une allergie")
        ),
        Kind(
            "traitement",
            "MedicationStatement",
            _("Ajouter un traitement"),
            _("Modifier un traitement"),
        ),
        Kind(
            "vaccination",
            "Immunization",
            _("Ajouter une vaccination"),
            _("Modifier une vaccination"),
        ),
        Kind("mesure", "Observation", _("Ajouter une mesure"), _("Modifier une mesure")),
        Kind(
            "directives",
            "Consent",
            _("Ajouter des directives anticipées"),
            _("Modifier des directives anticipées"),
        ),
    )
}

ALLERGY_CATEGORIES = {
    "medication": _("Médicament"),
    "food": _("Aliment"),
    "environment": _("Environnement (pollen, animaux…)"),
    "biologic": _("Produit biologique"),
}
CRITICALITIES = {
    "low": _("Faible"),
    "high": _("Élevée"),
    "unable-to-assess": _("Je ne sais pas"),
}
TREATMENT_STATUSES = {
    "active": _("En cours"),
    "completed": _("Terminé"),
    "stopped": _("Arrêté"),
}
# Measurements a holder enters: LOINC code, label, UCUM unit.
MEASURES = {
    "poids": (codes.BODY_WEIGHT, _("Poids"), "kg"),
    "taille": (codes.BODY_HEIGHT, _("Taille"), "cm"),
    "pouls": (codes.HEART_RATE, _("Fréquence cardiaque"), "/min"),
    "glycemie": (codes.GLUCOSE_MASS, _("Glycémie"), "g/L"),
    "tension": (codes.BLOOD_PRESSURE, _("Pression artérielle"), "mm[Hg]"),
}
# How a UCUM unit is shown (the others as they are).
UNIT_LABELS = {"mm[Hg]": "mmHg", "kg/m2": "kg/m²"}
MEASURE_LABELS = {code: label for code, label, _unit in MEASURES.values()}

MAX_TEXT = 200
MAX_DIRECTIVES = 5000


@dataclass
class FormResult:
    """A form's values (to show again) and its problems by field (texts to translate)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    resource: dict[str, Any] | None = None


def _text(values: dict[str, str], name: str, errors: dict[str, str], *, required: bool,
          limit: int = MAX_TEXT) -> str:  # fmt: skip
    value = " ".join(values.get(name, "").split()) if name != "texte" else values.get(name, "")
    value = value.strip()
    if required and not value:
        errors[name] = _("Ce champ est obligatoire.")
    elif len(value) > limit:
        errors[name] = _("Ce texte est trop long.")
    return value


def _choice(values: dict[str, str], name: str, allowed: dict[str, str], errors: dict[str, str],
            default: str) -> str:  # fmt: skip
    value = values.get(name, "") or default
    if value not in allowed:
        errors[name] = _("Choisissez une valeur de la liste.")
    return value


def _day(values: dict[str, str], name: str, errors: dict[str, str], *, required: bool) -> str:
    value = values.get(name, "").strip()
    if not value:
        if required:
            errors[name] = _("Indiquez une date.")
        return ""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = _("Indiquez une date valide (jour, mois, année).")
        return ""
    if day > datetime.now(PARIS).date():
        errors[name] = _("La date ne peut pas être dans le futur.")
    return day.isoformat()


def _number(values: dict[str, str], name: str, errors: dict[str, str]) -> float | None:
    value = values.get(name, "").strip().replace(",", ".")
    if not value:
        errors[name] = _("Indiquez une valeur.")
        return None
    try:
        number = float(value)
    except ValueError:
        errors[name] = _("Indiquez un nombre (par exemple 72,5).")
        return None
    if not (0 < number < 1_000_000):
        errors[name] = _("Indiquez un nombre positif.")
        return None
    return int(number) if number.is_integer() else number


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": UNIT_LABELS.get(unit, unit), "system": codes.UCUM, "code": unit}


def build(kind: Kind, values: dict[str, str], person_id: int) -> FormResult:
    """The FHIR resource of a filled-in form, or the form's problems."""
    errors: dict[str, str] = {}
    patient = {"reference": f"Patient/{person_id}"}
    resource: dict[str, Any]
    if kind.slug == "allergie":
        substance = _text(values, "substance", errors, required=True)
        category = _choice(values, "categorie", ALLERGY_CATEGORIES, errors, "medication")
        criticality = _choice(values, "gravite", CRITICALITIES, errors, "unable-to-assess")
        reaction = _text(values, "reaction", errors, required=False)
        resource = {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": codes.CS_ALLERGY_CLINICAL, "code": "active"}]},
            "type": "allergy",
            "category": [category],
            "criticality": criticality,
            "code": {"text": substance},
            "patient": patient,
        }
        if reaction:
            resource["reaction"] = [{"manifestation": [{"text": reaction}]}]
    elif kind.slug == "traitement":
        name = _text(values, "medicament", errors, required=True)
        status = _choice(values, "statut", TREATMENT_STATUSES, errors, "active")
        dosage = _text(values, "posologie", errors, required=False)
        start = _day(values, "debut", errors, required=False)
        resource = {
            "resourceType": "MedicationStatement",
            "status": status,
            "medicationCodeableConcept": {"text": name},
            "subject": patient,
        }
        if start:
            resource["effectivePeriod"] = {"start": start}
        if dosage:
            resource["dosage"] = [{"text": dosage}]
    elif kind.slug == "vaccination":
        vaccine = _text(values, "vaccin", errors, required=True)
        when = _day(values, "date", errors, required=True)
        lot = _text(values, "lot", errors, required=False, limit=40)
        resource = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"text": vaccine},
            "patient": patient,
            "occurrenceDateTime": when,
        }
        if lot:
            resource["lotNumber"] = lot
    elif kind.slug == "mesure":
        which = _choice(values, "type", {k: v for k, (_c, v, _u) in MEASURES.items()}, errors, "")
        when = _day(values, "date", errors, required=True)
        code, label, unit = MEASURES.get(which, MEASURES["poids"])
        resource = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": codes.LOINC, "code": code}], "text": label},
            "subject": patient,
            "effectiveDateTime": when,
        }
        if which == "tension":
            systolic = _number(values, "systolique", errors)
            diastolic = _number(values, "diastolique", errors)
            if systolic is not None and diastolic is not None:
                resource["component"] = [
                    {
                        "code": {"coding": [{"system": codes.LOINC, "code": codes.SYSTOLIC}]},
                        "valueQuantity": _quantity(systolic, unit),
                    },
                    {
                        "code": {"coding": [{"system": codes.LOINC, "code": codes.DIASTOLIC}]},
                        "valueQuantity": _quantity(diastolic, unit),
                    },
                ]
        else:
            value = _number(values, "valeur", errors)
            if value is not None:
                resource["valueQuantity"] = _quantity(value, unit)
    else:  # directives
        text = _text(values, "texte", errors, required=True, limit=MAX_DIRECTIVES)
        when = (
            _day(values, "date", errors, required=False) or datetime.now(PARIS).date().isoformat()
        )
        title = _text(values, "titre", errors, required=False) or "Mes directives anticipées"
        resource = {
            "resourceType": "Consent",
            "status": "active",
            "patient": patient,
            "dateTime": when,
            "sourceAttachment": {
                "contentType": "text/plain",
                "title": title,
                "data": base64.b64encode(text.encode()).decode(),
            },
        }
    return FormResult(values, errors, None if errors else resource)


def _concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or []:
        if coding.get("code"):
            return str(coding["code"])
    return ""


def directive_text(resource: dict[str, Any]) -> str:
    data = (resource.get("sourceAttachment") or {}).get("data")
    if not data:
        return ""
    try:
        return base64.b64decode(data).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _date_part(value: Any) -> str:
    return str(value)[:10] if value else ""


def values_of(kind: Kind, resource: dict[str, Any]) -> dict[str, str]:
    """A stored resource as the form's values (editing)."""
    if kind.slug == "allergie":
        reactions = resource.get("reaction") or [{}]
        manifest = (reactions[0].get("manifestation") or [{}])[0]
        return {
            "substance": _concept_text(resource.get("code")),
            "categorie": (resource.get("category") or ["medication"])[0],
            "gravite": resource.get("criticality") or "unable-to-assess",
            "reaction": _concept_text(manifest),
        }
    if kind.slug == "traitement":
        return {
            "medicament": _concept_text(resource.get("medicationCodeableConcept")),
            "statut": resource.get("status") or "active",
            "posologie": ((resource.get("dosage") or [{}])[0]).get("text") or "",
            "debut": _date_part((resource.get("effectivePeriod") or {}).get("start")),
        }
    if kind.slug == "vaccination":
        return {
            "vaccin": _concept_text(resource.get("vaccineCode")),
            "date": _date_part(resource.get("occurrenceDateTime")),
            "lot": resource.get("lotNumber") or "",
        }
    if kind.slug == "mesure":
        code = ((resource.get("code") or {}).get("coding") or [{}])[0].get("code")
        which = next((k for k, (c, _l, _u) in MEASURES.items() if c == code), "poids")
        values = {"type": which, "date": _date_part(resource.get("effectiveDateTime"))}
        if which == "tension":
            for component in resource.get("component") or []:
                part = ((component.get("code") or {}).get("coding") or [{}])[0].get("code")
                number = (component.get("valueQuantity") or {}).get("value")
                name = "systolique" if part == codes.SYSTOLIC else "diastolique"
                values[name] = _number_text(number)
        else:
            values["valeur"] = _number_text((resource.get("valueQuantity") or {}).get("value"))
        return values
    return {
        "texte": directive_text(resource),
        "titre": (resource.get("sourceAttachment") or {}).get("title") or "",
        "date": _date_part(resource.get("dateTime")),
    }


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number).replace(".", ",")


# Which form field a profile validation problem is about (``details[].field`` of the service).
_FIELD_OF = {
    "allergie": {"code": "substance", "category": "categorie", "criticality": "gravite",
                 "reaction": "reaction"},
    "traitement": {"medication": "medicament", "status": "statut", "dosage": "posologie",
                   "effective": "debut"},
    "vaccination": {"vaccineCode": "vaccin", "occurrence": "date", "lotNumber": "lot"},
    "mesure": {"valueQuantity": "valeur", "component[0]": "systolique",
               "component[1]": "diastolique", "effective": "date", "code": "type"},
    "directives": {"sourceAttachment": "texte", "dateTime": "date"},
}  # fmt: skip


def service_problems(kind: Kind, details: list[dict[str, Any]] | None) -> dict[str, str]:
    """The profile service's problems (English, located) as French texts on the form's fields."""
    errors: dict[str, str] = {}
    fields = _FIELD_OF[kind.slug]
    for detail in details or []:
        path = str(detail.get("field", ""))
        message = str(detail.get("message", ""))
        rest = path.split(".", 1)[1] if "." in path else ""
        name = next((f for key, f in fields.items() if rest.startswith(key)), None)
        if "in the future" in message:
            text = _("La date ne peut pas être dans le futur.")
        elif "plausible" in message:
            text = _("Cette valeur n’est pas vraisemblable pour cette mesure : vérifiez-la.")
        elif "before" in message:
            text = _("La date de fin ne peut pas précéder la date de début.")
        else:
            text = _("Cette valeur est refusée par le profil médical.")
        errors.setdefault(name or "__all__", text)
    return errors


@dataclass(frozen=True)
class Item:
    """One profile entry as the read view shows it."""

    kind: str | None  # the form that edits it (None: read only)
    id: str
    title: str
    details: list[str]
    version: int


def _version(resource: dict[str, Any]) -> int:
    raw = (resource.get("meta") or {}).get("versionId")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else 0


def describe(kind: str | None, resource: dict[str, Any]) -> Item:
    """A resource's title and details (values only; labels come from the template)."""
    details: list[str] = []
    title = ""
    if kind == "allergie":
        title = _concept_text(resource.get("code"))
        for reaction in resource.get("reaction") or []:
            details.extend(_concept_text(m) for m in reaction.get("manifestation") or [])
    elif kind == "traitement":
        title = _concept_text(resource.get("medicationCodeableConcept"))
        details.extend(d.get("text", "") for d in resource.get("dosage") or [])
    elif kind == "vaccination":
        title = _concept_text(resource.get("vaccineCode"))
        details.append(_date_part(resource.get("occurrenceDateTime")))
    elif kind == "directives":
        title = (resource.get("sourceAttachment") or {}).get("title") or ""
        details.append(directive_text(resource))
    else:
        rt = resource.get("resourceType")
        if rt == "Condition":
            title = _concept_text(resource.get("code"))
            details.append(_date_part(resource.get("onsetDateTime")))
        elif rt == "Procedure":
            title = _concept_text(resource.get("code"))
            details.append(_date_part(resource.get("performedDateTime")))
        elif rt == "Encounter":
            title = ", ".join(_concept_text(r) for r in resource.get("reasonCode") or [])
            period = resource.get("period") or {}
            details.append(" → ".join(p for p in (_date_part(period.get("start")),
                                                  _date_part(period.get("end"))) if p))  # fmt: skip
        elif rt == "RelatedPerson":
            names = resource.get("name") or [{}]
            title = " ".join([*names[0].get("given", []), names[0].get("family", "")]).strip()
            details.extend(t.get("value", "") for t in resource.get("telecom") or [])
    return Item(kind, str(resource.get("id", "")), title, [d for d in details if d],
                _version(resource))  # fmt: skip


def measurement_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return ""
    return f"{_number_text(value)} {UNIT_LABELS.get(unit or '', unit or '')}".strip()


def local_day(moment: str | None) -> str:
    """A FHIR date or instant as dd/mm/yyyy."""
    if not moment:
        return ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", moment):
        y, m, d = moment.split("-")
        return f"{d}/{m}/{y}"
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(PARIS).strftime("%d/%m/%Y")
