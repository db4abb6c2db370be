"""One authorization chokepoint, proven: every role against every route of a health space.

The issue asks for "one authorization chokepoint, proven by a test that tries every role against
every route and every other person's data". This test walks the OpenAPI description and takes,
generically, every route that concerns a health space:

* every route under ``/api/v1/spaces/{person}`` (lifecycle, privacy, blocks, consents, aidants,
  history, emergency access, documents and their versions, content and visibility, the medical
  profile and its resources' versions), whatever domain adds it;
* every FHIR route except those known NOT to concern a space (``NOT_SPACE_FHIR``: metadata, the
  register's Patient, the operators' AuditEvent trail, structures' local identities): today
  ``/fhir/DocumentReference``, ``/fhir/Binary/{id}``, the profile resources (Condition,
  AllergyIntolerance, Observation…: search, read, ``_history``) and ``/fhir/space/AuditEvent``.
  A FHIR resource added later is covered without touching this test.

The victim is Emma, 18 today: her space is open, holds a document she uploaded, one her doctor
uploaded and an allergy in her profile; she refused emergency access, consented her doctor,
blocked another professional and let Nadia read her documents. Each **forbidden role** must get
403 or 404 on every route, and no response may carry any of her data (document titles, profile
text, NIR, first name):

* ``stranger_holder``: Paul, holder of his own space;
* ``parent_of_adult``: Jeanne, Emma's mother, still attached to her in the rights (Emma is 18);
* ``aidant_elsewhere``: Marc, whom Jeanne (not Emma) let into her space;
* ``pro_no_relationship``: a dentist's software, no relationship with anyone;
* ``pro_elsewhere``: a podiatrist with Jeanne's consent, none of Emma's;
* ``pro_blocked``: a doctor with Emma's consent whom she blocked afterwards;
* ``emergency_elsewhere``: a nurse who opened break-glass access to Jeanne's space;
* ``regulator_elsewhere``: the SAMU regulator (``dmp.regulation``) with a regulation grant on
  Jeanne's space;
* ``software_without_dmp``: the doctor's software with every scope but ``dmp``/``dmp.regulation``;
* ``structure_software_unnamed``: software bound to the doctor's structure, naming nobody.

Roles with **partial rights** must be refused on every route outside them: Emma's consented
doctor on her lifecycle, settings, history and emergency access (all but documents and
profile); Nadia, her relative with ``documents:read``, on everything but reading documents.

Body-carrying routes need a valid sample request (``SAMPLES``), so that the chokepoint, not body
validation, answers: a new body-carrying route without a sample fails this test on purpose.
At the end, Emma's space is checked unchanged.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ..conftest import TokenFactory
from .conftest import RPPS, SPACES, World

DOC_MARKER = "EMMA-SECRET-DOCUMENT"
PRO_DOC_MARKER = "EMMA-DOCTOR-REPORT"
ALLERGY_MARKER = "EMMA-SECRET-URTICAIRE"
BUNDLE = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode()
NOT_SPACE_FHIR = re.compile(r"^/fhir/(metadata|Patient|AuditEvent|structures/)")
FHIR_PROFILE_TYPE = re.compile(r"^/fhir/([A-Z][A-Za-z]+)(/|$)")
DOCUMENT_AREAS = ("/documents",)
PROFILE_AREAS = ("/profile",)


def allergy(person_id: int) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "type": "allergy",
        "category": ["medication"],
        "criticality": "high",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA04"}]},
        "patient": {"reference": f"Patient/{person_id}"},
        "reaction": [{"manifestation": [{"text": ALLERGY_MARKER}], "severity": "moderate"}],
    }


def multipart(title: str) -> dict[str, Any]:
    return {
        "files": {"file": ("doc.json", BUNDLE, "application/fhir+json")},
        "data": {"class_code": "10", "type_code": "11502-2", "title": title},
    }


@dataclass
class Victim:
    person_id: int
    nir: str
    first_name: str
    document_id: str
    allergy_id: str
    aidant_id: int
    stranger_nir: str  # a person an intruder would like to let into Emma's space


@dataclass(frozen=True)
class Role:
    name: str
    headers: dict[str, str]
    # None: forbidden everywhere; else the routes this role may legitimately reach.
    allowed: Callable[[str, str], bool] | None = None
    regulation: bool = False


def _area(path: str) -> str:
    if path.startswith("/fhir/"):
        if path.startswith(("/fhir/DocumentReference", "/fhir/Binary")):
            return "documents"
        if path.startswith("/fhir/space/AuditEvent"):
            return "history"
        return "profile"
    rest = path.removeprefix(f"{SPACES}/{{person}}")
    if rest.startswith(DOCUMENT_AREAS):
        return "documents"
    if rest.startswith(PROFILE_AREAS):
        return "profile"
    return "space"  # lifecycle, settings, history, emergency access


def space_routes(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every route that concerns a health space."""
    paths: dict[str, dict[str, Any]] = client.get("/api/openapi.json").json()["paths"]
    found = []
    for path, operations in sorted(paths.items()):
        concerns_space = path.startswith(f"{SPACES}/{{person}}") or (
            path.startswith("/fhir/") and not NOT_SPACE_FHIR.match(path)
        )
        if not concerns_space:
            continue
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method, path, operation))
    return found


@pytest.fixture
def victim(world: World, auth_headers: TokenFactory) -> Victim:
    p = world.people
    c = world.client
    emma = world.holder(p.emma.id)
    world.open_space(p.emma)
    response = c.post(f"{SPACES}/me/documents", headers=emma, **multipart(DOC_MARKER))
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    response = c.post(
        f"{SPACES}/me/profile/AllergyIntolerance",
        content=json.dumps(allergy(p.emma.id)),
        headers={**emma, "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 201, response.text
    allergy_id = response.json()["id"]
    world.consent(p.emma, "doctor")
    response = c.post(
        f"{SPACES}/{p.emma.id}/documents",
        headers=world.pro("doctor"),
        **multipart(PRO_DOC_MARKER),
    )
    assert response.status_code == 201, response.text
    world.consent(p.emma, "blocked")
    world.block(p.emma, "blocked")
    aidant_id = world.aidant(p.emma, p.nadia, "documents:read")
    response = c.put(
        f"{SPACES}/me/privacy",
        json={"emergency_access_refused": True, "notify_by_email": False},
        headers=emma,
    )
    assert response.status_code == 200
    # Jeanne's space: the others' relationships are with her, not with Emma.
    world.open_space(p.jeanne)
    world.aidant(p.jeanne, p.marc, "documents:read profile:read history:read")
    world.consent(p.jeanne, "podiatrist")
    assert world.emergency(p.jeanne, "nurse").status_code == 201
    assert world.emergency(p.jeanne, "regulator", "regulation").status_code == 201
    return Victim(
        p.emma.id, p.emma.matricule, "EMMA", document_id, allergy_id, aidant_id, p.paul.matricule
    )


def roles(world: World, auth_headers: TokenFactory) -> list[Role]:
    from carnet.directory.service import directory_service

    p = world.people
    database = world.client.app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        summary = directory_service.professional_summary(session, world.pros["doctor"])
        assert summary is not None
        structure_id = summary.structure_id

    def doctor_allowed(_method: str, path: str) -> bool:
        return _area(path) in ("documents", "profile")

    def nadia_allowed(method: str, path: str) -> bool:
        return method == "get" and _area(path) == "documents"

    return [
        Role("stranger_holder", world.holder(p.paul.id)),
        Role("parent_of_adult", world.holder(p.jeanne.id)),
        Role("aidant_elsewhere", world.holder(p.marc.id)),
        Role("pro_no_relationship", world.pro("dentist")),
        Role("pro_elsewhere", world.pro("podiatrist")),
        Role("pro_blocked", world.pro("blocked")),
        Role("emergency_elsewhere", world.pro("nurse")),
        Role("regulator_elsewhere", world.pro("regulator", "dmp.regulation"), regulation=True),
        Role(
            "software_without_dmp",
            auth_headers(
                "apcv",
                "ins.read",
                "audit.read",
                "directory.read",
                "rights.read",
                "identities.read",
                professional_id=world.pros["doctor"],
            ),
        ),
        Role("structure_software_unnamed", auth_headers("dmp", structure_id=structure_id)),
        Role("consented_doctor", world.pro("doctor"), allowed=doctor_allowed),
        Role("aidant_documents_read", world.holder(p.nadia.id), allowed=nadia_allowed),
    ]


def fill(path: str, victim: Victim, method: str) -> str:
    values = {
        "person": str(victim.person_id),
        "document_id": victim.document_id,
        "resource_type": "AllergyIntolerance",
        "resource_id": victim.allergy_id,
        "version": "1",
        "version_id": "1",
        "aidant_id": str(victim.aidant_id),
        # What a successful request would change: unblock the blocked one, withdraw the doctor.
        "rpps": RPPS["blocked"] if "/blocks/" in path else RPPS["doctor"],
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"{method.upper()} {path}: no value for the path parameter {{{name}}}")
        return values[name]

    return re.sub(r"\{([a-z_]+)\}", value, path)


def request_for(
    method: str, path: str, operation: dict[str, Any], victim: Victim, role: Role
) -> dict[str, Any]:
    """Keyword arguments of the TestClient call: a valid request, so that authorization answers."""
    person = victim.person_id
    if path.startswith("/fhir/"):
        if method == "post" and path == "/fhir/DocumentReference":
            resource = {
                "resourceType": "DocumentReference",
                "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
                "category": [{"coding": [{"code": "10"}]}],
                "subject": {"reference": f"Patient/{person}"},
                "description": "intrusion",
                "content": [
                    {
                        "attachment": {
                            "contentType": "application/fhir+json",
                            "data": base64.b64encode(BUNDLE).decode(),
                        }
                    }
                ],
            }
            return {
                "content": json.dumps(resource),
                "headers": {"Content-Type": "application/fhir+json"},
            }
        if method == "get" and "{" not in path:  # a search: name the victim
            return {"params": {"patient": f"Patient/{person}"}}
        if method == "get":
            return {}
        pytest.fail(f"{method.upper()} {path}: no sample request (add one to request_for)")
    suffix = path.removeprefix(f"{SPACES}/{{person}}")
    samples: dict[tuple[str, str], dict[str, Any]] = {
        ("put", "/privacy"): {"json": {"emergency_access_refused": False, "notify_by_email": True}},
        ("post", "/blocks"): {"json": {"rpps": RPPS["dentist"]}},
        ("post", "/consents"): {"json": {"rpps": RPPS["dentist"]}},
        ("post", "/aidants"): {"json": {"person": victim.stranger_nir, "scope": "documents:read"}},
        ("post", "/emergency-access"): {
            "json": {
                "reason": "patient inconscient, accès vital",
                "kind": "regulation" if role.regulation else "emergency",
            }
        },
        ("post", "/documents"): multipart("intrusion"),
        ("post", "/documents/{document_id}/versions"): multipart("intrusion"),
        ("patch", "/documents/{document_id}/visibility"): {
            "json": {"hidden_from_professionals": True}
        },
        ("post", "/profile/{resource_type}"): {
            "content": json.dumps(allergy(person)),
            "headers": {"Content-Type": "application/fhir+json"},
        },
        ("put", "/profile/{resource_type}/{resource_id}"): {
            "content": json.dumps({**allergy(person), "id": victim.allergy_id}),
            "headers": {"Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
        },
    }
    if (method, suffix) in samples:
        return samples[(method, suffix)]
    if "requestBody" in operation or (method in ("put", "patch")):
        pytest.fail(f"{method.upper()} {path}: no sample request body (add one to request_for)")
    return {}


def test_every_role_against_every_space_route(
    world: World, victim: Victim, auth_headers: TokenFactory
) -> None:
    c = world.client
    routes = space_routes(c)
    covered = {f"{m.upper()} {p}" for m, p, _ in routes}
    # The walk must not silently find nothing: the routes of the issue are all there.
    for expected in (
        f"GET {SPACES}/{{person}}",
        f"POST {SPACES}/{{person}}/closure",
        f"PUT {SPACES}/{{person}}/privacy",
        f"POST {SPACES}/{{person}}/blocks",
        f"DELETE {SPACES}/{{person}}/consents/{{rpps}}",
        f"POST {SPACES}/{{person}}/aidants",
        f"GET {SPACES}/{{person}}/history",
        f"POST {SPACES}/{{person}}/emergency-access",
        f"GET {SPACES}/{{person}}/documents",
        f"GET {SPACES}/{{person}}/documents/{{document_id}}/content",
        f"GET {SPACES}/{{person}}/profile",
        "GET /fhir/DocumentReference",
        "POST /fhir/DocumentReference",
        "GET /fhir/Binary/{document_id}",
        "GET /fhir/AllergyIntolerance",
        "GET /fhir/space/AuditEvent",
    ):
        assert expected in covered, f"{expected} is not walked"

    secrets = (DOC_MARKER, PRO_DOC_MARKER, ALLERGY_MARKER, victim.nir, victim.first_name)
    tried = 0
    failures: list[str] = []
    for role in roles(world, auth_headers):
        for method, path, operation in routes:
            if role.allowed is not None and role.allowed(method, path):
                continue
            kwargs = request_for(method, path, operation, victim, role)
            headers = {**role.headers, **kwargs.pop("headers", {})}
            url = fill(path, victim, method)
            response = c.request(method.upper(), url, headers=headers, **kwargs)
            tried += 1
            label = f"{role.name}: {method.upper()} {url} → {response.status_code}"
            if response.status_code not in (403, 404):
                failures.append(f"{label} {response.text[:200]}")
                continue
            leaked = [s for s in secrets if s in response.text]
            if leaked:
                failures.append(f"{label} leaks {leaked}")
    assert not failures, "\n".join(failures)
    assert tried >= 12 * 20

    # Nothing changed in Emma's space.
    emma = world.holder(victim.person_id)
    space = c.get(f"{SPACES}/me", headers=emma).json()
    assert space["state"] == "open"
    titles = {d["title"] for d in c.get(f"{SPACES}/me/documents", headers=emma).json()["items"]}
    assert titles == {DOC_MARKER, PRO_DOC_MARKER}
    assert c.get(f"{SPACES}/me/privacy", headers=emma).json() == {
        "emergency_access_refused": True,
        "notify_by_email": False,
    }
    assert [
        b["professional"]["rpps"] for b in c.get(f"{SPACES}/me/blocks", headers=emma).json()
    ] == [RPPS["blocked"]]
    consents = c.get(f"{SPACES}/me/consents", headers=emma).json()
    assert sorted(g["professional"]["rpps"] for g in consents) == sorted(
        [RPPS["doctor"], RPPS["blocked"]]
    )
    assert [a["person_id"] for a in c.get(f"{SPACES}/me/aidants", headers=emma).json()] == [
        world.people.nadia.id
    ]
    allergies = c.get(f"{SPACES}/me/profile/AllergyIntolerance", headers=emma)
    assert allergies.status_code == 200
    assert allergies.text.count(ALLERGY_MARKER) == 1


def test_the_partial_roles_do_reach_what_they_are_given(world: World, victim: Victim) -> None:
    """The counterpart: the walk above refuses for the right reason, not because every route is
    broken — the consented doctor and Nadia read what they were given."""
    c = world.client
    doctor = world.pro("doctor")
    listed = c.get(f"{SPACES}/{victim.person_id}/documents", headers=doctor)
    assert listed.status_code == 200
    assert {d["title"] for d in listed.json()["items"]} == {DOC_MARKER, PRO_DOC_MARKER}
    response = c.get(
        "/fhir/AllergyIntolerance",
        params={"patient": f"Patient/{victim.person_id}"},
        headers=doctor,
    )
    assert response.status_code == 200
    assert ALLERGY_MARKER in response.text
    nadia = world.holder(world.people.nadia.id)
    listed = c.get(f"{SPACES}/{victim.person_id}/documents", headers=nadia)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
