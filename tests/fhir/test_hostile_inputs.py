"""Hostile inputs to the FHIR adapter: out-of-range dates, pathological JSON, huge OR lists.

Each test here failed before the fix it accompanies (see the review report).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database

from ..conftest import TokenFactory
from .conftest import FHIR_JSON, Register


def _outcome(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["details"]["coding"][0]["code"] == code
    return body


def _audit_count(db: Database, action: str) -> int:
    with db.session() as s:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(s.scalar(query) or 0)


@pytest.mark.parametrize(
    "value",
    [
        "ge9999-12-31",  # the day after is past datetime.max
        "9999-12-31",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",  # before datetime.min in UTC
        "9999-12",
        "9999",
    ],
)
def test_audit_event_dates_out_of_range_are_400_not_500(
    app_client: TestClient, auth_headers: TokenFactory, value: str
) -> None:
    response = app_client.get(
        "/fhir/AuditEvent", params={"date": value}, headers=auth_headers("audit.read")
    )
    body = _outcome(response, 400, "invalid_search_parameter")
    assert body["issue"][0]["expression"] == ["date"]


def test_audit_event_dates_take_ascii_digits_only(
    app_client: TestClient, auth_headers: TokenFactory
) -> None:
    response = app_client.get(
        "/fhir/AuditEvent", params={"date": "２０２６-01-01"}, headers=auth_headers("audit.read")
    )
    _outcome(response, 400, "invalid_search_parameter")


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,  # deeper than the parser's recursion limit
        b'{"resourceType": "Parameters", "parameter": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": NaN}]}',
        b"Infinity",
    ],
)
def test_match_refuses_pathological_json_with_400(
    app_client: TestClient, auth_headers: TokenFactory, raw: bytes
) -> None:
    response = app_client.post(
        "/fhir/Patient/$match",
        content=raw,
        headers={**auth_headers("ins.read"), "Content-Type": FHIR_JSON},
    )
    _outcome(response, 400, "malformed_json")


def test_patient_search_counts_each_identifier_once_in_the_audit_trail(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    """Before: ``_id=1,1,1,…`` read (and audited) the same person once per repetition."""
    headers = auth_headers("ins.read")
    before = _audit_count(db, "person.read")
    response = app_client.get(
        "/fhir/Patient", params={"_id": ",".join([str(register.dupont)] * 50)}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    assert _audit_count(db, "person.read") == before + 1


def test_patient_search_refuses_more_than_100_values_before_reading_anything(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    """Before: 5,000 ids in one request meant 5,000 register reads and audit entries."""
    headers = auth_headers("ins.read")
    before = _audit_count(db, "person.read")
    ids = ",".join(str(register.dupont + i) for i in range(101))
    body = _outcome(
        app_client.get("/fhir/Patient", params={"_id": ids}, headers=headers),
        400,
        "too_many_values",
    )
    assert body["issue"][0]["expression"] == ["_id"]
    assert _audit_count(db, "person.read") == before

    # Across repeated parameters too (AND of ORs).
    half = ",".join(str(register.dupont + i) for i in range(60))
    response = app_client.get(
        "/fhir/Patient", params=[("_id", half), ("_id", half)], headers=headers
    )
    _outcome(response, 400, "too_many_values")

    ok = ",".join(str(register.dupont + i) for i in range(100))
    response = app_client.get("/fhir/Patient", params={"_id": ok}, headers=headers)
    assert response.status_code == 200, response.text
