"""Patient/$match with INSi semantics: 00 certain, 01, 02 never disclosed, first-name probes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.fhir.resources.patient import fr_core_patient_ins_problems

from ..conftest import TokenFactory
from .conftest import FHIR_JSON, Register, diagnostics, expressions, outcome_of, valid_bundle

MATCH = "/fhir/Patient/$match"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
INSI_CODE = "urn:carnet:insi-response-code"
INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
BIRTH_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"


def _patient(
    family: str = "Dupont",
    given: list[str] | None = None,
    gender: str | None = "male",
    birth_date: str | None = "1980-03-12",
    birth_place: str | None = None,
) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": given or ["Jean"]}],
    }
    if gender is not None:
        patient["gender"] = gender
    if birth_date is not None:
        patient["birthDate"] = birth_date
    if birth_place is not None:
        patient["extension"] = [
            {
                "url": BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": INSEE_CODE,
                            "valueCoding": {
                                "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/"
                                "FHIR/TRE-R13-CommuneOM",
                                "code": birth_place,
                            },
                        }
                    ]
                },
            }
        ]
    return patient


def _parameters(
    patient: dict[str, Any], only_certain: bool | None = None, count: int | None = None
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "resource", "resource": patient}]
    if only_certain is not None:
        parameters.append({"name": "onlyCertainMatches", "valueBoolean": only_certain})
    if count is not None:
        parameters.append({"name": "count", "valueInteger": count})
    return {"resourceType": "Parameters", "parameter": parameters}


def _match(client: TestClient, headers: dict[str, str], body: Any) -> dict[str, Any]:
    response = client.post(
        MATCH, json=body, headers={**headers, "Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    bundle: dict[str, Any] = response.json()
    valid_bundle(bundle)
    assert bundle["type"] == "searchset"
    return bundle


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _insi(bundle: dict[str, Any]) -> tuple[str, str]:
    """(INSi code, issue text) from the outcome entry every answer carries."""
    (entry,) = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    issue = entry["resource"]["issue"][0]
    (coding,) = [c for c in issue["details"]["coding"] if c["system"] == INSI_CODE]
    return coding["code"], issue["diagnostics"]


def test_code_00_is_one_certain_match(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    bundle = _match(app_client, auth_headers("ins.read"), _parameters(_patient(given=["Pierre"])))
    assert bundle["total"] == 1
    (entry,) = _matches(bundle)
    assert entry["fullUrl"].endswith(f"/fhir/Patient/{register.dupont}")
    assert entry["search"]["score"] == 1.0
    assert entry["search"]["extension"] == [{"url": MATCH_GRADE, "valueCode": "certain"}]
    patient = entry["resource"]
    assert patient["id"] == str(register.dupont)
    assert fr_core_patient_ins_problems(patient) == []
    assert patient["name"][0]["given"] == ["JEAN"]
    assert _insi(bundle)[0] == "00"


def test_code_01_is_an_empty_bundle(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    bundle = _match(
        app_client, auth_headers("ins.read"), _parameters(_patient(family="Durand", given=["Luc"]))
    )
    assert bundle["total"] == 0
    assert _matches(bundle) == []
    assert _insi(bundle)[0] == "01"


def test_code_02_never_discloses_the_candidates(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    headers = auth_headers("ins.read")
    homonym = _patient(family="Martin", given=["Claire"], gender="female", birth_date="1975-06-01")
    for only_certain in (None, False, True):
        bundle = _match(app_client, headers, _parameters(homonym, only_certain=only_certain))
        assert bundle["total"] == 0
        assert _matches(bundle) == []
        assert all(e["resource"]["resourceType"] == "OperationOutcome" for e in bundle["entry"])
        code, text = _insi(bundle)
        assert code == "02"
        assert "first names" in text
        assert "birth place" in text
    # INSi's advice works: the birth place, or the other first name, resolves it.
    by_place = _match(app_client, headers, _parameters({**homonym, **_place("13055")}))
    assert [e["resource"]["id"] for e in _matches(by_place)] == [str(register.claire_marseille)]
    by_names = _match(
        app_client,
        headers,
        _parameters(
            _patient(
                family="Martin", given=["Claire", "Anne"], gender="female", birth_date="1975-06-01"
            )
        ),
    )
    assert [e["resource"]["id"] for e in _matches(by_names)] == [str(register.claire_marseille)]


def _place(code: str) -> dict[str, Any]:
    return {"extension": _patient(birth_place=code)["extension"]}


def test_several_first_names_are_probed_one_by_one_and_stay_unambiguous(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    headers = auth_headers("ins.read")
    # Not the registered order: the full list fails (01), each first name finds the same person.
    swapped = _match(app_client, headers, _parameters(_patient(given=["Marie", "Jean"])))
    (entry,) = _matches(swapped)
    assert entry["resource"]["id"] == str(register.dupont)
    assert entry["search"]["extension"][0]["valueCode"] == "certain"
    with db.session() as s:
        probes = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ins.search")
        )
    assert probes == 3  # the full list, then each first name: every probe is audited
    in_one_given = _match(app_client, headers, _parameters(_patient(given=["Marie Jean"])))
    assert _matches(in_one_given)[0]["search"]["extension"][0]["valueCode"] == "certain"

    # The FR Core birth-list-given-name extension carries the full list too.
    listed = _patient(given=["Jean"])
    listed["name"][0]["extension"] = [{"url": BIRTH_LIST, "valueString": "Jean Pierre Marie"}]
    assert _matches(_match(app_client, headers, _parameters(listed)))[0]["search"]["score"] == 1.0

    # One first name matches, another contradicts the register: probable, never certain.
    mixed = _parameters(_patient(given=["Jean", "Paul"]))
    probable = _match(app_client, headers, mixed)
    (entry,) = _matches(probable)
    assert entry["search"]["extension"][0]["valueCode"] == "probable"
    assert entry["search"]["score"] < 1.0
    code, text = _insi(probable)
    assert code == "00"
    assert "identity document" in text
    strict = _match(app_client, headers, _parameters(_patient(given=["Jean", "Paul"]), True))
    assert strict["total"] == 0
    assert "onlyCertainMatches" in _insi(strict)[1]


def test_first_names_leading_to_different_people_are_02(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    from ..factories import add_person

    with db.session() as s:
        add_person(
            s,
            birth_name="MARTIN",
            first_names="LUCIE",
            sex="F",
            birth_date="1975-06-01",
            birth_place="33063",
            order=9,
        )
    # ANNE finds the Marseille Claire, LUCIE finds the Bordeaux Lucie: ambiguous.
    bundle = _match(
        app_client,
        auth_headers("ins.read"),
        _parameters(
            _patient(
                family="Martin", given=["Anne", "Lucie"], gender="female", birth_date="1975-06-01"
            )
        ),
    )
    assert bundle["total"] == 0
    assert _insi(bundle)[0] == "02"


def test_partial_birth_date_and_bare_patient_body(
    app_client: TestClient, auth_headers: TokenFactory, register: Register
) -> None:
    bundle = _match(
        app_client,
        auth_headers("ins.read"),
        _patient(family="N’Diaye", given=["Awa"], gender="female", birth_date="1962"),
    )
    (entry,) = _matches(bundle)
    assert entry["resource"]["id"] == str(register.awa)
    assert entry["resource"]["birthDate"] == "1962"


def test_invalid_requests_name_the_problem(
    app_client: TestClient, auth_headers: TokenFactory, register: Register, db: Database
) -> None:
    headers = {**auth_headers("ins.read"), "Content-Type": "application/fhir+json"}

    def post(body: Any) -> Any:
        return app_client.post(MATCH, json=body, headers=headers)

    assert "resource" in diagnostics(outcome_of(post({"resourceType": "Parameters"}), 400))
    not_parameters = outcome_of(post({"resourceType": "Observation", "status": "final"}), 400)
    assert "Parameters" in diagnostics(not_parameters)
    not_patient = outcome_of(
        post(
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": {"resourceType": "Practitioner"}}],
            }
        ),
        400,
    )
    assert "must be a Patient" in diagnostics(not_patient)
    unknown = outcome_of(post({**_parameters(_patient()), "parameter": [
        *_parameters(_patient())["parameter"], {"name": "fuzzy", "valueBoolean": True}
    ]}), 400)  # fmt: skip
    assert "fuzzy" in diagnostics(unknown)
    outcome_of(post(_parameters(_patient(), count=0)), 400)
    # Structure checked by fhir.resources: wrong types and unknown elements are named.
    bad_structure = _patient(birth_date="1980-13-45")
    bad_structure["nickname"] = "JP"
    structure = outcome_of(post(_parameters(bad_structure)), 400)
    assert set(expressions(structure)) == {"Patient.birthDate", "Patient.nickname"}

    missing = outcome_of(post(_parameters(_patient(gender=None, birth_date=None))), 422)
    assert set(expressions(missing)) == {"Patient.gender", "Patient.birthDate"}
    no_name = _patient()
    no_name["name"] = [{"use": "usual", "family": "DUPONT-MOREL"}]
    assert expressions(outcome_of(post(_parameters(no_name)), 422)) == ["Patient.name"]
    no_given = _patient()
    no_given["name"][0]["given"] = []
    del no_given["name"][0]["given"]
    assert expressions(outcome_of(post(_parameters(no_given)), 422)) == ["Patient.name.given"]
    other = outcome_of(post(_parameters(_patient(gender="other"))), 422)
    assert "male, female" in diagnostics(other)
    # Trait rules of the register, renamed to the Patient elements.
    trait = outcome_of(post(_parameters(_patient(family="DUP0NT"))), 422)
    assert expressions(trait) == ["Patient.name.family"]
    assert "'0'" in diagnostics(trait)
    place = outcome_of(post(_parameters(_patient(birth_place="00000"))), 422)
    assert expressions(place) == ["Patient.extension[birthPlace]"]

    assert (
        outcome_of(app_client.post(MATCH, content=b"{not json", headers=headers), 400)["issue"][0][
            "code"
        ]
        == "invalid"
    )
    outcome_of(
        app_client.post(
            MATCH, content=b"<Parameters/>", headers={**headers, "Content-Type": "application/xml"}
        ),
        415,
    )
    too_long = outcome_of(post(_parameters(_patient(family="A" * 250))), 422)
    assert expressions(too_long) == ["Patient.name.family"]
    huge = _parameters(_patient(family="A" * 300_000))
    outcome_of(post(huge), 413)
    # The token is checked before the body is read.
    outcome_of(
        app_client.post(MATCH, content=b"<x/>", headers={"Content-Type": "application/xml"}), 401
    )
    with db.session() as s:  # refused requests touch nothing: no probe, no audit row
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0
