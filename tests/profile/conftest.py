"""Profile test fixtures: register persons whose health spaces their holders opened (through the
API), and valid FHIR bodies of every profile type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database

from ..conftest import HolderHeaders
from ..factories import add_person

SPACES = "/api/v1/spaces"


@dataclass(frozen=True)
class Space:
    """A person with an open health space, and their holder headers."""

    person_id: int
    matricule: str
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return f"{SPACES}/{self.person_id}/profile"

    @property
    def patient(self) -> str:
        return f"Patient/{self.person_id}"


SpaceFactory = Callable[..., Space]


@pytest.fixture
def make_space(app_client: TestClient, db: Database, holder_headers: HolderHeaders) -> SpaceFactory:
    def make(
        first_names: str = "JEANNE",
        birth_name: str = "DUPONT",
        sex: str = "F",
        birth_date: str = "1985-04-12",
        *,
        open_space: bool = True,
    ) -> Space:
        with db.session() as s:
            person = add_person(
                s, birth_name=birth_name, first_names=first_names, sex=sex, birth_date=birth_date
            )
            person_id, matricule = person.id, person.matricule
        headers = holder_headers(person_id)
        if open_space:
            response = app_client.post(f"{SPACES}/{person_id}/opening", headers=headers)
            assert response.status_code == 200, response.text
        return Space(person_id, matricule, headers)

    return make


@pytest.fixture
def jeanne(make_space: SpaceFactory) -> Space:
    return make_space()


@pytest.fixture
def paul(make_space: SpaceFactory) -> Space:
    return make_space("PAUL", "BERNARD", "M", "1990-11-30")


LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def examples(patient: str) -> dict[str, dict[str, Any]]:
    """One valid body per profile type, for ``patient`` (``Patient/{id}``)."""
    subject = {"reference": patient}
    return {
        "Condition": {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": SCT, "code": "195967001", "display": "Asthme"}]},
            "subject": subject,
            "onsetDateTime": "2012-03",
        },
        "Procedure": {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {
                "coding": [{"system": SCT, "code": "80146002"}],
                "text": "Appendicectomie",
            },
            "subject": subject,
            "performedDateTime": "2001-07-14",
        },
        "Encounter": {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
            },
            "subject": subject,
            "period": {"start": "2001-07-13", "end": "2001-07-16"},
            "reasonCode": [{"text": "Appendicite"}],
        },
        "MedicationStatement": {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": "C09AA05"}],
                "text": "Ramipril 5 mg",
            },
            "subject": subject,
            "effectivePeriod": {"start": "2020-01-10"},
            "dosage": [{"text": "1 comprimé le matin"}],
        },
        "AllergyIntolerance": {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA04"}]},
            "patient": subject,
            "reaction": [{"manifestation": [{"text": "Urticaire"}], "severity": "moderate"}],
        },
        "Immunization": {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "141"}]},
            "patient": subject,
            "occurrenceDateTime": "2025-10-15",
            "lotNumber": "AB1234",
        },
        "Observation": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
            "subject": subject,
            "effectiveDateTime": "2026-01-05T08:30:00+01:00",
            "valueQuantity": quantity(68.5, "kg"),
        },
        "Consent": {
            "resourceType": "Consent",
            "status": "active",
            "patient": subject,
            "dateTime": "2024-06-01",
            "sourceAttachment": {
                "contentType": "text/plain",
                "title": "Mes directives anticipées",
                "data": "SmUgcmVmdXNlIHRvdXQgYWNoYXJuZW1lbnQgdGjDqXJhcGV1dGlxdWUu",
            },
        },
        "RelatedPerson": {
            "resourceType": "RelatedPerson",
            "active": True,
            "patient": subject,
            "relationship": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                            "code": "C",
                        }
                    ]
                }
            ],
            "name": [{"family": "Exemple", "given": ["Camille"]}],
            "telecom": [{"system": "phone", "value": "01 99 00 12 34"}],
        },
    }


def blood_pressure(patient: str, systolic: float, diastolic: float, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": patient},
        "effectiveDateTime": when,
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": quantity(systolic, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": quantity(diastolic, "mm[Hg]"),
            },
        ],
    }
