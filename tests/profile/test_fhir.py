"""FHIR R4 reads of the medical profile: professional software (scope dmp) with the holder's
consent, the holder's own token, searchset and history Bundles, OperationOutcome errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ..conftest import TokenFactory
from ..factories import add_professional
from .conftest import Space, examples
from .test_rest import audit_actions, create

INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "10100000412"
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def doctor(app_client: TestClient, db: Any, auth_headers: TokenFactory) -> dict[str, str]:
    """The software of a doctor of the directory (scope dmp), bound to them."""
    professional_id = add_professional(db, RPPS)
    return auth_headers("dmp", professional_id=professional_id)


def consent(client: TestClient, space: Space, rpps: str = RPPS) -> None:
    response = client.post(
        f"/api/v1/spaces/{space.person_id}/consents", json={"rpps": rpps}, headers=space.headers
    )
    assert response.status_code == 201, response.text


def test_professional_with_consent_searches_and_reads(
    app_client: TestClient,
    jeanne: Space,
    paul: Space,
    doctor: dict[str, str],
    auth_headers: TokenFactory,
) -> None:
    bodies = examples(jeanne.patient)
    condition = create(app_client, jeanne, bodies["Condition"])
    weight = create(app_client, jeanne, bodies["Observation"])
    create(app_client, paul, examples(paul.patient)["Condition"])
    consent(app_client, jeanne)

    by_id = app_client.get("/fhir/Condition", params={"patient": jeanne.patient}, headers=doctor)
    assert by_id.status_code == 200, by_id.text
    assert by_id.headers["content-type"].startswith(FHIR_JSON)
    bundle = by_id.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"] == condition
    assert bundle["entry"][0]["fullUrl"].endswith(f"/fhir/Condition/{condition['id']}")
    assert bundle["entry"][0]["search"]["mode"] == "match"

    by_ins = app_client.get(
        "/fhir/Observation",
        params={"patient.identifier": f"{INS_NIR}|{jeanne.matricule}", "code": "29463-7"},
        headers=doctor,
    )
    assert by_ins.status_code == 200, by_ins.text
    assert [e["resource"]["id"] for e in by_ins.json()["entry"]] == [weight["id"]]
    dated = app_client.get(
        "/fhir/Observation",
        params={"patient": jeanne.patient, "date": "lt2026-01-01"},
        headers=doctor,
    )
    assert dated.json()["total"] == 0

    read = app_client.get(f"/fhir/Condition/{condition['id']}", headers=doctor)
    assert read.status_code == 200, read.text
    assert read.json() == condition
    assert read.headers["etag"] == 'W/"1"'

    history = app_client.get(f"/fhir/Condition/{condition['id']}/_history", headers=doctor)
    assert history.status_code == 200, history.text
    assert history.json()["type"] == "history"
    assert history.json()["entry"][0]["request"] == {"method": "POST", "url": "Condition"}
    vread = app_client.get(f"/fhir/Condition/{condition['id']}/_history/1", headers=doctor)
    assert vread.status_code == 200
    assert vread.json() == condition

    # The holder sees the doctor's reads in the audit trail (and in their access history).
    actions = audit_actions(app_client, auth_headers, jeanne)
    assert "space.profile.search" in actions
    assert "space.profile.read" in actions


def test_professional_without_access_is_refused(
    app_client: TestClient, jeanne: Space, doctor: dict[str, str]
) -> None:
    condition = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    for url, params in (
        ("/fhir/Condition", {"patient": jeanne.patient}),
        (f"/fhir/Condition/{condition['id']}", {}),
        (f"/fhir/Condition/{condition['id']}/_history", {}),
    ):
        response = app_client.get(url, params=params, headers=doctor)
        assert response.status_code == 403, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
    rest = app_client.get(jeanne.url, headers=doctor)
    assert rest.status_code == 403


def test_professionals_read_but_never_write(
    app_client: TestClient, jeanne: Space, doctor: dict[str, str]
) -> None:
    consent(app_client, jeanne)
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    summary = app_client.get(jeanne.url, headers=doctor)
    assert summary.status_code == 200, summary.text
    assert [r["id"] for r in summary.json()["history"]["illnesses"]] == [created["id"]]
    attempts = [
        app_client.post(
            f"{jeanne.url}/Condition", json=examples(jeanne.patient)["Condition"], headers=doctor
        ),
        app_client.put(
            f"{jeanne.url}/Condition/{created['id']}",
            json=created,
            headers={**doctor, "If-Match": 'W/"1"'},
        ),
        app_client.delete(f"{jeanne.url}/Condition/{created['id']}", headers=doctor),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "profile_read_only"
        assert "not change it" in response.json()["error"]["message"]


def test_holder_reads_their_profile_through_fhir(app_client: TestClient, jeanne: Space) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Immunization"])
    response = app_client.get(
        "/fhir/Immunization",
        params={"patient": jeanne.patient, "vaccine-code": "http://hl7.org/fhir/sid/cvx|141"},
        headers=jeanne.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    app_client.delete(f"{jeanne.url}/Immunization/{created['id']}", headers=jeanne.headers)
    gone = app_client.get(f"/fhir/Immunization/{created['id']}", headers=jeanne.headers)
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    history = app_client.get(f"/fhir/Immunization/{created['id']}/_history", headers=jeanne.headers)
    assert [e["request"]["method"] for e in history.json()["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history.json()["entry"][0]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "search_needs_patient"),
        ({"patient": "Practitioner/3"}, "invalid_search_parameter"),
        ({"patient": "Patient/1,Patient/2"}, "search_needs_patient"),
        ({"patient.identifier": "urn:oid:1.2.3|123"}, "invalid_search_parameter"),
        ({"patient": "Patient/1", "colour": "blue"}, "unknown_search_parameter"),
        ({"patient": "Patient/1", "date": "yesterday"}, "invalid_search_parameter"),
    ],
)
def test_search_errors_are_operation_outcomes(
    app_client: TestClient, jeanne: Space, params: dict[str, str], code: str
) -> None:
    response = app_client.get("/fhir/Condition", params=params, headers=jeanne.headers)
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == code


def test_unknown_ins_finds_nothing(
    app_client: TestClient, jeanne: Space, doctor: dict[str, str]
) -> None:
    from ..factories import make_nir

    nir = make_nir("M", "1960-01-01", "75056", 999)
    response = app_client.get(
        "/fhir/Condition", params={"patient.identifier": f"{INS_NIR}|{nir}"}, headers=doctor
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


def test_unknown_resources_are_404(app_client: TestClient, jeanne: Space) -> None:
    for url in (
        "/fhir/Condition/nope",
        "/fhir/Condition/nope/_history",
        "/fhir/Condition/nope/_history/1",
    ):
        response = app_client.get(url, headers=jeanne.headers)
        assert response.status_code == 404, (url, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    # Same id, another type.
    response = app_client.get(f"/fhir/Procedure/{created['id']}", headers=jeanne.headers)
    assert response.status_code == 404
    response = app_client.get(f"/fhir/Condition/{created['id']}/_history/9", headers=jeanne.headers)
    assert response.status_code == 404


def test_capability_statement_lists_the_profile_types(app_client: TestClient) -> None:
    statement = app_client.get("/fhir/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for name in examples("Patient/1"):
        assert name in types
        assert {"read", "vread", "search-type"} <= {i["code"] for i in types[name]["interaction"]}
    assert "patient.identifier" in {p["name"] for p in types["Observation"]["searchParam"]}


def test_every_declared_search_parameter_is_accepted(app_client: TestClient, jeanne: Space) -> None:
    """The CapabilityStatement and the profile routes agree."""
    statement = app_client.get("/fhir/metadata").json()
    patient_values = {
        "patient": jeanne.patient,
        "subject": jeanne.patient,
        "patient.identifier": f"{INS_NIR}|{jeanne.matricule}",
        "subject.identifier": f"{INS_NIR}|{jeanne.matricule}",
    }
    values = {"_id": "x", "category": "vital-signs", "date": "ge2020-01-01"}
    values |= {"onset-date": "ge2020-01-01", "_count": "5", "_offset": "0"}
    types = set(examples("Patient/1"))
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] not in types:
            continue
        for parameter in resource["searchParam"]:
            name = parameter["name"]
            params = (
                {name: patient_values[name]}
                if name in patient_values
                else {"patient": jeanne.patient, name: values.get(name, "x")}
            )
            response = app_client.get(
                f"/fhir/{resource['type']}", params=params, headers=jeanne.headers
            )
            assert response.status_code == 200, (resource["type"], name, response.text)
