"""Synthetic medical profiles for demonstrations (``profile_service.write_demo_profile``).

Plausible, not real: common conditions, treatments and vaccines drawn at random, measurements
around ordinary values, a made-up contact with a reserved (fictitious) phone number.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from carnet.profile import codes

SCT = codes.SNOMED

CONDITIONS = [
    (SCT, "195967001", "Asthme"),
    (SCT, "59621000", "Hypertension artérielle essentielle"),
    (SCT, "44054006", "Diabète de type 2"),
    (SCT, "367498001", "Rhinite allergique saisonnière"),
    (SCT, "35489007", "Dépression"),
]
PROCEDURES = [
    (SCT, "80146002", "Appendicectomie"),
    (SCT, "173422009", "Amygdalectomie"),
    (SCT, "38102005", "Cholécystectomie"),
]
MEDICATIONS = [
    (codes.ATC, "C09AA05", "Ramipril 5 mg", "1 comprimé le matin"),
    (codes.ATC, "A10BA02", "Metformine 1000 mg", "1 comprimé matin et soir"),
    (codes.ATC, "R03AC02", "Salbutamol 100 µg/dose", "2 bouffées si besoin"),
    (codes.ATC, "C10AA05", "Atorvastatine 20 mg", "1 comprimé le soir"),
]
ALLERGIES = [
    ("medication", codes.ATC, "J01CA04", "Amoxicilline", "Urticaire"),
    ("food", SCT, "256349002", "Arachide", "Œdème des lèvres"),
    ("environment", SCT, "256277009", "Pollen de graminées", "Rhinite"),
]
VACCINES = [
    (codes.ATC, "J07BB02", "Grippe saisonnière"),
    (codes.ATC, "J07AM51", "Diphtérie-tétanos-poliomyélite (rappel)"),
    (codes.ATC, "J07BX03", "COVID-19"),
]


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _instant(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _concept(system: str, code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": text}], "text": text}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def _vital(code: str, label: str, when: datetime, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": _concept(codes.LOINC, code, label),
        "effectiveDateTime": _instant(when),
        **value,
    }


def demo_resources(
    person_id: int, *, now: datetime, rng: random.Random
) -> Iterator[tuple[str, dict[str, Any]]]:
    subject = {"reference": f"Patient/{person_id}"}

    def years(n: float) -> datetime:
        return now - timedelta(days=int(365.25 * n))

    for system, code, text in rng.sample(CONDITIONS, 2):
        yield (
            "Condition",
            {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [{"system": codes.CS_CONDITION_CLINICAL, "code": "active"}]
                },
                "verificationStatus": {
                    "coding": [{"system": codes.CS_CONDITION_VER, "code": "confirmed"}]
                },
                "code": _concept(system, code, text),
                "subject": subject,
                "onsetDateTime": _day(years(rng.randint(2, 15))),
            },
        )
    system, code, text = rng.choice(PROCEDURES)
    operated = years(rng.randint(5, 25))
    yield (
        "Procedure",
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": _concept(system, code, text),
            "subject": subject,
            "performedDateTime": _day(operated),
        },
    )
    yield (
        "Encounter",
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": codes.CS_ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
            "subject": subject,
            "period": {
                "start": _day(operated - timedelta(days=1)),
                "end": _day(operated + timedelta(days=2)),
            },
            "reasonCode": [{"text": text}],
        },
    )
    for system, code, text, dosage in rng.sample(MEDICATIONS, 2):
        yield (
            "MedicationStatement",
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": _concept(system, code, text),
                "subject": subject,
                "effectivePeriod": {"start": _day(years(rng.randint(1, 6)))},
                "dosage": [{"text": dosage}],
            },
        )
    category, system, code, text, reaction = rng.choice(ALLERGIES)
    yield (
        "AllergyIntolerance",
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": codes.CS_ALLERGY_CLINICAL, "code": "active"}]},
            "verificationStatus": {
                "coding": [{"system": codes.CS_ALLERGY_VER, "code": "confirmed"}]
            },
            "type": "allergy",
            "category": [category],
            "criticality": "low",
            "code": _concept(system, code, text),
            "patient": subject,
            "reaction": [{"manifestation": [{"text": reaction}], "severity": "moderate"}],
        },
    )
    for system, code, text in VACCINES:
        yield (
            "Immunization",
            {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": _concept(system, code, text),
                "patient": subject,
                "occurrenceDateTime": _day(now - timedelta(days=rng.randint(30, 900))),
            },
        )
    height = rng.randint(155, 190)
    weight = round(rng.uniform(0.85, 1.25) * 22 * (height / 100) ** 2, 1)
    for months in (12, 6, 1):
        when = now - timedelta(days=30 * months, hours=rng.randint(0, 48))
        kilos = round(weight + rng.uniform(-1.5, 1.5), 1)
        yield (
            "Observation",
            _vital(codes.BODY_WEIGHT, "Poids", when, valueQuantity=_quantity(kilos, "kg")),
        )
        systolic = rng.randint(110, 145)
        yield (
            "Observation",
            _vital(
                codes.BLOOD_PRESSURE,
                "Pression artérielle",
                when,
                component=[
                    {
                        "code": _concept(codes.LOINC, codes.SYSTOLIC, "Pression systolique"),
                        "valueQuantity": _quantity(systolic, "mm[Hg]"),
                    },
                    {
                        "code": _concept(codes.LOINC, codes.DIASTOLIC, "Pression diastolique"),
                        "valueQuantity": _quantity(systolic - rng.randint(35, 55), "mm[Hg]"),
                    },
                ],
            ),
        )
    yield (
        "Observation",
        _vital(codes.BODY_HEIGHT, "Taille", years(1), valueQuantity=_quantity(height, "cm")),
    )
    yield (
        "Observation",
        _vital(
            codes.GLUCOSE_MASS,
            "Glycémie",
            now - timedelta(days=20),
            valueQuantity=_quantity(round(rng.uniform(80, 120)), "mg/dL"),
        ),
    )
    yield (
        "Consent",
        {
            "resourceType": "Consent",
            "status": "active",
            "patient": subject,
            "dateTime": _day(years(2)),
            "sourceAttachment": {
                "contentType": "text/plain",
                "title": "Mes directives anticipées",
                # "Je refuse tout acharnement thérapeutique." (base64, UTF-8)
                "data": "SmUgcmVmdXNlIHRvdXQgYWNoYXJuZW1lbnQgdGjDqXJhcGV1dGlxdWUu",
            },
        },
    )
    yield (
        "RelatedPerson",
        {
            "resourceType": "RelatedPerson",
            "active": True,
            "patient": subject,
            "relationship": [
                {"coding": [{"system": codes.CS_CONTACT_ROLE_V2, "code": "C"}]},
                {"coding": [{"system": codes.CS_CARNET_CONTACT_ROLE, "code": "trusted-person"}]},
            ],
            "name": [{"family": "Exemple", "given": ["Camille"]}],
            # 01 99 00 xx xx: a range ARCEP reserves for fiction.
            "telecom": [
                {
                    "system": "phone",
                    "value": f"01 99 00 {rng.randint(10, 99)} {rng.randint(10, 99)}",
                }
            ],
        },
    )
