"""The holder's REST API of the medical profile: create, read, update, delete every type,
versions and ETags, the summary, and the audit trail of each access."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ..conftest import TokenFactory
from .conftest import Space, blood_pressure, examples, quantity

TYPES = list(examples("Patient/1"))


def create(client: TestClient, space: Space, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{space.url}/{body['resourceType']}", json=body, headers=space.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def audit_actions(client: TestClient, auth_headers: TokenFactory, space: Space) -> list[str]:
    response = client.get(
        "/fhir/AuditEvent",
        params={"patient": space.patient, "_count": "500"},
        headers=auth_headers("audit.read"),
    )
    assert response.status_code == 200, response.text
    actions = []
    for entry in response.json().get("entry", []):
        for coding in entry["resource"].get("subtype", []):
            if coding.get("system") == "urn:carnet:audit-action":
                actions.append(coding["code"])
    return actions


@pytest.mark.parametrize("resource_type", TYPES)
def test_create_read_update_delete(
    app_client: TestClient, jeanne: Space, resource_type: str, auth_headers: TokenFactory
) -> None:
    body = examples(jeanne.patient)[resource_type]
    response = app_client.post(f"{jeanne.url}/{resource_type}", json=body, headers=jeanne.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    rid = created["id"]
    assert created["resourceType"] == resource_type
    assert created["meta"]["versionId"] == "1"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith(f"/profile/{resource_type}/{rid}")

    read = app_client.get(f"{jeanne.url}/{resource_type}/{rid}", headers=jeanne.headers)
    assert read.status_code == 200, read.text
    assert read.json() == created
    assert read.headers["etag"] == 'W/"1"'

    listed = app_client.get(f"{jeanne.url}/{resource_type}", headers=jeanne.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 1
    assert [r["id"] for r in listed.json()["items"]] == [rid]

    changed = copy.deepcopy(created)
    changed.setdefault("identifier", []).append({"system": "urn:example:carnet-test", "value": "x"})
    updated = app_client.put(
        f"{jeanne.url}/{resource_type}/{rid}",
        json=changed,
        headers={**jeanne.headers, "If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.json()["identifier"][-1]["value"] == "x"

    deleted = app_client.delete(f"{jeanne.url}/{resource_type}/{rid}", headers=jeanne.headers)
    assert deleted.status_code == 204, deleted.text
    gone = app_client.get(f"{jeanne.url}/{resource_type}/{rid}", headers=jeanne.headers)
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"]["code"] == "resource_deleted"
    listed = app_client.get(f"{jeanne.url}/{resource_type}", headers=jeanne.headers)
    assert listed.json()["total"] == 0

    history = app_client.get(f"{jeanne.url}/{resource_type}/{rid}/_history", headers=jeanne.headers)
    assert history.status_code == 200, history.text
    versions = history.json()["versions"]
    assert [(v["version"], v["deleted"]) for v in versions] == [(3, True), (2, False), (1, False)]
    assert versions[2]["resource"] == created
    assert versions[0]["resource"] is None
    assert versions[0]["author"] == f"holder:{jeanne.person_id}"
    first = app_client.get(f"{jeanne.url}/{resource_type}/{rid}/_history/1", headers=jeanne.headers)
    assert first.status_code == 200
    assert first.json() == created
    third = app_client.get(f"{jeanne.url}/{resource_type}/{rid}/_history/3", headers=jeanne.headers)
    assert third.status_code == 410

    actions = audit_actions(app_client, auth_headers, jeanne)
    for action in ("create", "read", "search", "update", "delete", "history"):
        assert f"space.profile.{action}" in actions, (action, actions)


def test_subject_is_filled_in_and_ids_and_meta_are_the_servers(
    app_client: TestClient, jeanne: Space
) -> None:
    body = examples(jeanne.patient)["Observation"]
    del body["subject"]
    body["id"] = "mine"
    body["meta"] = {"versionId": "42", "lastUpdated": "2020-01-01T00:00:00Z"}
    body.pop("category", None)
    created = create(app_client, jeanne, body)
    assert created["subject"] == {"reference": jeanne.patient}
    assert created["id"] != "mine"
    assert created["meta"]["versionId"] == "1"
    assert created["category"][0]["coding"][0]["code"] == "vital-signs"


def test_me_names_the_holder(app_client: TestClient, jeanne: Space) -> None:
    body = examples(jeanne.patient)["Condition"]
    response = app_client.post(
        "/api/v1/spaces/me/profile/Condition", json=body, headers=jeanne.headers
    )
    assert response.status_code == 201, response.text
    listed = app_client.get("/api/v1/spaces/me/profile/Condition", headers=jeanne.headers)
    assert listed.json()["total"] == 1


def test_stale_versions_conflict(app_client: TestClient, jeanne: Space) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    url = f"{jeanne.url}/Condition/{created['id']}"
    first = app_client.put(url, json=created, headers={**jeanne.headers, "If-Match": 'W/"1"'})
    assert first.status_code == 200, first.text
    # A second editor still holding version 1.
    stale = app_client.put(url, json=created, headers={**jeanne.headers, "If-Match": 'W/"1"'})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "version_conflict"
    assert "version 2" in stale.json()["error"]["message"]
    # meta.versionId says the same as If-Match.
    by_meta = app_client.put(url, json=created, headers=jeanne.headers)
    assert by_meta.status_code == 409
    created["meta"]["versionId"] = "2"
    ok = app_client.put(url, json=created, headers=jeanne.headers)
    assert ok.status_code == 200
    assert ok.headers["etag"] == 'W/"3"'
    # A version must be named.
    del created["meta"]
    missing = app_client.put(url, json=created, headers=jeanne.headers)
    assert missing.status_code == 428
    assert missing.json()["error"]["code"] == "version_required"
    # Deleting with a stale If-Match.
    stale_delete = app_client.delete(url, headers={**jeanne.headers, "If-Match": 'W/"1"'})
    assert stale_delete.status_code == 409
    bad = app_client.put(url, json=created, headers={**jeanne.headers, "If-Match": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_if_match"


def test_update_keeps_the_id_of_the_url(app_client: TestClient, jeanne: Space) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    changed = {**created, "id": "another"}
    response = app_client.put(
        f"{jeanne.url}/Condition/{created['id']}",
        json=changed,
        headers={**jeanne.headers, "If-Match": 'W/"1"'},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "id_mismatch"


def test_a_deleted_resource_cannot_be_updated_and_deleting_again_changes_nothing(
    app_client: TestClient, jeanne: Space
) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Immunization"])
    url = f"{jeanne.url}/Immunization/{created['id']}"
    assert app_client.delete(url, headers=jeanne.headers).status_code == 204
    assert app_client.delete(url, headers=jeanne.headers).status_code == 204
    update = app_client.put(url, json=created, headers={**jeanne.headers, "If-Match": 'W/"2"'})
    assert update.status_code == 410
    history = app_client.get(f"{url}/_history", headers=jeanne.headers)
    assert len(history.json()["versions"]) == 2


def test_unknown_type_and_resource(app_client: TestClient, jeanne: Space) -> None:
    unknown_type = app_client.get(f"{jeanne.url}/DocumentReference", headers=jeanne.headers)
    assert unknown_type.status_code == 404
    assert unknown_type.json()["error"]["code"] == "unknown_resource_type"
    unknown = app_client.get(f"{jeanne.url}/Condition/nope", headers=jeanne.headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_resource"
    version = app_client.get(f"{jeanne.url}/Condition/nope/_history/x", headers=jeanne.headers)
    assert version.status_code == 404


def test_resources_of_another_space_are_not_reachable(
    app_client: TestClient, jeanne: Space, paul: Space
) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    # Paul naming Jeanne's space: refused by the access rules.
    response = app_client.get(f"{jeanne.url}/Condition", headers=paul.headers)
    assert response.status_code == 403, response.text
    # Paul naming his own space and Jeanne's resource id: not in his space.
    response = app_client.get(f"{paul.url}/Condition/{created['id']}", headers=paul.headers)
    assert response.status_code == 404
    response = app_client.delete(f"{paul.url}/Condition/{created['id']}", headers=paul.headers)
    assert response.status_code == 404


def test_summary_groups_the_profile(app_client: TestClient, jeanne: Space) -> None:
    bodies = examples(jeanne.patient)
    ids = {t: create(app_client, jeanne, body)["id"] for t, body in bodies.items()}
    stopped = copy.deepcopy(bodies["MedicationStatement"])
    stopped["status"] = "completed"
    stopped["effectivePeriod"] = {"start": "2015-01-01", "end": "2015-03-01"}
    past_id = create(app_client, jeanne, stopped)["id"]
    heavier = copy.deepcopy(bodies["Observation"])
    heavier["effectiveDateTime"] = "2026-02-05T08:30:00+01:00"
    heavier["valueQuantity"] = quantity(70.1, "kg")
    latest_weight = create(app_client, jeanne, heavier)["id"]
    create(app_client, jeanne, blood_pressure(jeanne.patient, 128, 82, "2026-01-05T09:00:00Z"))
    error = copy.deepcopy(bodies["Immunization"])
    error["status"] = "entered-in-error"
    create(app_client, jeanne, error)

    response = app_client.get(jeanne.url, headers=jeanne.headers)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["patient"] == jeanne.patient
    assert [r["id"] for r in summary["history"]["illnesses"]] == [ids["Condition"]]
    assert [r["id"] for r in summary["history"]["operations"]] == [ids["Procedure"]]
    assert [r["id"] for r in summary["history"]["hospitalisations"]] == [ids["Encounter"]]
    assert [r["id"] for r in summary["treatments"]["current"]] == [ids["MedicationStatement"]]
    assert [r["id"] for r in summary["treatments"]["past"]] == [past_id]
    assert [r["id"] for r in summary["allergies"]] == [ids["AllergyIntolerance"]]
    # The entered-in-error vaccination is left out.
    assert [r["id"] for r in summary["vaccinations"]] == [ids["Immunization"]]
    assert [r["id"] for r in summary["directives"]] == [ids["Consent"]]
    assert [r["id"] for r in summary["contacts"]] == [ids["RelatedPerson"]]
    measurements = {m["code"]: m for m in summary["measurements"]}
    assert measurements["29463-7"]["value"] == 70.1
    assert measurements["29463-7"]["id"] == latest_weight
    assert measurements["29463-7"]["count"] == 2
    assert measurements["85354-9"]["systolic"] == 128
    assert measurements["85354-9"]["diastolic"] == 82
    assert measurements["85354-9"]["unit"] == "mm[Hg]"


def test_list_filters_by_code_and_category(app_client: TestClient, jeanne: Space) -> None:
    bodies = examples(jeanne.patient)
    create(app_client, jeanne, bodies["Observation"])
    create(app_client, jeanne, blood_pressure(jeanne.patient, 120, 80, "2026-01-05T09:00:00Z"))
    response = app_client.get(
        f"{jeanne.url}/Observation",
        params={"code": "http://loinc.org|85354-9"},
        headers=jeanne.headers,
    )
    assert response.status_code == 200
    assert [r["code"]["coding"][0]["code"] for r in response.json()["items"]] == ["85354-9"]
    response = app_client.get(
        f"{jeanne.url}/Observation", params={"category": "laboratory"}, headers=jeanne.headers
    )
    assert response.json()["total"] == 0
    response = app_client.get(
        f"{jeanne.url}/Observation", params={"limit": "1"}, headers=jeanne.headers
    )
    assert response.json()["total"] == 2
    assert len(response.json()["items"]) == 1


def test_the_space_must_be_open(app_client: TestClient, make_space: Any) -> None:
    pending = make_space("NADIA", "HADDAD", "F", "1970-02-02", open_space=False)
    response = app_client.get(pending.url, headers=pending.headers)
    assert response.status_code in (403, 404), response.text


def test_token_without_a_space_scope_is_refused(
    app_client: TestClient, jeanne: Space, auth_headers: TokenFactory
) -> None:
    response = app_client.get(jeanne.url, headers=auth_headers("ins.read"))
    assert response.status_code == 403
