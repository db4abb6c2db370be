"""The ADRi-like query: ``POST /api/v1/rights/query``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.rights.service import local_today

from ..conftest import TokenFactory
from .conftest import Family, Member, family_rights, line, load

QUERY = "/api/v1/rights/query"


@pytest.fixture
def family_with_rights(db: Database, family: Family) -> Family:
    report = load(db, *family_rights(family))
    assert report.committed, report.errors
    return family


@pytest.fixture
def ask(app_client: TestClient, auth_headers: TokenFactory) -> Any:
    headers = auth_headers("rights.read")

    def post(member: Member | str, birth_date: str | None = None, **extra: Any) -> Any:
        nir = member if isinstance(member, str) else member.nir
        if birth_date is None:
            assert isinstance(member, Member)
            birth_date = member.birth_date
        return app_client.post(
            QUERY, json={"nir": nir, "birth_date": birth_date, **extra}, headers=headers
        )

    return post


def test_covered_inside_a_period(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    response = ask(f.paul, reference_date="2026-03-01")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "reference_date": "2026-03-01",
        "covered": True,
        "reason": None,
        "reason_message": None,
        "beneficiary": {
            "matricule": f.paul.nir,
            "kind": "NIR",
            "birth_name": "MOREAU",
            "first_names": ["PAUL"],
            "used_name": None,
            "used_first_name": None,
            "sex": "M",
            "birth_date": "1980-03-12",
        },
        "insured": {"matricule": f.paul.nir},
        "quality": {"code": "00", "label": "Assuré (ouvrant droit)"},
        "rank": 1,
        "regime": {"code": "01", "label": "Régime général (CNAM)"},
        "fund": "751",
        "centre": "0012",
        "coverage": {"start": "2026-01-01", "end": "2026-06-30"},
        "situations": [
            {
                "code": "ALD",
                "label": "Affection de longue durée (exonération du ticket modérateur)",
                "start": "2026-02-01",
                "end": "2026-03-31",
                "ald_number": 15,
                "participation": None,
            }
        ],
        # One year from the reference date, cut at the end of the period.
        "validity": {"start": "2026-03-01", "end": "2026-06-30"},
    }


def test_change_of_fund_between_two_periods(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    last_day = ask(f.marie, reference_date="2026-06-30").json()
    first_day = ask(f.marie, reference_date="2026-07-01").json()
    assert (last_day["fund"], last_day["centre"]) == ("751", "0012")
    assert last_day["coverage"] == {"start": "2026-01-01", "end": "2026-06-30"}
    assert (first_day["fund"], first_day["centre"]) == ("691", "0040")
    assert first_day["coverage"] == {"start": "2026-07-01", "end": None}
    # A dependant: the insured person is Paul.
    assert first_day["insured"] == {"matricule": f.paul.nir}
    assert first_day["quality"] == {"code": "02", "label": "Conjoint"}


def test_open_ended_period_and_validity_window(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    far = ask(f.awa, reference_date="2040-02-29").json()
    assert far["covered"] is True
    assert far["coverage"] == {"start": "2020-01-01", "end": None}
    assert far["validity"] == {"start": "2040-02-29", "end": "2041-02-27"}


def test_outside_any_period(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    before = ask(f.hugo, reference_date="2025-12-31")
    assert before.status_code == 200
    body = before.json()
    assert body["covered"] is False
    assert body["reason"] == "no_coverage_at_date"
    assert body["beneficiary"]["matricule"] == f.hugo.nir
    assert all(
        body[k] is None
        for k in ("insured", "quality", "rank", "regime", "fund", "centre", "coverage", "validity")
    )
    assert body["situations"] == []
    # Someone in the register with no rights at all.
    nina = ask(f.nina, reference_date="2026-03-01").json()
    assert (nina["covered"], nina["reason"]) == (False, "no_coverage")


def test_ald_and_c2s_active_or_not(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    assert [s["code"] for s in ask(f.paul, reference_date="2026-03-31").json()["situations"]] == [
        "ALD"
    ]
    assert ask(f.paul, reference_date="2026-04-01").json()["situations"] == []
    assert ask(f.paul, reference_date="2026-01-31").json()["situations"] == []
    c2s = ask(f.paul, reference_date="2027-01-01").json()["situations"]
    assert [(s["code"], s["participation"], s["end"]) for s in c2s] == [("C2S", True, None)]


def test_twins_by_the_insured_nir_birth_date_and_rank(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    twins = "2015-06-01"
    first = ask(f.paul.nir, twins, rank=1, reference_date="2026-03-01").json()
    second = ask(f.paul.nir, twins, rank=2, reference_date="2026-03-01").json()
    default = ask(f.paul.nir, twins, reference_date="2026-03-01").json()
    assert (first["beneficiary"]["first_names"], first["rank"]) == (["LEA"], 1)
    assert (second["beneficiary"]["first_names"], second["rank"]) == (["ZOE"], 2)
    assert second["beneficiary"]["matricule"] == f.zoe.nir
    assert second["insured"] == {"matricule": f.paul.nir}
    # ADRi's default rank is 1.
    assert default["beneficiary"]["matricule"] == f.lea.nir
    # A child by the insured person's NIR (any rank 1 dependant born that day).
    hugo = ask(f.paul.nir, f.hugo.birth_date, reference_date="2026-03-01").json()
    assert hugo["beneficiary"]["matricule"] == f.hugo.nir
    # The twin's own NIR finds her, with her rank or without; not with the other twin's rank.
    assert ask(f.zoe, rank=2, reference_date="2026-03-01").json()["beneficiary"]["first_names"] == [
        "ZOE"
    ]
    assert ask(f.zoe, reference_date="2026-03-01").status_code == 200
    assert ask(f.zoe, rank=1, reference_date="2026-03-01").status_code == 404
    # No third twin.
    assert ask(f.paul.nir, twins, rank=3, reference_date="2026-03-01").status_code == 404


def test_not_found_does_not_say_why(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    unknown = f.paul.nir[:10] + "999"
    unknown += f"{97 - int(unknown) % 97:02d}"
    mismatch = ask(f.paul, "1980-03-13")
    nobody = ask(unknown, "1980-03-12")
    # A dependant's NIR with someone else's birth date is not the insured path either.
    wrong_path = ask(f.hugo, f.lea.birth_date)
    for response in (mismatch, nobody, wrong_path):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "beneficiary_not_found"
        assert error["message"] == mismatch.json()["error"]["message"]


def test_partial_birth_dates(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    assert ask(f.awa, "1962-00-00").json()["covered"] is True
    # The FHIR short form means the same.
    assert ask(f.awa, "1962").json()["beneficiary"]["birth_date"] == "1962-00-00"
    assert ask(f.awa, "1962-01-01").status_code == 404


def test_invalid_inputs(ask: Any, family_with_rights: Family) -> None:
    f = family_with_rights
    bad_key = ask(f.paul.nir[:-2] + "00", "1980-03-12")
    assert bad_key.status_code == 422
    assert bad_key.json()["error"]["code"] == "invalid_nir"
    assert ask(f.paul, "1980-13-01").status_code == 422
    assert ask(f.paul, rank=10).status_code == 422
    assert ask(f.paul, reference_date="2026-02-30").status_code == 422
    assert ask(f.paul, unexpected="x").status_code == 422


def test_reference_date_defaults_to_today(ask: Any, db: Database, family: Family) -> None:
    today = local_today()
    assert load(db, line(family.nina, start=(today - timedelta(days=1)).isoformat())).committed
    body = ask(family.nina).json()
    assert body["reference_date"] == today.isoformat()
    assert body["covered"] is True
    later = ask(family.nina, reference_date=(today - timedelta(days=2)).isoformat()).json()
    assert later["covered"] is False


def test_scopes(app_client: TestClient, auth_headers: TokenFactory, family: Family) -> None:
    body = {"nir": family.paul.nir, "birth_date": family.paul.birth_date}
    assert app_client.post(QUERY, json=body).status_code == 401
    wrong = app_client.post(QUERY, json=body, headers=auth_headers("ins.read", "apcv"))
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "insufficient_scope"
    assert app_client.post(QUERY, json=body, headers=auth_headers("rights.read")).status_code == 200


def _audit(db: Database) -> list[AuditEvent]:
    with db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == "rights.read").order_by(AuditEvent.id)
            ).all()
        )


def test_every_query_is_audited(ask: Any, db: Database, family_with_rights: Family) -> None:
    f = family_with_rights
    assert ask(f.paul.nir, f.zoe.birth_date, rank=2, reference_date="2026-03-01").status_code == 200
    assert ask(f.hugo, reference_date="2025-01-01").json()["covered"] is False
    assert ask(f.paul, "1980-03-13").status_code == 404
    unknown = f.paul.nir[:10] + "999"
    unknown += f"{97 - int(unknown) % 97:02d}"
    assert ask(unknown, "1980-03-12").status_code == 404
    events = _audit(db)
    assert [(e.person_id, e.outcome, e.detail) for e in events] == [
        # The beneficiary found through the insured person's NIR is the person read.
        (f.zoe.person_id, "success", "reference_date=2026-03-01 covered=true"),
        (f.hugo.person_id, "success", "reference_date=2025-01-01 covered=false"),
        # A mismatch is recorded against the NIR's holder: their history shows the attempt.
        (f.paul.person_id, "none", f"reference_date={local_today().isoformat()}"),
        (None, "none", f"reference_date={local_today().isoformat()}"),
    ]
    assert all(e.actor.startswith("client:") and e.request_id for e in events)
    assert {e.purpose for e in events} == {"HPAYMT"}
    assert events[0].resource == f"Person/{f.zoe.person_id}"
    # No matricule in the trail.
    assert not any(m.nir in (e.detail or "") for e in events for m in vars(f).values())
    assert date.fromisoformat("2026-03-01")  # the dates are ISO in the detail


def test_same_birth_date_and_rank_at_different_times(
    ask: Any, db: Database, family: Family
) -> None:
    """Two dependants of one insured person with the same birth date and rank, never at the same
    time (the import refuses it over overlapping periods): the reference date tells them apart,
    and without one covered that day the query is ambiguous."""
    f = family
    report = load(
        db,
        line(f.paul, start="2024-01-01"),
        line(f.lea, insured=f.paul, quality="06", start="2024-01-01", end="2024-12-31"),
        line(f.zoe, insured=f.paul, quality="06", start="2026-01-01"),
    )
    assert report.committed, report.errors
    twins = "2015-06-01"
    in_2024 = ask(f.paul.nir, twins, reference_date="2024-06-01").json()
    in_2026 = ask(f.paul.nir, twins, reference_date="2026-06-01").json()
    assert in_2024["beneficiary"]["matricule"] == f.lea.nir
    assert in_2026["beneficiary"]["matricule"] == f.zoe.nir
    ambiguous = ask(f.paul.nir, twins, reference_date="2025-06-01")
    assert ambiguous.status_code == 409
    assert ambiguous.json()["error"]["code"] == "ambiguous_beneficiary"
    # Their own NIRs always work.
    assert ask(f.zoe, reference_date="2025-06-01").json()["reason"] == "no_coverage_at_date"
    # The refused query is audited too (committed before the error is answered).
    assert [e.outcome for e in _audit(db)][-2] == "conflict"
