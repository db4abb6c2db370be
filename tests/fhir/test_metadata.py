"""CapabilityStatement and content negotiation of the FHIR endpoint."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from ..conftest import TokenFactory
from .conftest import FHIR_JSON, Register, outcome_of


def test_metadata_needs_no_token_and_states_what_is_supported(app_client: TestClient) -> None:
    response = app_client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    CapabilityStatement.model_validate(body)
    assert body["fhirVersion"] == "4.0.1"
    assert body["kind"] == "instance"
    assert "json" in body["format"]
    (rest,) = body["rest"]
    assert rest["mode"] == "server"
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "OAuth"
    token = security["extension"][0]["extension"][0]
    assert token == {"url": "token", "valueUri": "http://testserver/oauth2/token"}

    resources = {r["type"]: r for r in rest["resource"]}
    assert {"Patient", "AuditEvent"} <= set(resources)
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} == {"read", "search-type"}
    assert {p["name"] for p in patient["searchParam"]} == {"identifier", "_id", "_count"}
    assert patient["supportedProfile"] == [
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
    ]
    (match,) = patient["operation"]
    assert match["name"] == "match"
    assert match["definition"] == "http://hl7.org/fhir/OperationDefinition/Patient-match"
    audit = resources["AuditEvent"]
    assert {i["code"] for i in audit["interaction"]} == {"read", "search-type"}
    assert {"patient", "date", "action", "agent"} <= {p["name"] for p in audit["searchParam"]}


def test_every_declared_search_parameter_is_accepted(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    """The statement and the router agree: no declared parameter is refused as unknown."""
    statement = app_client.get("/fhir/metadata").json()
    values = {
        "identifier": register.dupont_nir,
        "_id": str(register.dupont),
        "_count": "5",
        "patient": f"Patient/{register.dupont}",
        "entity": f"Patient/{register.dupont}",
        "date": "ge2020-01-01",
        "action": "R",
        "subtype": "read",
        "agent": "cli_nobody",
        "_total": "accurate",
        "_cursor": "1000000",
    }
    extra = {("Patient", "_count"): {"_id": values["_id"]}}  # a Patient search needs criteria
    headers = auth_headers("ins.read", "audit.read")
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] not in ("Patient", "AuditEvent"):
            continue  # health-space types: tests/profile, tests/documents
        for parameter in resource["searchParam"]:
            name = parameter["name"]
            response = app_client.get(
                f"/fhir/{resource['type']}",
                params={name: values[name], **extra.get((resource["type"], name), {})},
                headers=headers,
            )
            assert response.status_code == 200, (resource["type"], name, response.text)


def test_format_and_accept(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    url = f"/fhir/Patient/{register.dupont}"
    for fmt in ("json", "application/fhir+json", "application/json"):
        response = app_client.get(url, params={"_format": fmt}, headers=headers)
        assert response.status_code == 200, fmt
    plain = app_client.get(url, headers={**headers, "Accept": "application/json"})
    assert plain.headers["content-type"].startswith("application/json")
    browser = app_client.get(url, headers={**headers, "Accept": "text/html,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith(FHIR_JSON)
    outcome_of(app_client.get(url, params={"_format": "xml"}, headers=headers), 406)
    outcome_of(app_client.get(url, headers={**headers, "Accept": "application/fhir+xml"}), 406)
    outcome_of(app_client.get("/fhir/metadata", params={"_format": "text/turtle"}), 406)


def test_unknown_resource_types_and_methods_are_operation_outcomes(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    outcome_of(app_client.get("/fhir/Questionnaire", headers=auth_headers("ins.read")), 404)
    outcome_of(app_client.delete("/fhir/Patient/1", headers=auth_headers("ins.read")), 405)
