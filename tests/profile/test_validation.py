"""Refused input: 422 ``invalid_resource`` with a FHIRPath-like location per problem, and nothing
stored."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import LOINC, Space, blood_pressure, examples, quantity

Change = Callable[[dict[str, Any], Space], None]


def _set(path: str, value: Any) -> Change:
    def change(body: dict[str, Any], _space: Space) -> None:
        node: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _other_patient(body: dict[str, Any], space: Space) -> None:
    body["subject"] = {"reference": f"Patient/{space.person_id + 1000}"}


CASES: list[tuple[str, str, Change, str]] = [
    # (type, what is wrong, change, expected location)
    ("Observation", "wrong unit", _set("valueQuantity", quantity(150, "[lb_av]")),
     "Observation.valueQuantity.code"),
    ("Observation", "unit without UCUM", _set("valueQuantity.system", "http://example.org/units"),
     "Observation.valueQuantity.system"),
    ("Observation", "implausible value", _set("valueQuantity", quantity(68.5, "g")),
     "Observation.valueQuantity.value"),
    ("Observation", "not a vital sign", _set("code.coding.0.code", "2345-7"),
     "Observation.code.coding"),
    ("Observation", "future date", _set("effectiveDateTime", "2999-01-01T10:00:00Z"),
     "Observation.effectiveDateTime"),
    ("Observation", "date without time zone", _set("effectiveDateTime", "2025-01-01T10:00:00"),
     "Observation.effectiveDateTime"),
    ("Observation", "another patient", _other_patient, "Observation.subject.reference"),
    ("Observation", "unknown element", _set("colour", "blue"), "Observation.colour"),
    ("Observation", "wrong type", _set("valueQuantity.value", "heavy"),
     "Observation.valueQuantity.value"),
    ("Observation", "a narrative", _set("text", {"status": "generated", "div": "<div>x</div>"}),
     "Observation.text"),
    ("Observation", "wrong category", _set("category", [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "laboratory"}]}]), "Observation.category[0].coding[0].code"),
    ("Condition", "wrong category",
     _set("category.0.coding.0.code", "health-concern"), "Condition.category[0].coding[0].code"),
    ("Condition", "code of an unknown system",
     _set("code", {"coding": [{"system": "http://example.org/illness", "code": "x"}]}),
     "Condition.code.coding[0].system"),
    ("Condition", "malformed SNOMED CT code", _set("code.coding.0.code", "asthma"),
     "Condition.code.coding[0].code"),
    ("Condition", "unknown clinical status", _set("clinicalStatus.coding.0.code", "cured"),
     "Condition.clinicalStatus.coding[0].code"),
    ("Condition", "future onset", _set("onsetDateTime", "2999-05"), "Condition.onsetDateTime"),
    ("Condition", "abated but active", _set("abatementDateTime", "2015-01-01"),
     "Condition.clinicalStatus"),
    ("Procedure", "unknown status", _set("status", "done"), "Procedure.status"),
    ("Encounter", "not a hospital stay", _set("class.code", "AMB"), "Encounter.class"),
    ("Encounter", "end before start", _set("period", {"start": "2001-07-13", "end": "2001-07-01"}),
     "Encounter.period.end"),
    ("MedicationStatement", "medication reference",
     _set("medicationReference", {"reference": "Medication/1"}),
     "MedicationStatement.medication[x]"),
    ("MedicationStatement", "future start", _set("effectivePeriod", {"start": "2999-01-01"}),
     "MedicationStatement.effectivePeriod.start"),
    ("AllergyIntolerance", "unknown criticality", _set("criticality", "extreme"),
     "AllergyIntolerance.criticality"),
    ("AllergyIntolerance", "unknown category", _set("category", ["pets"]),
     "AllergyIntolerance.category[0]"),
    ("Immunization", "no date", lambda b, s: b.pop("occurrenceDateTime"),
     "Immunization.occurrence[x]"),
    ("Immunization", "future injection", _set("occurrenceDateTime", "2999-01-01"),
     "Immunization.occurrenceDateTime"),
    ("Consent", "not advance directives", _set("scope", {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]}),
     "Consent.scope"),
    ("Consent", "no directives", lambda b, s: b.pop("sourceAttachment"),
     "Consent.sourceAttachment"),
    ("RelatedPerson", "unknown relationship", _set("relationship.0.coding.0.code", "BFF"),
     "RelatedPerson.relationship[0].coding[0].code"),
    ("RelatedPerson", "bad e-mail", _set("telecom", [{"system": "email", "value": "camille"}]),
     "RelatedPerson.telecom[0].value"),
    ("RelatedPerson", "no way to reach them", lambda b, s: b.pop("telecom"),
     "RelatedPerson.telecom"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("resource_type", "change", "location"),
    [pytest.param(t, c, loc, id=f"{t}: {what}") for t, what, c, loc in CASES],
)
def test_refused_with_the_location(
    app_client: TestClient, jeanne: Space, resource_type: str, change: Change, location: str
) -> None:
    body = copy.deepcopy(examples(jeanne.patient)[resource_type])
    change(body, jeanne)
    response = app_client.post(f"{jeanne.url}/{resource_type}", json=body, headers=jeanne.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_resource"
    fields = [d["field"] for d in error["details"]]
    assert location in fields, fields
    listed = app_client.get(f"{jeanne.url}/{resource_type}", headers=jeanne.headers)
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("systolic", "diastolic", "location"),
    [
        (80, 120, "Observation.component"),
        (128, 500, "Observation.component[1].valueQuantity.value"),
    ],
)
def test_blood_pressure_components(
    app_client: TestClient, jeanne: Space, systolic: float, diastolic: float, location: str
) -> None:
    body = blood_pressure(jeanne.patient, systolic, diastolic, "2026-01-05T09:00:00Z")
    response = app_client.post(f"{jeanne.url}/Observation", json=body, headers=jeanne.headers)
    assert response.status_code == 422, response.text
    assert location in [d["field"] for d in response.json()["error"]["details"]]


def test_blood_pressure_needs_both_components(app_client: TestClient, jeanne: Space) -> None:
    body = blood_pressure(jeanne.patient, 128, 82, "2026-01-05T09:00:00Z")
    body["component"].pop()
    body["valueQuantity"] = quantity(128, "mm[Hg]")
    response = app_client.post(f"{jeanne.url}/Observation", json=body, headers=jeanne.headers)
    assert response.status_code == 422
    messages = " ".join(d["message"] for d in response.json()["error"]["details"])
    assert "8462-4" in messages
    assert "Observation.valueQuantity" in messages


def test_glucose_units_follow_the_code(app_client: TestClient, jeanne: Space) -> None:
    body = copy.deepcopy(examples(jeanne.patient)["Observation"])
    body["code"] = {"coding": [{"system": LOINC, "code": "15074-8"}]}
    body["valueQuantity"] = quantity(95, "mg/dL")
    refused = app_client.post(f"{jeanne.url}/Observation", json=body, headers=jeanne.headers)
    assert refused.status_code == 422
    body["valueQuantity"] = quantity(5.3, "mmol/L")
    accepted = app_client.post(f"{jeanne.url}/Observation", json=body, headers=jeanne.headers)
    assert accepted.status_code == 201, accepted.text


def test_wrong_resource_type_and_not_an_object(app_client: TestClient, jeanne: Space) -> None:
    body = examples(jeanne.patient)["Condition"]
    response = app_client.post(f"{jeanne.url}/Procedure", json=body, headers=jeanne.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Procedure.resourceType"
    response = app_client.post(f"{jeanne.url}/Procedure", json=[1, 2], headers=jeanne.headers)
    assert response.status_code == 422
    response = app_client.post(
        f"{jeanne.url}/Procedure",
        content=b"{not json",
        headers={**jeanne.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    response = app_client.post(
        f"{jeanne.url}/Procedure",
        content=b"<Procedure/>",
        headers={**jeanne.headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 415


def test_references_stay_in_the_space(app_client: TestClient, jeanne: Space, paul: Space) -> None:
    hospital = app_client.post(
        f"{jeanne.url}/Encounter",
        json=examples(jeanne.patient)["Encounter"],
        headers=jeanne.headers,
    ).json()
    foreign = app_client.post(
        f"{paul.url}/Encounter", json=examples(paul.patient)["Encounter"], headers=paul.headers
    ).json()
    body = copy.deepcopy(examples(jeanne.patient)["Procedure"])
    body["encounter"] = {"reference": f"Encounter/{foreign['id']}"}
    refused = app_client.post(f"{jeanne.url}/Procedure", json=body, headers=jeanne.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "Procedure.encounter.reference"
    body["encounter"] = {"reference": f"Encounter/{hospital['id']}"}
    accepted = app_client.post(f"{jeanne.url}/Procedure", json=body, headers=jeanne.headers)
    assert accepted.status_code == 201, accepted.text
    body["performer"] = [{"actor": {"reference": f"Patient/{paul.person_id}"}}]
    refused = app_client.post(f"{jeanne.url}/Procedure", json=body, headers=jeanne.headers)
    assert refused.status_code == 422
    assert "Procedure.performer[0].actor.reference" in [
        d["field"] for d in refused.json()["error"]["details"]
    ]


def test_text_only_codes_are_accepted(app_client: TestClient, jeanne: Space) -> None:
    body = copy.deepcopy(examples(jeanne.patient)["Condition"])
    body["code"] = {"text": "Migraine"}
    response = app_client.post(f"{jeanne.url}/Condition", json=body, headers=jeanne.headers)
    assert response.status_code == 201, response.text
    body["code"] = {}
    response = app_client.post(f"{jeanne.url}/Condition", json=body, headers=jeanne.headers)
    assert response.status_code == 422
