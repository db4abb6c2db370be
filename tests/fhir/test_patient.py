"""FHIR Patient read and search: FR Core Patient-INS content, INS identifiers, errors, audit."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.fhir.resources.patient import fr_core_patient_ins_problems, validate_patient

from ..conftest import TokenFactory
from .conftest import (
    FHIR_JSON,
    NIA_SYSTEM,
    NIR_SYSTEM,
    Register,
    diagnostics,
    expressions,
    outcome_of,
    valid_bundle,
)

FR_CORE = "https://hl7.fr/ig/fhir/core"
INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
BIRTH_LIST = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
ID_TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"


def _ext(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"] == url]


def _insee(patient: dict[str, Any]) -> dict[str, Any]:
    (place,) = _ext(patient, BIRTH_PLACE)
    (code,) = _ext(place["valueAddress"], INSEE_CODE)
    return {"coding": code["valueCoding"], "address": place["valueAddress"]}


def test_read_serves_an_fr_core_patient_ins(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    response = app_client.get(f"/fhir/Patient/{register.dupont}", headers=auth_headers("ins.read"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.headers["cache-control"] == "no-store"
    patient = response.json()
    validate_patient(patient)  # fhir.resources R4B: structure, types, cardinalities
    assert fr_core_patient_ins_problems(patient) == []
    assert patient["id"] == str(register.dupont)
    assert patient["meta"]["profile"] == [INS_PROFILE]

    official = [n for n in patient["name"] if n["use"] == "official"]
    assert len(official) == 1
    assert official[0]["family"] == "DUPONT"
    assert official[0]["given"] == ["JEAN"]  # the FIRST birth first name only
    assert _ext(official[0], BIRTH_LIST) == [
        {"url": BIRTH_LIST, "valueString": "JEAN PIERRE MARIE"}
    ]
    assert {"use": "usual", "family": "DUPONT-MOREL", "given": ["JP"]} in patient["name"]

    current, old = patient["identifier"]
    assert current == {
        "use": "official",
        "type": {"coding": [{"system": ID_TYPES, "code": "INS-NIR", "display": "NIR définitif"}]},
        "system": NIR_SYSTEM,
        "value": register.dupont_nir,
    }
    assert old["use"] == "old"
    assert old["system"] == NIR_SYSTEM
    assert old["value"] == register.dupont_old_nir
    assert old["type"]["coding"][0]["code"] == "INS-NIR"
    assert old["period"]["end"].startswith("2024-05-02T10:00:00")

    assert patient["gender"] == "male"
    assert patient["birthDate"] == "1980-03-12"
    assert "deceasedDateTime" not in patient
    place = _insee(patient)
    assert place["coding"]["code"] == "75112"
    assert place["coding"]["system"].endswith("TRE-R13-CommuneOM")
    assert place["address"]["city"] == "Paris 12e Arrondissement"
    assert place["address"]["country"] == "France"

    (reliability,) = _ext(patient, RELIABILITY)
    parts = {e["url"]: e for e in reliability["extension"]}
    assert parts["identityStatus"]["valueCoding"]["code"] == "RECUP"
    assert parts["identityStatus"]["valueCoding"]["system"] == (
        f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
    )
    assert parts["methodCollection"]["valueCoding"]["code"] == "INSI"
    assert "valueDate" in parts["dateInterrogationINSi"]


def test_nia_born_abroad_with_partial_birth_date(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    patient = app_client.get(
        f"/fhir/Patient/{register.awa}", headers=auth_headers("ins.read")
    ).json()
    validate_patient(patient)
    assert fr_core_patient_ins_problems(patient) == []
    assert patient["identifier"] == [
        {
            "use": "temp",
            "type": {
                "coding": [{"system": ID_TYPES, "code": "INS-NIA", "display": "NIR temporaire"}]
            },
            "system": NIA_SYSTEM,
            "value": register.awa_nia,
        }
    ]
    assert patient["birthDate"] == "1962"  # day and month unknown: the FHIR year form
    place = _insee(patient)
    assert place["coding"]["code"] == "99341"
    assert place["coding"]["system"].endswith("TRE-R20-Pays")
    assert place["address"]["country"] == "Sénégal"
    assert "city" not in place["address"]


def test_deceased_with_partial_dates(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    patient = app_client.get(
        f"/fhir/Patient/{register.rose}", headers=auth_headers("ins.read")
    ).json()
    validate_patient(patient)
    assert patient["birthDate"] == "1931-04"
    assert patient["deceasedDateTime"] == "2019-11"
    assert _insee(patient)["address"]["city"] == "Lille"


def test_read_is_audited_in_the_trail(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    app_client.get(f"/fhir/Patient/{register.karim}", headers=auth_headers("ins.read"))
    with db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.person_id == register.karim)).all()
    assert [(e.action, e.resource, e.purpose) for e in events] == [
        ("person.read", f"Person/{register.karim}", "TREAT")
    ]


def test_read_unknown_or_malformed_id_is_404_operation_outcome(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    for patient_id in ("999999", "abc", "1.5", "-1"):
        body = outcome_of(app_client.get(f"/fhir/Patient/{patient_id}", headers=headers), 404)
        assert body["issue"][0]["code"] == "not-found"
        assert f"Patient/{patient_id}" in diagnostics(body)


def _search(client: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get("/fhir/Patient", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    valid_bundle(body)
    assert body["type"] == "searchset"
    return body


def test_search_by_nir_nia_and_old_matricules(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    by_nir = _search(app_client, headers, identifier=f"{NIR_SYSTEM}|{register.dupont_nir}")
    assert by_nir["total"] == 1
    (entry,) = by_nir["entry"]
    assert entry["fullUrl"].endswith(f"/fhir/Patient/{register.dupont}")
    assert entry["search"]["mode"] == "match"
    assert fr_core_patient_ins_problems(entry["resource"]) == []

    by_nia = _search(app_client, headers, identifier=f"{NIA_SYSTEM}|{register.awa_nia}")
    assert [e["resource"]["id"] for e in by_nia["entry"]] == [str(register.awa)]

    # A NIA replaced by a NIR finds the person, who shows the NIA with use "old".
    by_old_nia = _search(app_client, headers, identifier=f"{NIA_SYSTEM}|{register.karim_old_nia}")
    (karim,) = [e["resource"] for e in by_old_nia["entry"]]
    assert karim["id"] == str(register.karim)
    assert {(i["system"], i["value"], i["use"]) for i in karim["identifier"]} == {
        (NIR_SYSTEM, register.karim_nir, "official"),
        (NIA_SYSTEM, register.karim_old_nia, "old"),
    }
    by_old_nir = _search(app_client, headers, identifier=f"{NIR_SYSTEM}|{register.dupont_old_nir}")
    assert [e["resource"]["id"] for e in by_old_nir["entry"]] == [str(register.dupont)]

    # Spaces as printed on documents, and a value without system, are accepted.
    spaced = " ".join([register.dupont_nir[:1], register.dupont_nir[1:7], register.dupont_nir[7:]])
    assert _search(app_client, headers, identifier=f"{NIR_SYSTEM}|{spaced}")["total"] == 1
    assert _search(app_client, headers, identifier=register.awa_nia)["total"] == 1


def test_search_matches_only_the_system_of_the_matricule(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    wrong_kind = _search(app_client, headers, identifier=f"{NIR_SYSTEM}|{register.awa_nia}")
    assert wrong_kind["total"] == 0
    assert "entry" not in wrong_kind
    for system in ("urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11", "urn:x"):
        other = _search(app_client, headers, identifier=f"{system}|{register.dupont_nir}")
        assert other["total"] == 0, system
    assert _search(app_client, headers, identifier=f"|{register.dupont_nir}")["total"] == 0


def test_search_or_and_id(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    either = _search(
        app_client,
        headers,
        identifier=f"{NIR_SYSTEM}|{register.dupont_nir},{NIA_SYSTEM}|{register.awa_nia}",
    )
    assert sorted(int(e["resource"]["id"]) for e in either["entry"]) == sorted(
        [register.dupont, register.awa]
    )
    assert _search(app_client, headers, _id=str(register.rose))["total"] == 1
    both = app_client.get(
        "/fhir/Patient",
        params=[("_id", str(register.rose)), ("identifier", register.dupont_nir)],
        headers=headers,
    ).json()
    assert both["total"] == 0  # repeated parameters combine with AND


def test_malformed_nir_names_the_problem(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    bad_key = register.dupont_nir[:13] + f"{(int(register.dupont_nir[13:]) % 97) + 1:02d}"
    body = outcome_of(
        app_client.get(
            "/fhir/Patient", params={"identifier": f"{NIR_SYSTEM}|{bad_key}"}, headers=headers
        ),
        422,
    )
    assert "key" in diagnostics(body)
    assert expressions(body) == ["identifier"]
    short = outcome_of(
        app_client.get(
            "/fhir/Patient", params={"identifier": f"{NIR_SYSTEM}|18003"}, headers=headers
        ),
        422,
    )
    assert "5 characters, expected 15" in diagnostics(short)


def test_unknown_parameters_are_refused_unless_lenient(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    params = {"identifier": f"{NIR_SYSTEM}|{register.dupont_nir}", "family": "DUPONT"}
    body = outcome_of(app_client.get("/fhir/Patient", params=params, headers=headers), 400)
    assert "family" in diagnostics(body)
    assert expressions(body) == ["family"]
    lenient = app_client.get(
        "/fhir/Patient", params=params, headers={**headers, "Prefer": "handling=lenient"}
    )
    assert lenient.status_code == 200
    assert lenient.json()["total"] == 1
    self_link = lenient.json()["link"][0]
    assert self_link["relation"] == "self"
    assert "family" not in self_link["url"]  # the self link shows the search performed
    # _format is tolerated; a search without criteria would list the register: refused.
    assert (
        app_client.get(
            "/fhir/Patient",
            params={"identifier": register.dupont_nir, "_format": "json"},
            headers=headers,
        ).status_code
        == 200
    )
    outcome_of(app_client.get("/fhir/Patient", headers=headers), 400)


def test_post_search_with_a_form(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    response = app_client.post(
        "/fhir/Patient/_search",
        data={"identifier": f"{NIA_SYSTEM}|{register.awa_nia}"},
        headers=auth_headers("ins.read"),
    )
    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_search_is_audited_without_the_matricule(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    headers = auth_headers("ins.read")
    _search(app_client, headers, identifier=f"{NIR_SYSTEM}|{register.dupont_nir}")
    _search(app_client, headers, identifier=f"{NIA_SYSTEM}|{register.dupont_nir}")
    with db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "person.search").order_by(AuditEvent.id)
        ).all()
    assert [(e.person_id, e.outcome) for e in events] == [
        (register.dupont, "success"),
        (None, "none"),
    ]
    assert all(register.dupont_nir not in (e.detail or "") for e in events)


def test_authentication_and_scope_errors_are_operation_outcomes(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    missing = app_client.get(f"/fhir/Patient/{register.dupont}")
    body = outcome_of(missing, 401)
    assert body["issue"][0]["code"] == "login"
    assert missing.headers["www-authenticate"] == "Bearer"
    outcome_of(
        app_client.get(
            f"/fhir/Patient/{register.dupont}", headers={"Authorization": "Bearer not-a-token"}
        ),
        401,
    )
    wrong_scope = app_client.get(
        f"/fhir/Patient/{register.dupont}", headers=auth_headers("audit.read")
    )
    assert "ins.read" in diagnostics(outcome_of(wrong_scope, 403))
    outcome_of(
        app_client.post("/fhir/Patient/$match", json={"resourceType": "Parameters"}, headers={}),
        401,
    )
