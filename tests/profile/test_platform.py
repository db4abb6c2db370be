"""What other parts of the platform call: the purge of a person's profile (space purge job) and
the synthetic profile of the demo."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.profile.service import profile_service

from ..conftest import TokenFactory
from .conftest import Space, examples
from .test_rest import audit_actions, create


def test_demo_profile_is_valid_and_fills_every_section(
    app_client: TestClient, db: Database, jeanne: Space
) -> None:
    with db.session() as session:
        written = profile_service.write_demo_profile(
            session, jeanne.person_id, now=datetime.now(UTC), seed=7
        )
    assert len(written) >= 15
    summary = app_client.get(jeanne.url, headers=jeanne.headers).json()
    assert len(summary["history"]["illnesses"]) == 2
    assert summary["history"]["operations"]
    assert summary["history"]["hospitalisations"]
    assert len(summary["treatments"]["current"]) == 2
    assert summary["allergies"]
    assert summary["directives"]
    assert summary["contacts"]
    assert len(summary["vaccinations"]) == 3
    codes = {m["code"] for m in summary["measurements"]}
    assert {"29463-7", "8302-2", "85354-9", "2339-0"} <= codes
    weight = next(m for m in summary["measurements"] if m["code"] == "29463-7")
    assert weight["count"] == 3
    assert all(r.author == "system:demo" for r in written)


def test_purge_removes_every_version_of_one_person_only(
    app_client: TestClient,
    db: Database,
    jeanne: Space,
    paul: Space,
    auth_headers: TokenFactory,
) -> None:
    created = create(app_client, jeanne, examples(jeanne.patient)["Condition"])
    app_client.delete(f"{jeanne.url}/Condition/{created['id']}", headers=jeanne.headers)
    create(app_client, jeanne, examples(jeanne.patient)["Observation"])
    kept = create(app_client, paul, examples(paul.patient)["Observation"])
    with db.session() as session:
        removed = profile_service.purge_person(session, jeanne.person_id)
    assert removed == 3
    assert app_client.get(f"{jeanne.url}/Observation", headers=jeanne.headers).json()["total"] == 0
    history = app_client.get(
        f"{jeanne.url}/Condition/{created['id']}/_history", headers=jeanne.headers
    )
    assert history.status_code == 404
    listed = app_client.get(f"{paul.url}/Observation", headers=paul.headers).json()
    assert [r["id"] for r in listed["items"]] == [kept["id"]]
    assert "space.profile.purge" in audit_actions(app_client, auth_headers, jeanne)
