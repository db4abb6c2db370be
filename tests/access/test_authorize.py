"""Every rule of the chokepoint (``access_service.authorize``), through the HTTP API.

Areas are reached through real routes: settings (``/privacy``), history (``/history``),
lifecycle (``GET /spaces/{p}``), documents (``/documents``), profile (``/profile``).
"""

from __future__ import annotations

import json
from typing import Any

from .conftest import RPPS, SPACES, World

BUNDLE = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode()


def upload(
    world: World, person_id: int, headers: dict[str, str], type_code: str = "11502-2"
) -> Any:
    return world.client.post(
        f"{SPACES}/{person_id}/documents",
        headers=headers,
        files={"file": ("doc.json", BUNDLE, "application/fhir+json")},
        data={"class_code": "10", "type_code": type_code, "title": f"Document {type_code}"},
    )


def error_code(response: Any) -> str:
    body = response.json()
    return str(body["error"]["code"] if "error" in body else body)


# -- holder -----------------------------------------------------------------------------------


def test_holder_reaches_settings_and_history_of_own_space_even_before_it_exists(
    world: World,
) -> None:
    jeanne = world.holder(world.people.jeanne.id)
    c = world.client
    assert c.get(f"{SPACES}/me/privacy", headers=jeanne).status_code == 200
    assert c.get(f"{SPACES}/me/history", headers=jeanne).status_code == 200
    # Documents need a space, and an open one.
    response = c.get(f"{SPACES}/me/documents", headers=jeanne)
    assert response.status_code == 404
    assert error_code(response) == "unknown_space"
    assert c.post(f"{SPACES}/me/objection", headers=jeanne).status_code == 200
    response = c.get(f"{SPACES}/me/documents", headers=jeanne)
    assert response.status_code == 403
    assert error_code(response) == "space_not_open"
    assert c.get(f"{SPACES}/me/privacy", headers=jeanne).status_code == 200
    world.open_space(world.people.jeanne)
    assert c.get(f"{SPACES}/me/documents", headers=jeanne).status_code == 200
    assert c.get(f"{SPACES}/{world.people.jeanne.id}/profile", headers=jeanne).status_code == 200


def test_unknown_person_is_a_404_for_everyone(world: World) -> None:
    c = world.client
    for headers in (world.holder(world.people.paul.id), world.pro("doctor")):
        for path in ("privacy", "documents", "history"):
            response = c.get(f"{SPACES}/987654321/{path}", headers=headers)
            assert response.status_code in (403, 404), (path, response.text)
            if path == "documents":
                assert response.status_code == 404, response.text
    response = c.get(f"{SPACES}/987654321/privacy", headers=world.holder(world.people.paul.id))
    assert response.status_code == 404
    assert error_code(response) == "unknown_space"
    response = c.get(f"{SPACES}/not-a-number/privacy", headers=world.holder(world.people.paul.id))
    assert response.status_code == 404


def test_a_stranger_holder_is_refused(world: World) -> None:
    world.open_space(world.people.jeanne)
    paul = world.holder(world.people.paul.id)
    for path in ("privacy", "documents", "profile", "history", "consents", "aidants", "blocks"):
        response = world.client.get(f"{SPACES}/{world.people.jeanne.id}/{path}", headers=paul)
        assert response.status_code == 403, (path, response.text)
        assert error_code(response) == "space_access_denied"
    response = world.client.get(f"{SPACES}/{world.people.jeanne.id}", headers=paul)
    assert response.status_code == 403


# -- representative ---------------------------------------------------------------------------


def test_a_parent_manages_a_minor_childs_space_not_an_adult_childs(world: World) -> None:
    p = world.people
    jeanne = world.holder(p.jeanne.id)
    c = world.client
    # Lucas (10) is attached to Jeanne: she opens and manages his space.
    world.open_space(p.lucas, as_person=p.jeanne)
    assert c.get(f"{SPACES}/{p.lucas.id}/documents", headers=jeanne).status_code == 200
    response = c.put(
        f"{SPACES}/{p.lucas.id}/privacy",
        json={"emergency_access_refused": False, "notify_by_email": True},
        headers=jeanne,
    )
    assert response.status_code == 200, response.text
    assert upload(world, p.lucas.id, jeanne, "DOCPAT05").status_code == 201
    # Emma turned 18 today: her mother no longer reaches her space.
    world.open_space(p.emma)
    response = c.get(f"{SPACES}/{p.emma.id}/documents", headers=jeanne)
    assert response.status_code == 403
    assert error_code(response) == "space_access_denied"
    # Marc is Lucas's grandfather, not attached to him in the rights.
    response = c.get(f"{SPACES}/{p.lucas.id}/documents", headers=world.holder(p.marc.id))
    assert response.status_code == 403
    # The parent's accesses are in the child's history.
    history = c.get(f"{SPACES}/{p.lucas.id}/history", headers=jeanne).json()["items"]
    assert {h["actor_kind"] for h in history} == {"representative"}
    assert any(h["what"].startswith("documents") for h in history)


# -- aidant -----------------------------------------------------------------------------------


def test_a_relative_acts_within_the_scope_and_until_revoked(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    marc = world.holder(p.marc.id)
    aidant_id = world.aidant(p.jeanne, p.marc, "documents:read history:read")
    assert c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=marc).status_code == 200
    assert c.get(f"{SPACES}/{p.jeanne.id}/history", headers=marc).status_code == 200
    response = c.get(f"{SPACES}/{p.jeanne.id}/profile", headers=marc)
    assert response.status_code == 403
    assert error_code(response) == "outside_aidant_scope"
    assert "documents:read" in response.json()["error"]["message"]
    response = upload(world, p.jeanne.id, marc)
    assert response.status_code == 403
    assert error_code(response) == "outside_aidant_scope"
    # Settings and lifecycle are never a relative's.
    assert c.get(f"{SPACES}/{p.jeanne.id}/privacy", headers=marc).status_code == 403
    assert c.post(f"{SPACES}/{p.jeanne.id}/closure", headers=marc).status_code == 403
    listed = c.get(f"{SPACES}/me/aidants", headers=world.holder(p.jeanne.id)).json()
    assert [a["person_id"] for a in listed] == [p.marc.id]
    assert listed[0]["name"] == "MARC DUPONT"
    response = c.delete(f"{SPACES}/me/aidants/{aidant_id}", headers=world.holder(p.jeanne.id))
    assert response.status_code == 204
    response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=marc)
    assert response.status_code == 403
    assert error_code(response) == "space_access_denied"


def test_a_relatives_access_needs_a_known_scope_and_a_future_end(world: World) -> None:
    p = world.people
    jeanne = world.holder(p.jeanne.id)
    c = world.client
    for body in (
        {"person": p.marc.matricule, "scope": "lifecycle:write"},
        {"person": p.marc.matricule, "scope": "documents:read", "ends_at": "2020-01-01T00:00:00Z"},
        {"person": p.jeanne.matricule, "scope": "documents:read"},
    ):
        assert c.post(f"{SPACES}/me/aidants", json=body, headers=jeanne).status_code == 422


def test_a_relatives_access_ends_at_its_end_date(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    p = world.people
    world.open_space(p.jeanne)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    world.aidant(p.jeanne, p.marc, "documents:read", ends_at=soon.isoformat())
    marc = world.holder(p.marc.id)
    assert world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=marc).status_code == 200
    import time

    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
    response = world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=marc)
    assert response.status_code == 403


def test_a_relative_of_a_space_not_open_is_told_so(world: World) -> None:
    p = world.people
    world.aidant(p.jeanne, p.marc, "documents:read")
    marc = world.holder(p.marc.id)
    assert (
        world.client.post(f"{SPACES}/me/objection", headers=world.holder(p.jeanne.id)).status_code
        == 200
    )
    response = world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=marc)
    assert response.status_code == 403
    assert error_code(response) == "space_not_open"


# -- professionals ----------------------------------------------------------------------------


def test_a_professional_without_relationship_is_told_how_to_get_one(world: World) -> None:
    p = world.people
    world.open_space(p.jeanne)
    response = world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro("doctor"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "no_care_relationship"
    for hint in ("card", "consent", "emergency-access"):
        assert hint in error["message"]


def test_consent_lets_a_professional_read_and_feed_but_never_manage(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    doctor = world.pro("doctor")
    assert c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=doctor).status_code == 200
    assert c.get(f"{SPACES}/{p.jeanne.id}/profile", headers=doctor).status_code == 200
    assert upload(world, p.jeanne.id, doctor).status_code == 201
    for method, path in (
        ("get", "privacy"),
        ("get", "history"),
        ("get", "consents"),
        ("get", "aidants"),
        ("get", "blocks"),
        ("get", ""),
        ("post", "closure"),
    ):
        url = f"{SPACES}/{p.jeanne.id}/{path}".rstrip("/")
        response = getattr(c, method)(url, headers=doctor)
        assert response.status_code == 403, (path, response.text)
    consents = c.get(f"{SPACES}/me/consents", headers=world.holder(p.jeanne.id)).json()
    assert [(g["professional"]["rpps"], g["basis"]) for g in consents] == [
        (RPPS["doctor"], "consent")
    ]
    # Withdrawn: no more access.
    response = c.delete(f"{SPACES}/me/consents/{RPPS['doctor']}", headers=world.holder(p.jeanne.id))
    assert response.status_code == 204
    response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=doctor)
    assert response.status_code == 403
    assert error_code(response) == "no_care_relationship"


def test_a_blocked_professional_reaches_nothing(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "blocked")
    world.block(p.jeanne, "blocked")
    blocked = world.pro("blocked")
    response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=blocked)
    assert response.status_code == 403
    assert error_code(response) == "professional_blocked"
    response = world.emergency(p.jeanne, "blocked")
    assert response.status_code == 403
    assert error_code(response) == "professional_blocked"
    blocks = c.get(f"{SPACES}/me/blocks", headers=world.holder(p.jeanne.id)).json()
    assert [b["professional"]["rpps"] for b in blocks] == [RPPS["blocked"]]
    # Consent cannot be given to a blocked professional.
    response = c.post(
        f"{SPACES}/me/consents", json={"rpps": RPPS["blocked"]}, headers=world.holder(p.jeanne.id)
    )
    assert response.status_code == 409
    response = c.delete(f"{SPACES}/me/blocks/{RPPS['blocked']}", headers=world.holder(p.jeanne.id))
    assert response.status_code == 204
    assert c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=blocked).status_code == 200


def test_professionals_never_learn_of_a_space_that_is_not_open(world: World) -> None:
    p = world.people
    c = world.client
    # Paul objected; Nadia has no space at all.
    assert c.post(f"{SPACES}/me/objection", headers=world.holder(p.paul.id)).status_code == 200
    world.consent(p.paul, "doctor")
    for person in (p.paul, p.nadia):
        for path in ("documents", "profile"):
            response = c.get(f"{SPACES}/{person.id}/{path}", headers=world.pro("doctor"))
            assert response.status_code == 404, response.text
        response = world.emergency(person, "doctor")
        assert response.status_code == 404, response.text


def test_software_bound_to_a_structure_names_the_professional(
    world: World, auth_headers: Any
) -> None:
    from carnet.directory.service import directory_service

    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    with world_session(world) as session:
        summary = directory_service.professional_summary(session, world.pros["doctor"])
        assert summary is not None
        assert summary.structure_id is not None
        structure_id = summary.structure_id
    software = auth_headers("dmp", structure_id=structure_id)
    url = f"{SPACES}/{p.jeanne.id}/documents"
    response = c.get(url, headers=software)
    assert response.status_code == 403
    assert error_code(response) == "professional_required"
    assert (
        c.get(url, headers={**software, "X-Professional-RPPS": RPPS["doctor"]}).status_code == 200
    )
    # The podiatrist practises there too, but has no relationship with Jeanne.
    response = c.get(url, headers={**software, "X-Professional-RPPS": RPPS["podiatrist"]})
    assert response.status_code == 403
    assert error_code(response) == "no_care_relationship"
    response = c.get(url, headers={**software, "X-Professional-RPPS": "10199999990"})
    assert response.status_code == 403
    assert error_code(response) == "professional_not_in_directory"
    response = c.get(url, headers={**software, "X-Professional-RPPS": "12"})
    assert response.status_code == 422
    # Software bound to nobody, and software without the dmp scope.
    response = c.get(url, headers=auth_headers("dmp"))
    assert response.status_code == 403
    assert error_code(response) == "client_not_bound"
    response = c.get(url, headers=auth_headers("apcv", professional_id=world.pros["doctor"]))
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"


def test_a_professional_who_left_the_directory_is_refused(world: World) -> None:
    p = world.people
    world.open_space(p.jeanne)
    software = world.client_for("dmp", professional_id=world.pros["inactive"])
    response = world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=software)
    assert response.status_code == 403
    assert error_code(response) == "professional_not_in_directory"


# -- emergency and regulation -------------------------------------------------------------------


def test_break_glass_reads_for_a_limited_time_with_a_reason(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    assert upload(world, p.jeanne.id, world.pro("doctor")).status_code == 201
    nurse = world.pro("nurse")
    response = c.post(
        f"{SPACES}/{p.jeanne.id}/emergency-access",
        json={"reason": "urgent", "kind": "emergency"},
        headers=nurse,
    )
    assert response.status_code == 422
    response = world.emergency(p.jeanne, "nurse")
    assert response.status_code == 201, response.text
    opened = response.json()
    assert opened["kind"] == "emergency"
    hours = (_parse(opened["expires_at"]) - _parse(opened["granted_at"])).total_seconds() / 3600
    assert hours == 12
    listed = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=nurse)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1
    response = upload(world, p.jeanne.id, nurse)
    assert response.status_code == 403
    assert error_code(response) == "read_only_access"
    history = c.get(f"{SPACES}/me/history", headers=world.holder(p.jeanne.id)).json()["items"]
    emergency = [h for h in history if h["actor_kind"] == "emergency"]
    assert {h["what"] for h in emergency} >= {"emergency_access.open"}
    assert all(h["reason"] == "patient inconscient aux urgences" for h in emergency)
    assert emergency[0]["profession_label"]


def test_break_glass_is_refused_when_the_holder_refused_it(world: World) -> None:
    p = world.people
    world.open_space(p.jeanne)
    response = world.client.put(
        f"{SPACES}/me/privacy",
        json={"emergency_access_refused": True, "notify_by_email": False},
        headers=world.holder(p.jeanne.id),
    )
    assert response.status_code == 200
    for kind in ("emergency", "regulation"):
        response = world.emergency(p.jeanne, "regulator", kind)
        assert response.status_code == 403
        assert error_code(response) == "emergency_access_refused"
    response = world.client.get(f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro("regulator"))
    assert response.status_code == 403


def test_regulation_needs_its_scope(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    response = world.emergency(p.jeanne, "regulator", "regulation", "dmp")
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"
    response = world.emergency(p.jeanne, "regulator", "regulation")
    assert response.status_code == 201, response.text
    regulator = world.pro("regulator", "dmp.regulation")
    assert c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=regulator).status_code == 200
    # A regulation grant serves the regulation software only, not the doctor's dmp software.
    response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro("regulator"))
    assert response.status_code == 403
    assert error_code(response) == "no_care_relationship"
    history = c.get(f"{SPACES}/me/history", headers=world.holder(p.jeanne.id)).json()["items"]
    assert "regulator" in {h["actor_kind"] for h in history}
    # Holders cannot open it.
    response = c.post(
        f"{SPACES}/{p.jeanne.id}/emergency-access",
        json={"reason": "je veux voir ce dossier", "kind": "emergency"},
        headers=world.holder(p.paul.id),
    )
    assert response.status_code == 403


# -- the access matrix ---------------------------------------------------------------------------


def test_the_access_matrix_filters_documents_by_profession(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    for role in ("doctor", "podiatrist", "dentist", "psychologist"):
        world.consent(p.jeanne, role)
    doctor = world.pro("doctor")
    for type_code in ("57057-5", "EXPPAT_3", "11502-2"):
        assert upload(world, p.jeanne.id, doctor, type_code).status_code == 201

    def types(role: str) -> set[str]:
        response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro(role))
        assert response.status_code == 200, response.text
        return {d["type_code"] for d in response.json()["items"]}

    assert types("doctor") == {"57057-5", "EXPPAT_3", "11502-2"}
    assert types("podiatrist") == {"EXPPAT_3", "11502-2"}  # no delivery report
    assert types("dentist") == {"57057-5", "11502-2"}  # no advance directives
    assert types("psychologist") == set()  # a profession the matrix does not know


def test_history_is_paged_newest_first_and_served_as_fhir(world: World) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    doctor = world.pro("doctor")
    for _ in range(3):
        assert c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=doctor).status_code == 200
    jeanne = world.holder(p.jeanne.id)
    first = c.get(f"{SPACES}/me/history?limit=2", headers=jeanne).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    second = c.get(f"{SPACES}/me/history?limit=2&cursor={first['next_cursor']}", headers=jeanne)
    ids = [h["id"] for h in first["items"] + second.json()["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3
    entry = first["items"][0]
    assert entry["actor_kind"] == "professional"
    assert "Doctor" in entry["who"]
    assert RPPS["doctor"] in entry["who"]
    assert entry["profession_code"] == "10"
    # The holder's own accesses are not in their history.
    assert all(h["actor_kind"] != "holder" for h in second.json()["items"])

    bundle = c.get("/fhir/space/AuditEvent?_count=2", headers=jeanne)
    assert bundle.status_code == 200, bundle.text
    body = bundle.json()
    assert body["resourceType"] == "Bundle"
    assert len(body["entry"]) == 2
    event = body["entry"][0]["resource"]
    assert event["resourceType"] == "AuditEvent"
    assert event["agent"][0]["role"][0]["coding"][0]["code"] == "10"
    assert event["agent"][0]["who"]["identifier"] == {
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": "8" + RPPS["doctor"],
    }
    assert event["entity"][0]["what"]["reference"] == f"Patient/{p.jeanne.id}"
    assert any(link["relation"] == "next" for link in body["link"])
    # Professionals and strangers do not read it.
    assert c.get("/fhir/space/AuditEvent", headers=doctor).status_code == 403
    response = c.get(
        f"/fhir/space/AuditEvent?patient=Patient/{p.jeanne.id}", headers=world.holder(p.paul.id)
    )
    assert response.status_code == 403


def test_purge_removes_a_persons_access_rows(world: World) -> None:
    from carnet.access.service import access_service

    p = world.people
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    world.block(p.jeanne, "blocked")
    world.aidant(p.jeanne, p.marc, "documents:read")
    assert (
        world.client.get(
            f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro("doctor")
        ).status_code
        == 200
    )
    with world_session(world) as session:
        removed = access_service.purge_person(session, p.jeanne.id)
    assert removed >= 4
    jeanne = world.holder(p.jeanne.id)
    assert world.client.get(f"{SPACES}/me/history", headers=jeanne).json()["items"] == []
    assert world.client.get(f"{SPACES}/me/aidants", headers=jeanne).json() == []
    assert world.client.get(f"{SPACES}/me/consents", headers=jeanne).json() == []
    assert world.client.get(f"{SPACES}/me/blocks", headers=jeanne).json() == []


# -- helpers -------------------------------------------------------------------------------------


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def world_session(world: World) -> Any:
    database = world.client.app.state.database  # type: ignore[attr-defined]
    return database.session()
