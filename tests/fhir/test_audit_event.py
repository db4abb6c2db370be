"""The audit trail as FHIR AuditEvent: every access shows up, filters, paging, access rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from carnet.auth.service import AuthService

from ..conftest import TokenFactory
from .conftest import NIR_SYSTEM, Register, diagnostics, outcome_of, valid_bundle


def _client_id(headers: dict[str, str], client: TestClient) -> str:
    """The OAuth client id behind the bearer token of ``headers``."""
    service: AuthService = client.app.state.auth_service  # type: ignore[attr-defined]
    token = headers["Authorization"].removeprefix("Bearer ")
    return service.verify_access_token(token, datetime.now(UTC)).client_id


def _trail(client: TestClient, headers: dict[str, str], params: Any = None) -> dict[str, Any]:
    response = client.get("/fhir/AuditEvent", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    bundle: dict[str, Any] = response.json()
    valid_bundle(bundle)
    for entry in bundle.get("entry", []):
        FhirAuditEvent.model_validate(entry["resource"])
    return bundle


def _events(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


def _action(event: dict[str, Any]) -> str:
    (code,) = [s["code"] for s in event["subtype"] if s["system"] == "urn:carnet:audit-action"]
    return str(code)


def test_reads_done_by_a_client_show_up_for_an_auditor(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    reader = auth_headers("ins.read")
    app_client.get(f"/fhir/Patient/{register.dupont}", headers=reader)
    app_client.get(
        "/fhir/Patient",
        params={"identifier": f"{NIR_SYSTEM}|{register.dupont_nir}"},
        headers=reader,
    )
    app_client.get(f"/fhir/Patient/{register.awa}", headers=reader)  # another patient

    auditor = auth_headers("audit.read")
    bundle = _trail(app_client, auditor, {"patient": f"Patient/{register.dupont}"})
    events = _events(bundle)
    assert bundle["total"] == 2
    assert [_action(e) for e in events] == ["person.search", "person.read"]  # newest first
    read = events[1]
    assert read["action"] == "R"
    assert {"system": "http://hl7.org/fhir/restful-interaction", "code": "read"} in read["subtype"]
    assert read["type"]["code"] == "rest"
    assert read["outcome"] == "0"
    (agent,) = read["agent"]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == _client_id(reader, app_client)
    assert agent["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert agent["network"]["address"]
    assert read["source"]["observer"]["display"] == "Carnet"
    assert read["entity"][0]["what"]["reference"] == f"Patient/{register.dupont}"
    assert events[0]["action"] == "E"  # a search executes

    # The same events through read, and the plain id form of the reference.
    one = app_client.get(f"/fhir/AuditEvent/{read['id']}", headers=auditor)
    assert one.status_code == 200
    assert one.json() == read
    # Consulting the trail about a person is an access to that person's data: it is recorded.
    again = _events(_trail(app_client, auditor, {"patient": str(register.dupont)}))
    assert [_action(e) for e in again] == [
        "audit.read",
        "audit.search",
        "person.search",
        "person.read",
    ]


def test_match_probes_are_audited_with_their_insi_code(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    app_client.post(
        "/fhir/Patient/$match",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "resource",
                    "resource": {
                        "resourceType": "Patient",
                        "name": [{"family": "MARTIN", "given": ["CLAIRE"]}],
                        "gender": "female",
                        "birthDate": "1975-06-01",
                    },
                }
            ],
        },
        headers=auth_headers("ins.read"),
    )
    events = _events(_trail(app_client, auth_headers("audit.read"), {"subtype": "ins.search"}))
    assert [(_action(e), e["outcome"]) for e in events] == [("ins.search", "0")]
    assert "02" in events[0]["outcomeDesc"]
    assert all(ent.get("what") is None for ent in events[0].get("entity", []))  # nobody named


def test_filters_by_date_action_subtype_and_agent(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    first = auth_headers("ins.read")
    second = auth_headers("ins.read")
    app_client.get(f"/fhir/Patient/{register.dupont}", headers=first)
    app_client.get(f"/fhir/Patient/{register.dupont}", headers=second)
    app_client.get("/fhir/Patient", params={"identifier": register.awa_nia}, headers=first)
    auditor = auth_headers("audit.read")

    today = datetime.now(UTC).date()
    assert _trail(app_client, auditor, {"date": f"ge{today}", "action": "R"})["total"] == 2
    assert _trail(app_client, auditor, {"date": f"lt{today}"})["total"] == 0
    assert _trail(app_client, auditor, {"date": str(today + timedelta(days=1))})["total"] == 0
    both = [("date", f"ge{today - timedelta(days=1)}"), ("date", f"le{today}")]
    assert _trail(app_client, auditor, [*both, ("action", "R")])["total"] == 2

    mine = _trail(app_client, auditor, {"agent": _client_id(first, app_client)})
    assert sorted(_action(e) for e in _events(mine)) == ["person.read", "person.search"]
    reads = _events(_trail(app_client, auditor, {"subtype": "read"}))
    assert {_action(e) for e in reads} == {"person.read"}
    searches = _trail(app_client, auditor, {"action": "E", "subtype": "person.search"})
    assert [_action(e) for e in _events(searches)] == ["person.search"]
    either = _trail(app_client, auditor, {"subtype": "person.read,person.search"})
    assert either["total"] == 3
    by_system = _trail(app_client, auditor, {"subtype": "urn:carnet:audit-action|person.read"})
    assert by_system["total"] == 2


def test_paging_follows_next_links_without_overlap(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    reader = auth_headers("ins.read")
    for _ in range(5):
        app_client.get(f"/fhir/Patient/{register.rose}", headers=reader)
    auditor = auth_headers("audit.read")
    # Each page consulted adds an audit.search row for Rose; the reads alone stay at five.
    params = {"patient": f"Patient/{register.rose}", "subtype": "read", "_count": "2"}
    seen: list[str] = []
    bundle = _trail(app_client, auditor, params)
    pages = 1
    while True:
        assert bundle["total"] == 5
        seen += [e["id"] for e in _events(bundle)]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if "next" not in links:
            break
        url = urlsplit(links["next"])
        assert url.path == "/fhir/AuditEvent"
        assert parse_qs(url.query)["patient"] == [f"Patient/{register.rose}"]
        assert parse_qs(url.query)["subtype"] == ["read"]
        bundle = _trail(app_client, auditor, parse_qs(url.query))
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, key=int, reverse=True)
    # _count=0: only the total.
    counted = _trail(app_client, auditor, {**params, "_count": "0"})
    assert counted["total"] == 5
    assert "entry" not in counted
    assert "total" not in _trail(app_client, auditor, {**params, "_total": "none"})


def test_consulting_the_trail_is_itself_audited(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    auditor = auth_headers("audit.read")
    assert _trail(app_client, auditor, {"patient": f"Patient/{register.karim}"})["total"] == 0
    again = _events(_trail(app_client, auditor, {"patient": f"Patient/{register.karim}"}))
    assert [_action(e) for e in again] == ["audit.search"]
    assert again[0]["agent"][0]["who"]["identifier"]["value"] == _client_id(auditor, app_client)


def test_errors_and_access_rules(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    auditor = auth_headers("audit.read")
    for event_id in ("987654", "x1"):
        outcome_of(app_client.get(f"/fhir/AuditEvent/{event_id}", headers=auditor), 404)
    for params, word in (
        ({"date": "yesterday"}, "date"),
        ({"date": "ne2026-01-01"}, "prefix"),
        ({"date": "2026-13"}, "date"),
        ({"action": "X"}, "action"),
        ({"patient": "Practitioner/1"}, "Patient"),
        ({"_count": "-1"}, "_count"),
        ({"_sort": "date"}, "_sort"),
    ):
        body = outcome_of(app_client.get("/fhir/AuditEvent", params=params, headers=auditor), 400)
        assert word in diagnostics(body), params
    lenient = app_client.get(
        "/fhir/AuditEvent",
        params={"_sort": "date"},
        headers={**auditor, "Prefer": "handling=lenient"},
    )
    assert lenient.status_code == 200
    # A patient id that cannot exist matches nothing.
    assert _trail(app_client, auditor, {"patient": "Patient/abc"})["total"] == 0

    reader = auth_headers("ins.read")
    denied = app_client.get("/fhir/AuditEvent", headers=reader)
    assert "audit.read" in diagnostics(outcome_of(denied, 403))
    outcome_of(app_client.get("/fhir/AuditEvent"), 401)
    outcome_of(app_client.get("/fhir/AuditEvent/1", headers=reader), 403)
