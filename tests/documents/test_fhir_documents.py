"""FHIR DocumentReference (MHD-like) and Binary for professional software (scope dmp)."""

from __future__ import annotations

import base64
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference

from . import samples
from .conftest import World

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


def _reference(world: World, data: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
        "category": [{"coding": [{"code": "10"}]}],
        "subject": {"reference": f"Patient/{world.family.jeanne.id}"},
        "description": "Compte rendu de biologie",
        "context": {"period": {"start": "2026-11-02"}},
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(data or samples.pdf()).decode(),
                    "title": "cr-bio.pdf",
                }
            }
        ],
    }
    resource.update(overrides)
    return resource


def _post(world: World, resource: dict[str, Any], role: str = "author") -> Any:
    return world.client.post(
        "/fhir/DocumentReference",
        json=resource,
        headers={**world.pro(role), "Content-Type": "application/fhir+json"},
    )


def test_create_read_search_and_binary(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    response = _post(world, _reference(world))
    assert response.status_code == 201, response.text
    created = response.json()
    DocumentReference.model_validate(created)
    assert created["subject"]["reference"] == f"Patient/{jeanne.id}"
    assert created["type"]["coding"][0]["code"] == "11502-2"
    assert created["context"]["period"]["start"] == "2026-11-02"
    assert response.headers["location"].endswith(f"/DocumentReference/{created['id']}/_history/1")
    pro = world.pro("author")
    read = world.client.get(f"/fhir/DocumentReference/{created['id']}", headers=pro)
    assert read.status_code == 200
    assert read.json()["id"] == created["id"]
    binary = world.client.get(f"/fhir/Binary/{created['id']}", headers=pro)
    assert binary.status_code == 200
    assert binary.content == samples.pdf()
    as_json = world.client.get(
        f"/fhir/Binary/{created['id']}", headers={**pro, "Accept": "application/fhir+json"}
    )
    assert base64.b64decode(as_json.json()["data"]) == samples.pdf()
    # Search by patient, type, category, date, status; the Bundle is valid FHIR.
    for query in (
        f"patient={jeanne.id}",
        f"patient=Patient/{jeanne.id}&type=http://loinc.org|11502-2",
        f"patient.identifier={NIR_SYSTEM}|{jeanne.matricule}&category=10",
        f"patient={jeanne.id}&date=ge2020-01-01&status=current",
    ):
        bundle = world.client.get(f"/fhir/DocumentReference?{query}", headers=pro)
        assert bundle.status_code == 200, (query, bundle.text)
        Bundle.model_validate(bundle.json())
        assert [e["resource"]["id"] for e in bundle.json()["entry"]] == [created["id"]], query
    empty = world.client.get(
        f"/fhir/DocumentReference?patient={jeanne.id}&type=18748-4", headers=pro
    ).json()
    assert "entry" not in empty


def test_create_by_ins_identifier_hidden_and_new_version(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    resource = _reference(
        world,
        subject={"identifier": {"system": NIR_SYSTEM, "value": jeanne.matricule}},
        securityLabel=[{"coding": [{"code": "INVISIBLE_PATIENT"}]}],
    )
    created = _post(world, resource)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["securityLabel"][0]["coding"][0]["code"] == "INVISIBLE_PATIENT"
    assert world.listing(world.me()) == []  # pending the announcement consultation
    replacing = _reference(
        world,
        samples.pdf(2),
        relatesTo=[
            {"code": "replaces", "target": {"reference": f"DocumentReference/{first['id']}"}}
        ],
    )
    second = _post(world, replacing)
    assert second.status_code == 201, second.text
    assert second.json()["meta"]["versionId"] == "2"
    old = world.client.get(f"/fhir/DocumentReference/{first['id']}", headers=world.pro("author"))
    assert old.json()["status"] == "superseded"


def test_errors_are_operation_outcomes(world: World) -> None:
    jeanne = world.family.jeanne
    world.consent(jeanne, "author")
    cases = [
        (_reference(world, type={"coding": [{"code": "NOPE"}]}), 422, "type_code"),
        (_reference(world, samples.png()), 415, "PNG"),
        (_reference(world, subject={"reference": "Practitioner/1"}), 400, "subject"),
        (_reference(world, status="bogus"), 400, "status"),
        (_reference(world, securityLabel=[{"coding": [{"code": "SECRET"}]}]), 400, "securityLabel"),
    ]
    for resource, status, expected in cases:
        response = _post(world, resource)
        assert response.status_code == status, (expected, response.text)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert expected in str(outcome), outcome
    # Another professional without consent: refused; unknown or unreachable ids: not found.
    refused = _post(world, _reference(world), role="doctor")
    assert refused.status_code == 403
    doc = _post(world, _reference(world)).json()
    for path in (
        f"/fhir/DocumentReference/{doc['id']}",
        f"/fhir/Binary/{doc['id']}",
        "/fhir/DocumentReference/nope",
    ):
        response = world.client.get(path, headers=world.pro("doctor"))
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"
    too_broad = world.client.get(
        "/fhir/DocumentReference?type=11502-2", headers=world.pro("author")
    )
    assert too_broad.status_code == 400
    # The holder's token is not professional software's.
    holder = world.client.get(f"/fhir/DocumentReference/{doc['id']}", headers=world.me())
    assert holder.status_code == 403
