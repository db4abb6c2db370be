"""The holder's lifecycle API: /api/v1/spaces/{person} (GET, objection, opening, closure,
deletion-request, reopening), authorized by access.service.authorize, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database

from ..conftest import HolderHeaders, TokenFactory
from .conftest import Family, RunCli


def _post(
    client: TestClient, headers: dict[str, str], person: str | int, action: str
) -> dict[str, Any]:
    response = client.post(f"/api/v1/spaces/{person}/{action}", headers=headers)
    return {"status": response.status_code, **response.json()}


def _actions(body: dict[str, Any]) -> list[str]:
    return [a["action"] for a in body["next_actions"]]


def test_a_space_is_pending_after_the_information_then_objection_and_change_of_mind(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family, cli: RunCli
) -> None:
    me = holder_headers(family.paul.id)
    missing = app_client.get("/api/v1/spaces/me", headers=me)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "space_not_created"

    run = cli("space", "inform")
    assert run.exit_code == 0, run.stderr
    before = datetime.now(UTC)
    space = app_client.get("/api/v1/spaces/me", headers=me)
    assert space.status_code == 200, space.text
    body = space.json()
    assert body["state"] == "pending"
    assert body["channel"] == "letter"  # Paul has no e-mail
    deadline = datetime.fromisoformat(body["objection_deadline"])
    sent = datetime.fromisoformat(body["information_sent_at"])
    assert deadline - sent == timedelta(days=42)
    assert sent <= before
    assert _actions(body) == ["objection", "opening"]

    objected = _post(app_client, me, "me", "objection")
    assert objected["status"] == 200
    assert objected["state"] == "objected"
    assert objected["objected_at"] is not None
    again = _post(app_client, me, "me", "objection")
    assert (again["status"], again["error"]["code"]) == (409, "space_already_objected")
    closing = _post(app_client, me, "me", "closure")
    assert (closing["status"], closing["error"]["code"]) == (409, "space_objected")

    # Changing one's mind: a space refused can still be opened.
    opened = _post(app_client, me, "me", "opening")
    assert (opened["status"], opened["state"], opened["opened_how"]) == (200, "open", "holder")


def test_open_early_then_objection_is_refused_with_the_way_out(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family, cli: RunCli
) -> None:
    cli("space", "inform")
    me = holder_headers(family.jeanne.id)
    opened = _post(app_client, me, "me", "opening")
    assert (opened["status"], opened["state"], opened["opened_how"]) == (200, "open", "holder")
    assert _actions(opened) == ["closure", "deletion-request"]
    late = _post(app_client, me, "me", "objection")
    assert late["status"] == 409
    assert late["error"]["code"] == "space_already_open"
    assert "close it instead" in late["error"]["message"]
    twice = _post(app_client, me, f"{family.jeanne.id}", "opening")
    assert (twice["status"], twice["error"]["code"]) == (409, "space_already_open")


def test_closure_archives_reopening_restores_deletion_request_shortens(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family, cli: RunCli
) -> None:
    me = holder_headers(family.paul.id)
    cli("space", "inform")
    not_open = _post(app_client, me, "me", "closure")
    assert (not_open["status"], not_open["error"]["code"]) == (409, "space_not_open")
    assert "object" in not_open["error"]["message"]
    reopen_pending = _post(app_client, me, "me", "reopening")
    assert (reopen_pending["status"], reopen_pending["error"]["code"]) == (409, "space_not_closed")

    _post(app_client, me, "me", "opening")
    closed = _post(app_client, me, "me", "closure")
    assert closed["state"] == "closed"
    archive = datetime.fromisoformat(closed["purge_after"]) - datetime.fromisoformat(
        closed["closed_at"]
    )
    assert archive == timedelta(days=3653)  # 10 years
    assert _actions(closed) == ["reopening", "deletion-request"]
    twice = _post(app_client, me, "me", "closure")
    assert (twice["status"], twice["error"]["code"]) == (409, "space_already_closed")
    reopen_by_opening = _post(app_client, me, "me", "opening")
    assert reopen_by_opening["error"]["code"] == "space_closed"

    reopened = _post(app_client, me, "me", "reopening")
    assert (reopened["state"], reopened["closed_at"], reopened["purge_after"]) == (
        "open",
        None,
        None,
    )

    # A deletion request on an open space closes it and brings the purge within 3 months.
    deleting = _post(app_client, me, "me", "deletion-request")
    assert deleting["status"] == 200
    assert deleting["state"] == "closed"
    requested = datetime.fromisoformat(deleting["deletion_requested_at"])
    assert datetime.fromisoformat(deleting["purge_after"]) - requested == timedelta(days=90)
    assert _actions(deleting) == ["reopening"]
    again = _post(app_client, me, "me", "deletion-request")
    assert (again["status"], again["error"]["code"]) == (409, "deletion_already_requested")


def test_objection_before_the_information_creates_the_space_objected(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family
) -> None:
    me = holder_headers(family.paul.id)
    objected = _post(app_client, me, "me", "objection")
    assert (objected["status"], objected["state"]) == (200, "objected")
    closure = _post(app_client, holder_headers(family.awa.id), "me", "closure")
    assert (closure["status"], closure["error"]["code"]) == (409, "space_not_created")


def test_every_call_is_audited(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family, db: Database
) -> None:
    me = holder_headers(family.paul.id)
    _post(app_client, me, "me", "opening")
    app_client.get("/api/v1/spaces/me", headers=me)
    with db.session() as s:
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.person_id == family.paul.id)
            .order_by(AuditEvent.id)
        ).all()
    assert "space.lifecycle.opening" in actions
    assert "space.lifecycle.read" in actions


def test_strangers_and_professionals_cannot_touch_a_space(
    app_client: TestClient,
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
    family: Family,
    cli: RunCli,
) -> None:
    cli("space", "inform")
    stranger = holder_headers(family.paul.id)
    for action in ("objection", "opening", "closure"):
        refused = app_client.post(f"/api/v1/spaces/{family.jeanne.id}/{action}", headers=stranger)
        assert refused.status_code in (403, 404), refused.text
    peek = app_client.get(f"/api/v1/spaces/{family.jeanne.id}", headers=stranger)
    assert peek.status_code in (403, 404)
    unknown = app_client.get("/api/v1/spaces/999999999", headers=stranger)
    assert unknown.status_code in (403, 404)
    assert app_client.get("/api/v1/spaces/me").status_code == 401
    other_scope = app_client.get("/api/v1/spaces/me", headers=auth_headers("ins.read"))
    assert other_scope.status_code == 403
    # A professional's software never manages a space's lifecycle.
    professional = auth_headers("dmp")
    refused = app_client.post(f"/api/v1/spaces/{family.jeanne.id}/objection", headers=professional)
    assert refused.status_code in (403, 404)
    # Nothing changed.
    mine = app_client.get("/api/v1/spaces/me", headers=holder_headers(family.jeanne.id))
    assert mine.json()["state"] == "pending"


def test_a_parent_objects_for_and_opens_their_childs_space(
    app_client: TestClient, holder_headers: HolderHeaders, family: Family, cli: RunCli
) -> None:
    cli("space", "inform")
    parent = holder_headers(family.jeanne.id)
    child = family.lucas.id
    seen = app_client.get(f"/api/v1/spaces/{child}", headers=parent)
    assert seen.status_code == 200, seen.text
    assert seen.json()["state"] == "pending"
    objected = _post(app_client, parent, child, "objection")
    assert (objected["status"], objected["state"]) == (200, "objected")
    opened = _post(app_client, parent, child, "opening")
    assert (opened["state"], opened["opened_how"]) == ("open", "representative")
    # The child's own token (a 7-year-old has no card, but even so) is the holder's; Paul,
    # a stranger, is refused.
    stranger = _post(app_client, holder_headers(family.paul.id), child, "closure")
    assert stranger["status"] in (403, 404)
