"""Review of identity-vigilance: each test reproduces a defect found in review (it failed before
the fix), or pins a behaviour checked while hunting for one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.auth.principal import SYSTEM, Principal
from carnet.db import Database
from carnet.exceptions import Conflict
from carnet.vigilance import schemas
from carnet.vigilance.duplicates import DEFAULT_THRESHOLD, Profile, compare
from carnet.vigilance.models import LocalIdentity, LocalIdentityEvent
from carnet.vigilance.repository import LocalIdentityRepository
from carnet.vigilance.service import vigilance_service

from .conftest import JEAN, Api, import_persons


def _url(structure: int, identity: int, suffix: str = "") -> str:
    return f"/api/v1/structures/{structure}/identities/{identity}{suffix}"


def profile(ident: int = 1, **fields: Any) -> Profile:
    values: dict[str, Any] = {
        "birth_name": "DUPONT",
        "first_names": ("JEAN",),
        "sex": "M",
        "birth_date": "1980-03-12",
        "birth_place": "75056",
    }
    values.update(fields)
    return Profile(id=ident, **values)


# -- merge: concurrency --------------------------------------------------------------------------


def test_crossed_merges_cannot_make_a_cycle(db: Database, structure: int, create: Api) -> None:
    """A into B and B into A at the same time: the second must fail, not deactivate both."""
    a = create(ipp="A")["id"]
    b = create(ipp="B", first_names="JEAN")["id"]
    staff = Principal(client_id="desk", scopes=frozenset(), structure_id=structure)
    late = db.session_factory()
    try:
        # The second request has read both identities (both active) ...
        repo = LocalIdentityRepository(late)
        seen = [repo.get(a), repo.get(b)]  # held: the identity map keeps them as read
        assert all(seen)
        # ... when the first one merges A into B and commits.
        with db.session() as first:
            vigilance_service.merge(
                first, staff, structure, a, schemas.MergeRequest(into=b, reason="same patient")
            )
        with pytest.raises(Conflict):
            vigilance_service.merge(
                late, staff, structure, b, schemas.MergeRequest(into=a, reason="same patient")
            )
        late.rollback()
    finally:
        late.close()
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(LocalIdentity))}
        assert (rows[a].active, rows[a].merged_into_id) == (False, b)
        assert (rows[b].active, rows[b].merged_into_id) == (True, None)


def test_merging_into_an_identity_being_merged_is_refused(
    db: Database, structure: int, create: Api
) -> None:
    """A into B while B is merged into C: A must not end up merged into an inactive identity."""
    a = create(ipp="A")["id"]
    b = create(ipp="B")["id"]
    c = create(ipp="C")["id"]
    staff = Principal(client_id="desk", scopes=frozenset(), structure_id=structure)
    late = db.session_factory()
    try:
        repo = LocalIdentityRepository(late)
        seen = [repo.get(a), repo.get(b)]  # held: the identity map keeps them as read
        assert all(seen)
        with db.session() as first:
            vigilance_service.merge(
                first, staff, structure, b, schemas.MergeRequest(into=c, reason="same patient")
            )
        with pytest.raises(Conflict):
            vigilance_service.merge(
                late, staff, structure, a, schemas.MergeRequest(into=b, reason="same patient")
            )
        late.rollback()
    finally:
        late.close()
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(LocalIdentity))}
        assert rows[a].active is True
        assert (rows[b].active, rows[b].merged_into_id) == (False, c)


def test_unmerge_is_recorded_in_the_kept_identity_history(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    keep = create(ipp="KEEP")["id"]
    gone = create(ipp="GONE")["id"]
    merged = app_client.post(
        _url(structure, gone, "/merge"), json={"into": keep, "reason": "dup"}, headers=staff
    )
    assert merged.status_code == 200, merged.text
    unmerged = app_client.post(
        _url(structure, gone, "/unmerge"), json={"reason": "twins"}, headers=staff
    )
    assert unmerged.status_code == 200, unmerged.text
    history = app_client.get(_url(structure, keep, "/history"), headers=staff).json()
    actions = [entry["action"] for entry in history]
    assert actions == ["create", "merge_absorb", "unmerge_release"]
    assert f"LocalIdentity/{gone}" in history[-1]["detail"]


# -- attributes ----------------------------------------------------------------------------------


def test_a_potential_code_does_not_come_back_next_to_its_confirmed_one(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    ident = create(attributes=["HOMA", "DOUA", "COLV"])
    assert ident["attributes"] == ["COLV", "DOUA", "HOMA"]
    for potential in ("HOMD", "DPOT", "COLP"):
        response = app_client.post(
            _url(structure, ident["id"], f"/attributes/{potential}"), headers=staff
        )
        assert response.status_code == 200, response.text
        assert potential not in response.json()["attributes"]
    final = app_client.get(_url(structure, ident["id"]), headers=staff).json()
    assert final["attributes"] == ["COLV", "DOUA", "HOMA"]
    assert final["version"] == ident["version"]


# -- duplicates: scoring -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("JEAN-PAUL", "JEAN-MARC"),
        ("MARIE-ANNE", "MARIE-CLAIRE"),
        ("MAXIME", "MAXENCE"),
        ("JULES", "JULIEN"),
        ("LUCAS", "HUGO"),
        ("NATHAN", "ETHAN"),
    ],
)
def test_twins_with_different_first_names_are_not_duplicates(one: str, other: str) -> None:
    sex = "F" if one.startswith("MARIE") else "M"
    match = compare(profile(first_names=(one,), sex=sex), profile(2, first_names=(other,), sex=sex))
    assert match.score < DEFAULT_THRESHOLD, match
    first = next(r for r in match.reasons if r.trait == "first_names")
    assert first.score == 0.0
    assert "different" in first.reason


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("MARTIN-DURAND", "DURAND-MARTIN"),
        ("MARTIN DURAND", "DURAND MARTIN"),
        ("DE LA FONTAINE", "LAFONTAINE"),
        ("DE LA FONTAINE", "FONTAINE"),
        ("D'ARTAGNAN", "ARTAGNAN"),
        ("DU BELLAY", "BELLAY"),
        ("LE GOFF", "LEGOFF"),
    ],
)
def test_compound_names_and_particles_with_a_partial_date(one: str, other: str) -> None:
    """Composed names in another order, with or without their particle, and only the year of
    birth known on one side: still a probable duplicate."""
    match = compare(profile(birth_name=one), profile(2, birth_name=other, birth_date="1980-00-00"))
    assert match.score >= DEFAULT_THRESHOLD, match
    name = next(r for r in match.reasons if r.trait == "birth_name")
    assert name.score >= 0.85, name


def test_different_names_sharing_only_a_particle_stay_different() -> None:
    match = compare(profile(birth_name="DE GAULLE"), profile(2, birth_name="DE MUSSET"))
    name = next(r for r in match.reasons if r.trait == "birth_name")
    assert name.score < 0.5


def test_a_typo_in_a_compound_first_name_is_still_caught() -> None:
    match = compare(profile(first_names=("JEAN-PIERRE",)), profile(2, first_names=("JEAN-PIERE",)))
    assert match.score >= 0.95


# -- duplicates: candidates of one identity ------------------------------------------------------


def test_candidates_of_a_partial_date_identity_include_the_full_dates_of_that_month(
    app_client: TestClient, staff: dict[str, str], structure: int, create: Api
) -> None:
    """Symmetry: if B is a candidate of A, A is a candidate of B (a name variant beyond the
    phonetic key, and a day unknown on one side)."""
    full = create(birth_name="DE LA FONTAINE", first_names="JEAN", ipp="FULL")["id"]
    partial = create(
        birth_name="LAFONTAINE", first_names="JEAN", birth_date="1980-03-00", ipp="PART"
    )["id"]
    one = app_client.get(_url(structure, full, "/duplicates"), headers=staff).json()
    other = app_client.get(_url(structure, partial, "/duplicates"), headers=staff).json()
    assert [c["identity_id"] for c in one["candidates"]] == [partial]
    assert [c["identity_id"] for c in other["candidates"]] == [full]


# -- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"),
    [
        ("get", "/identities?limit=-1", {}),
        ("get", "/identities?offset=-5", {}),
        ("get", "/identities?limit=abc", {}),
        ("get", "/identities?birth_date=1980-13-45", {}),
        ("get", "/identities?name=%27%27%27", {}),
        ("get", "/identities?first_name=JEAN%20PAUL", {}),
        ("get", "/identities/99999999999999999999999", {}),
        ("get", "/identities/{id}/duplicates?threshold=nan", {}),
        ("get", "/identities/{id}/duplicates?threshold=2", {}),
        ("post", "/identities/{id}/attributes/ZZZZ", {}),
        ("post", "/identities/{id}/attributes/%20", {}),
        ("delete", "/identities/{id}/attributes/HOMA", {}),
        ("post", "/identities/{id}/merge", {"content": b""}),
        ("post", "/identities/{id}/merge", {"json": []}),
        ("post", "/identities/{id}/merge", {"json": {"into": "x", "reason": "r"}}),
        ("post", "/identities/{id}/merge", {"json": {"into": 2**70, "reason": "r"}}),
        ("post", "/identities/{id}/merge", {"json": {"into": 1, "reason": ["r"]}}),
        ("post", "/identities/{id}/document-check", {"json": {"validation_mode": "XX"}}),
        ("post", "/identities/{id}/document-check", {"json": {"validation_mode": ["PA"]}}),
        ("patch", "/identities/{id}", {"json": {"birth_name": ["A"]}, "if_match": "1"}),
        ("patch", "/identities/{id}", {"json": {"birth_name": None}, "if_match": "1"}),
        ("patch", "/identities/{id}", {"json": {"birth_date": "1980-02-30"}, "if_match": "1"}),
        ("patch", "/identities/{id}", {"json": {"used_name": "X"}, "if_match": "*"}),
        ("patch", "/identities/{id}", {"json": {"used_name": "X"}, "if_match": 'W/"-1"'}),
        ("patch", "/identities/{id}", {"json": {"used_name": "X"}, "if_match": "9" * 30}),
        (
            "patch",
            "/identities/{id}",
            {"json": {"used_name": "X"}, "if_match": "²".encode("latin-1")},
        ),
        ("patch", "/identities/{id}", {"content": b"{", "if_match": "1"}),
        ("post", "/identities", {"json": {"birth_name": "A"}}),
        ("post", "/identities", {"json": {**JEAN, "attributes": "DOUT"}}),
        ("post", "/identities", {"json": {**JEAN, "attributes": ["DOUT", "FICT"]}}),
        ("post", "/identities", {"json": {**JEAN, "first_names": [""]}}),
        ("post", "/identities", {"json": {**JEAN, "first_names": "   "}}),
        ("post", "/identities", {"json": {**JEAN, "birth_date": "0000-00-00"}}),
        ("post", "/identities", {"json": {**JEAN, "ipp": "a b"}}),
    ],
)
def test_hostile_input_is_a_4xx(
    app_client: TestClient,
    staff: dict[str, str],
    structure: int,
    create: Api,
    method: str,
    suffix: str,
    kwargs: dict[str, Any],
) -> None:
    ident = create(ipp="H")["id"]
    headers = dict(staff)
    if_match = kwargs.pop("if_match", None)
    if if_match is not None:
        headers["If-Match"] = if_match
    url = f"/api/v1/structures/{structure}" + suffix.replace("{id}", str(ident))
    response = app_client.request(method.upper(), url, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


def test_history_and_errors_never_show_the_ins_of_a_recup_identity(
    app_client: TestClient, db: Database, staff: dict[str, str], structure: int, create: Api
) -> None:
    [nir] = import_persons(db, [JEAN])
    keep = create(ipp="KEEP")["id"]
    gone = create(ipp="GONE", first_names="JEAN")["id"]
    texts = []
    for ident in (keep, gone):
        response = app_client.post(_url(structure, ident, "/insi-retrieval"), headers=staff)
        assert response.json()["identity"]["status"] == "RECUP"
        texts.append(response.text)
    # Keep the INS: merging the identity holding one into the other is refused, without the INS.
    other = create(ipp="OTHER")["id"]
    refused = app_client.post(
        _url(structure, gone, "/merge"), json={"into": other, "reason": "dup"}, headers=staff
    )
    assert refused.status_code == 409
    texts.append(refused.text)
    texts.append(
        app_client.post(
            _url(structure, gone, "/merge"), json={"into": keep, "reason": "dup"}, headers=staff
        ).text
    )
    for ident in (keep, gone):
        texts.append(app_client.get(_url(structure, ident, "/history"), headers=staff).text)
        texts.append(app_client.get(_url(structure, ident, "/duplicates"), headers=staff).text)
        texts.append(app_client.get(_url(structure, ident), headers=staff).text)
    texts.append(
        app_client.get(
            f"/api/v1/structures/{structure}/identities?include_inactive=true", headers=staff
        ).text
    )
    texts.append(app_client.get(f"/fhir/structures/{structure}/Patient/{keep}", headers=staff).text)
    texts.append(app_client.get(f"/fhir/structures/{structure}/Patient", headers=staff).text)
    for text in texts:
        assert nir not in text
    with db.session() as s:
        details = [e.detail or "" for e in s.scalars(select(LocalIdentityEvent))]
    assert all(nir not in d for d in details)


# -- audit ---------------------------------------------------------------------------------------


def test_the_batch_report_audits_each_identity_it_discloses(
    db: Database, structure: int, create: Api
) -> None:
    a = create(ipp="A")["id"]
    b = create(ipp="B", birth_name="DUPOND")["id"]
    c = create(ipp="C", birth_name="DUPONT", first_names="LUCIEN", birth_date="1950-01-02")["id"]
    with db.session() as s:
        pairs = list(vigilance_service.duplicate_report(s, SYSTEM, structure))
    assert [(p.identity_a, p.identity_b) for p in pairs] == [(a, b)]
    with db.session() as s:
        reads = s.scalars(
            select(AuditEvent.resource).where(
                AuditEvent.action == "identity.read", AuditEvent.actor == SYSTEM.actor
            )
        ).all()
    assert sorted(r or "" for r in reads) == sorted([f"LocalIdentity/{a}", f"LocalIdentity/{b}"])
    assert f"LocalIdentity/{c}" not in reads


def test_duplicate_candidates_never_come_from_another_structure(
    app_client: TestClient,
    operator: dict[str, str],
    staff: dict[str, str],
    structure: int,
    create: Api,
) -> None:
    other = app_client.post("/api/v1/structures", json={"name": "CH Autre"}, headers=operator)
    other_id = other.json()["id"]
    twin = app_client.post(f"/api/v1/structures/{other_id}/identities", json=JEAN, headers=operator)
    assert twin.status_code == 201
    mine = create(ipp="MINE")["id"]
    found = app_client.get(_url(structure, mine, "/duplicates?threshold=0"), headers=staff).json()
    assert found["candidates"] == []
