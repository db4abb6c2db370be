"""Merge and unmerge of duplicate local identities, with their history and audit."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.vigilance.models import LocalIdentity, LocalIdentityEvent

from .conftest import JEAN, Api, import_persons


def _url(structure: int, identity: int, suffix: str = "") -> str:
    return f"/api/v1/structures/{structure}/identities/{identity}{suffix}"


def _merge(
    client: TestClient, headers: dict[str, str], structure: int, loser: int, into: int
) -> Any:
    return client.post(
        _url(structure, loser, "/merge"),
        json={"into": into, "reason": "same patient, confirmed by the identity cell"},
        headers=headers,
    )


def test_merge_then_unmerge_round_trip(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    [nir] = import_persons(db, [JEAN])
    keep = create(ipp="KEEP")["id"]
    app_client.post(_url(structure, keep, "/insi-retrieval"), headers=staff)
    app_client.post(
        _url(structure, keep, "/document-check"), json={"validation_mode": "PA"}, headers=staff
    )
    # The duplicate, qualified too (same INS), with attributes of its own.
    gone = create(ipp="GONE", first_names="JEAN", attributes=["HOMD", "DPOT"])["id"]
    app_client.post(_url(structure, gone, "/insi-retrieval"), headers=staff)
    before = app_client.post(
        _url(structure, gone, "/document-check"), json={"validation_mode": "CN"}, headers=staff
    ).json()
    assert before["status"] == "QUAL"
    keep_before = app_client.get(_url(structure, keep), headers=staff).json()

    response = _merge(app_client, staff, structure, gone, keep)
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["active"] is False
    assert merged["merged_into_id"] == keep
    assert merged["attributes"] == ["DESA", "DPOT", "HOMD"]
    # Traceability: the loser keeps its IPP and (being QUAL) its INS, readable.
    read = app_client.get(_url(structure, gone), headers=staff).json()
    assert (read["ipp"], read["status"], read["ins"]["matricule"]) == ("GONE", "QUAL", nir)
    # The kept identity's data is not changed by the merge; only its version moves on (so that
    # concurrent merges involving it are detected: tests/vigilance/test_review.py).
    kept = app_client.get(_url(structure, keep), headers=staff).json()
    assert kept["version"] == keep_before["version"] + 1
    volatile = ("version", "updated_at")
    assert {k: v for k, v in kept.items() if k not in volatile} == {
        k: v for k, v in keep_before.items() if k not in volatile
    }
    # A merged identity is read-only and not proposed as a duplicate.
    patch = app_client.patch(
        _url(structure, gone),
        json={"used_name": "X"},
        headers={**staff, "If-Match": str(merged["version"])},
    )
    assert patch.status_code == 409
    assert patch.json()["error"]["code"] == "identity_inactive"
    listing = app_client.get(f"/api/v1/structures/{structure}/identities", headers=staff).json()
    assert [i["id"] for i in listing["items"]] == [keep]
    listing = app_client.get(
        f"/api/v1/structures/{structure}/identities?include_inactive=true", headers=staff
    ).json()
    assert [i["id"] for i in listing["items"]] == [keep, gone]

    response = app_client.post(
        _url(structure, gone, "/unmerge"), json={"reason": "two different people"}, headers=staff
    )
    assert response.status_code == 200, response.text
    restored = response.json()
    for field in (
        "status",
        "attributes",
        "active",
        "merged_into_id",
        "ins",
        "ipp",
        "traits",
        "validation_mode",
        "validation_date",
        "collection_method",
    ):
        assert restored[field] == before[field], field
    assert restored["version"] == before["version"] + 2

    history = app_client.get(_url(structure, gone, "/history"), headers=staff).json()
    assert [h["action"] for h in history] == [
        "create",
        "insi_retrieval",
        "document_check",
        "merge",
        "unmerge",
    ]
    with db.session() as s:
        events = s.scalars(
            select(LocalIdentityEvent).where(LocalIdentityEvent.action == "merge")
        ).all()
        person_id = s.scalar(select(LocalIdentity.person_id).where(LocalIdentity.id == gone))
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["identity.merge", "identity.unmerge"]))
        ).all()
    assert [e.person_id for e in events] == [person_id]
    assert {(a.action, a.resource) for a in audit} == {
        ("identity.merge", f"LocalIdentity/{gone}"),
        ("identity.merge", f"LocalIdentity/{keep}"),
        ("identity.unmerge", f"LocalIdentity/{gone}"),
    }
    assert all(a.person_id == person_id for a in audit)


def test_merge_refusals(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    a = create(ipp="A")["id"]
    b = create(ipp="B", birth_name="DUPOND")["id"]
    c = create(ipp="C", birth_name="DUPONTE")["id"]

    itself = _merge(app_client, staff, structure, a, a)
    assert itself.status_code == 422
    missing = _merge(app_client, staff, structure, a, 999_999)
    assert missing.status_code == 404

    with db.session() as s:
        s.execute(
            update(LocalIdentity)
            .where(LocalIdentity.id == a)
            .values(ins_matricule="180037505600122", ins_oid="1.2.250.1.213.1.4.8", status="RECUP")
        )
        s.execute(
            update(LocalIdentity)
            .where(LocalIdentity.id == b)
            .values(ins_matricule="180037505600229", ins_oid="1.2.250.1.213.1.4.8", status="RECUP")
        )
    different = _merge(app_client, staff, structure, a, b)
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "different_ins"
    keep_the_ins = _merge(app_client, staff, structure, a, c)
    assert keep_the_ins.status_code == 409
    assert "more reliable" in keep_the_ins.json()["error"]["message"]

    assert _merge(app_client, staff, structure, c, a).status_code == 200
    into_inactive = _merge(app_client, staff, structure, b, c)
    assert into_inactive.status_code == 409
    assert into_inactive.json()["error"]["code"] == "target_inactive"
    twice = _merge(app_client, staff, structure, c, b)
    assert twice.status_code == 409
    not_merged = app_client.post(_url(structure, a, "/unmerge"), headers=staff)
    assert not_merged.status_code == 409
    assert not_merged.json()["error"]["code"] == "not_merged"


def test_merge_checks_the_version(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    a = create(ipp="A")["id"]
    b = create(ipp="B")["id"]
    stale = app_client.post(
        _url(structure, a, "/merge"),
        json={"into": b, "reason": "dup", "version": 7},
        headers=staff,
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    ok = app_client.post(
        _url(structure, a, "/merge"),
        json={"into": b, "reason": "dup"},
        headers={**staff, "If-Match": 'W/"1"'},
    )
    assert ok.status_code == 200
    assert ok.headers["etag"] == 'W/"2"'
