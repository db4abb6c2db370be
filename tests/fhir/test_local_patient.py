"""Local identities of care structures as FHIR Patient (/fhir/structures/{id}/Patient).

Create (always PROV, claimed statuses downgraded and reported), read (current FR Core reliability
encoding, INS only when QUAL), search, both reliability encodings on input, merged identities,
isolation between structures, and bad input as OperationOutcome.
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.exceptions import ValidationFailed
from carnet.fhir.resources.local_patient import reliability_from_fhir
from carnet.fhir.resources.patient import fr_core_patient_ins_problems, validate_patient
from carnet.vigilance.models import LocalIdentity

from ..conftest import TokenFactory
from .conftest import FHIR_JSON, NIA_SYSTEM, NIR_SYSTEM, Register, outcome_of, valid_bundle

FR_CORE = "https://hl7.fr/ig/fhir/core"
PATIENT_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient"
INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
BIRTH_LIST = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
STATUS_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
COMMENT_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status-comment"
V2_0445 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0445"
FIABILITE = f"{FR_CORE}/CodeSystem/fr-core-fiabilite-identite"
ID_TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
COMMUNES = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"


# -- fixtures and helpers -------------------------------------------------------------------------


def _structure(client: TestClient, headers: dict[str, str], name: str) -> int:
    response = client.post("/api/v1/structures", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def operator(auth_headers: TokenFactory) -> dict[str, str]:
    return auth_headers("identities.read", "identities.write")


@pytest.fixture
def structure_a(app_client: TestClient, operator: dict[str, str]) -> int:
    return _structure(app_client, operator, "CH de Rennes")


@pytest.fixture
def structure_b(app_client: TestClient, operator: dict[str, str]) -> int:
    return _structure(app_client, operator, "Clinique de Brest")


@pytest.fixture
def desk_a(auth_headers: TokenFactory, structure_a: int) -> dict[str, str]:
    """The admission desk software of structure A (bound to it)."""
    return auth_headers("identities.read", "identities.write", structure_id=structure_a)


@pytest.fixture
def desk_b(auth_headers: TokenFactory, structure_b: int) -> dict[str, str]:
    return auth_headers("identities.read", "identities.write", structure_id=structure_b)


def ipp_system(structure: int) -> str:
    return f"urn:carnet:structure:{structure}:ipp"


def fr_core_patient(structure: int, *, ipp: str | None = "IPP-0001", **changes: Any) -> Any:
    """A realistic FR Core Patient as an admission desk would send it (DUPONT of the register)."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [PATIENT_PROFILE]},
        "extension": [
            {
                "url": BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": INSEE_CODE,
                            "valueCoding": {"system": COMMUNES, "code": "75112"},
                        }
                    ],
                    "city": "Paris 12e Arrondissement",
                    "country": "France",
                },
            }
        ],
        "identifier": [],
        "name": [
            {
                "extension": [{"url": BIRTH_LIST, "valueString": "Jean Pierre Marie"}],
                "use": "official",
                "family": "Dupont",
                "given": ["Jean"],
            },
            {"use": "usual", "family": "Dupont-Morel", "given": ["JP"]},
        ],
        "gender": "male",
        "birthDate": "1980-03-12",
    }
    if ipp is not None:
        patient["identifier"].append(
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}
                    ]
                },
                "system": ipp_system(structure),
                "value": ipp,
            }
        )
    patient.update(changes)
    return patient


def current_reliability(
    status: str, *attributes: str, **parts: dict[str, Any] | str
) -> dict[str, Any]:
    """The CURRENT FR Core identity-reliability extension."""
    subs: list[dict[str, Any]] = [
        {"url": "identityStatus", "valueCoding": {"system": STATUS_CS, "code": status}}
    ]
    for url, value in parts.items():
        if isinstance(value, dict):
            subs.append({"url": url, "valueCoding": value})
        else:
            subs.append({"url": url, "valueDate": value})
    subs += [
        {"url": "comment", "valueCodeableConcept": {"coding": [{"system": COMMENT_CS, "code": c}]}}
        for c in attributes
    ]
    return {"url": RELIABILITY, "extension": subs}


def ins_nir(value: str) -> dict[str, Any]:
    return {
        "use": "official",
        "type": {"coding": [{"system": ID_TYPES, "code": "INS-NIR", "display": "NIR définitif"}]},
        "system": NIR_SYSTEM,
        "value": value,
    }


def base(structure: int | str) -> str:
    return f"/fhir/structures/{structure}"


def post(
    client: TestClient, structure: int, headers: dict[str, str], patient: Any, **extra: str
) -> Any:
    return client.post(
        f"{base(structure)}/Patient",
        json=patient,
        headers={**headers, "Content-Type": FHIR_JSON, **extra},
    )


def created(client: TestClient, structure: int, headers: dict[str, str], patient: Any) -> Any:
    response = post(client, structure, headers, patient)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    validate_patient(body)
    return body


def read(client: TestClient, structure: int, headers: dict[str, str], ident: str) -> Any:
    response = client.get(f"{base(structure)}/Patient/{ident}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    validate_patient(body)
    return body


def search(client: TestClient, structure: int, headers: dict[str, str], params: Any) -> Any:
    response = client.get(f"{base(structure)}/Patient", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    valid_bundle(body)
    for entry in body.get("entry", []):
        validate_patient(entry["resource"])
    return body


def reliability(patient: dict[str, Any]) -> dict[str, Any]:
    """The reliability sub-extensions of an answer, by url (comments as a list of codes)."""
    (ext,) = [e for e in patient["extension"] if e["url"] == RELIABILITY]
    out: dict[str, Any] = {"comment": []}
    for sub in ext["extension"]:
        if sub["url"] == "comment":
            (coding,) = sub["valueCodeableConcept"]["coding"]
            assert coding["system"] == COMMENT_CS
            out["comment"].append(coding["code"])
        else:
            out[sub["url"]] = sub.get("valueCoding") or sub.get("valueDate")
    return out


def warnings_of(response: Any) -> str:
    return " | ".join(response.headers.get_list("warning"))


def rest(client: TestClient, structure: int, ident: str, suffix: str = "") -> str:
    return f"/api/v1/structures/{structure}/identities/{ident}{suffix}"


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(LocalIdentity)) or 0)


# -- create and read ------------------------------------------------------------------------------


def test_create_returns_a_prov_fr_core_patient_and_read_serves_it(
    app_client: TestClient, db: Database, structure_a: int, desk_a: dict[str, str]
) -> None:
    response = post(app_client, structure_a, desk_a, fr_core_patient(structure_a))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    patient = response.json()
    validate_patient(patient)
    ident = patient["id"]
    assert response.headers["location"] == (
        f"http://testserver/fhir/structures/{structure_a}/Patient/{ident}"
    )
    assert response.headers["etag"] == 'W/"1"'
    assert warnings_of(response) == ""  # nothing claimed, nothing left out

    assert patient["meta"]["profile"] == [PATIENT_PROFILE]
    assert patient["meta"]["versionId"] == "1"
    assert patient["active"] is True
    assert "link" not in patient
    assert patient["managingOrganization"] == {"display": "CH de Rennes"}
    assert reliability(patient) == {
        "identityStatus": {"system": STATUS_CS, "code": "PROV", "display": "Identité provisoire"},
        "methodCollection": {
            "system": f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection",
            "code": "SM",
            "display": "Saisie manuelle",
        },
        "comment": [],
    }
    # Traits normalised like INSi's; the first birth first name in given, the list beside it.
    official, usual = patient["name"]
    assert official == {
        "extension": [{"url": BIRTH_LIST, "valueString": "JEAN PIERRE MARIE"}],
        "use": "official",
        "family": "DUPONT",
        "given": ["JEAN"],
    }
    assert usual == {"use": "usual", "family": "DUPONT-MOREL", "given": ["JP"]}
    assert (patient["gender"], patient["birthDate"]) == ("male", "1980-03-12")
    (place,) = [e for e in patient["extension"] if e["url"] == BIRTH_PLACE]
    assert place["valueAddress"]["extension"][0]["valueCoding"]["code"] == "75112"
    # The IPP only: a PROV identity has no INS.
    assert patient["identifier"] == [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "PI",
                        "display": "Patient internal identifier",
                    }
                ]
            },
            "system": ipp_system(structure_a),
            "value": "IPP-0001",
        }
    ]

    again = app_client.get(f"{base(structure_a)}/Patient/{ident}", headers=desk_a)
    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"1"'
    assert again.headers["cache-control"] == "no-store"
    assert again.json() == patient
    # The same identity through the REST API: one record, two views.
    same = app_client.get(rest(app_client, structure_a, ident), headers=desk_a).json()
    assert (same["ipp"], same["status"], same["traits"]["first_names"]) == (
        "IPP-0001",
        "PROV",
        ["JEAN", "PIERRE", "MARIE"],
    )

    with db.session() as s:
        actions = [
            (e.action, e.resource)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.resource == f"LocalIdentity/{ident}"
        ]
    assert actions[:2] == [
        ("identity.create", f"LocalIdentity/{ident}"),
        ("identity.read", f"LocalIdentity/{ident}"),
    ]


def test_partial_birth_date_and_no_birth_place(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    patient = fr_core_patient(structure_a, ipp=None, birthDate="1962")
    patient["extension"] = []
    del patient["name"][0]["extension"]
    patient["name"][0]["given"] = ["Awa"]
    patient["gender"] = "female"
    body = created(app_client, structure_a, desk_a, patient)
    assert body["birthDate"] == "1962"
    assert "identifier" not in body
    assert [e["url"] for e in body["extension"]] == [RELIABILITY]
    assert body["name"][0]["extension"] == [{"url": BIRTH_LIST, "valueString": "AWA"}]
    month = created(app_client, structure_a, desk_a, {**patient, "birthDate": "1962-04"})
    assert month["birthDate"] == "1962-04"


def test_prefer_return_minimal_and_operation_outcome(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    minimal = post(
        app_client, structure_a, desk_a, fr_core_patient(structure_a), Prefer="return=minimal"
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "/Patient/" in minimal.headers["location"]
    outcome = post(
        app_client,
        structure_a,
        desk_a,
        fr_core_patient(structure_a, ipp="IPP-0002"),
        Prefer="return=OperationOutcome",
    )
    assert outcome.status_code == 201
    body = outcome.json()
    OperationOutcome.model_validate(body)
    (issue,) = body["issue"]
    assert issue["severity"] == "information"
    assert "created with the status PROV" in issue["diagnostics"]


# -- claimed statuses: both encodings -------------------------------------------------------------


def test_current_encoding_claiming_qual_is_downgraded_and_attributes_applied(
    app_client: TestClient, db: Database, structure_a: int, desk_a: dict[str, str]
) -> None:
    patient = fr_core_patient(structure_a)
    patient["meta"]["profile"] = [INS_PROFILE]
    patient["extension"].insert(
        0,
        current_reliability(
            "QUAL",
            "HOMA",
            "DOUB",
            methodCollection={
                "system": f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection",
                "code": "INSI",
            },
            dateInterrogationINSi="2025-01-10",
            validationDate="2025-01-10",
            validationMode={
                "system": f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity",
                "code": "PA",
            },
        ),
    )
    patient["identifier"].append(ins_nir("180037511200148"))
    response = post(app_client, structure_a, desk_a, patient)
    assert response.status_code == 201, response.text
    body = response.json()
    validate_patient(body)
    # Created PROV: no INS, no validation, no INSi date, no INS profile; the attributes applied.
    assert body["meta"]["profile"] == [PATIENT_PROFILE]
    parts = reliability(body)
    assert parts["identityStatus"]["code"] == "PROV"
    assert parts["methodCollection"]["code"] == "SM"
    assert sorted(parts["comment"]) == ["DOUB", "HOMA"]
    assert not {"validationMode", "validationDate", "dateInterrogationINSi"} & set(parts)
    assert [i["system"] for i in body["identifier"]] == [ipp_system(structure_a)]
    assert "180037511200148" not in response.text
    with db.session() as s:
        row = s.get(LocalIdentity, int(body["id"]))
        assert row is not None
        assert (row.status, row.ins_matricule, row.validation_mode) == ("PROV", None, None)
    # The client is told what was not taken.
    warnings = warnings_of(response)
    assert "claimed status QUAL was not taken" in warnings
    assert f"/api/v1/structures/{structure_a}/identities/{body['id']}/insi-retrieval" in warnings
    assert "validationMode, validationDate, dateInterrogationINSi not recorded" in warnings
    assert "INS was not stored" in warnings
    assert "methodCollection INSI not taken" in warnings

    detailed = post(
        app_client,
        structure_a,
        desk_a,
        {**patient, "identifier": [ins_nir("180037511200148")]},
        Prefer="return=OperationOutcome",
    )
    assert detailed.status_code == 201, detailed.text
    outcome = detailed.json()
    OperationOutcome.model_validate(outcome)
    warned = [i for i in outcome["issue"] if i["severity"] == "warning"]
    assert any(
        i["code"] == "business-rule"
        and "QUAL" in i["diagnostics"]
        and "insi-retrieval" in i["diagnostics"]
        and i["expression"] == ["Patient.extension[0]"]
        for i in warned
    )


LEGACY_PATIENT_INS: dict[str, Any] = {
    # As FR Core 2.0/2.1 Patient-INS examples were written: VALI in fr-core-cs-v2-0445 with an
    # INS-NIR meant a qualified INS.
    "resourceType": "Patient",
    "meta": {"profile": [INS_PROFILE]},
    "extension": [
        {
            "extension": [
                {
                    "url": "identityStatus",
                    "valueCoding": {
                        "system": V2_0445,
                        "code": "VALI",
                        "display": "Identité validée",
                    },
                }
            ],
            "url": RELIABILITY,
        },
        {
            "url": BIRTH_PLACE,
            "valueAddress": {
                "extension": [
                    {"url": INSEE_CODE, "valueCoding": {"system": COMMUNES, "code": "75112"}}
                ],
                "city": "Paris",
            },
        },
    ],
    "identifier": [ins_nir("180037511200148")],
    "name": [
        {
            "extension": [{"url": BIRTH_LIST, "valueString": "JEAN PIERRE MARIE"}],
            "use": "official",
            "family": "DUPONT",
            "given": ["JEAN"],
        }
    ],
    "gender": "male",
    "birthDate": "1980-03-12",
}


def test_reliability_from_fhir_reads_the_older_encoding() -> None:
    legacy = reliability_from_fhir(LEGACY_PATIENT_INS)
    assert (legacy.status, legacy.encoding, legacy.attributes) == ("QUAL", "legacy", ())
    assert legacy.claimed == "VALI + INS identifier (older FR Core encoding)"

    without_ins = copy.deepcopy(LEGACY_PATIENT_INS)
    without_ins["identifier"] = []
    assert reliability_from_fhir(without_ins).status == "VALI"

    # VIDE ("not yet qualified") is PROV; an attribute of table 0445 given as the status is an
    # attribute of a PROV identity (fr-core-fiabilite-identite, FR Core 1.x).
    for code, attributes in (("VIDE", ()), ("DOUT", ("DOUT",)), ("HOMD", ("HOMD",))):
        patient = copy.deepcopy(without_ins)
        patient["extension"][0]["extension"][0]["valueCoding"] = {"system": FIABILITE, "code": code}
        read_back = reliability_from_fhir(patient)
        assert (read_back.status, read_back.attributes) == ("PROV", attributes), code

    # The older sub-extensions: dateCollection, comment as a Coding.
    older = copy.deepcopy(LEGACY_PATIENT_INS)
    older["extension"][0]["extension"] += [
        {"url": "dateCollection", "valueDate": "2021-06-01"},
        {"url": "comment", "valueCoding": {"system": V2_0445, "code": "HOMA"}},
        {"url": "validationMode", "valueCoding": {"code": "CN"}},
        {"url": "validationDate", "valueDate": "2021-06-01"},
    ]
    read_back = reliability_from_fhir(older)
    assert read_back.insi_date == date(2021, 6, 1)
    assert read_back.attributes == ("HOMA",)
    assert (read_back.validation_mode, read_back.validation_date) == ("CN", date(2021, 6, 1))

    # InteropSanté FrPatient (before FR Core): sub-extension identityReliability.
    interop = {
        "resourceType": "Patient",
        "extension": [
            {
                "extension": [
                    {
                        "url": "identityReliability",
                        "valueCoding": {"system": V2_0445, "code": "VALI"},
                    },
                    {"url": "validationDate", "valueDate": "2020-04-22"},
                    {"url": "validationMode", "valueCoding": {"code": "CN"}},
                ],
                "url": "http://interopsante.org/fhir/StructureDefinition/FrPatientIdentReliability",
            }
        ],
    }
    read_back = reliability_from_fhir(interop)
    assert (read_back.status, read_back.validation_mode, read_back.encoding) == (
        "VALI",
        "CN",
        "legacy",
    )
    assert reliability_from_fhir({"resourceType": "Patient"}).status is None


def test_reliability_from_fhir_reads_the_current_encoding() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [ins_nir("180037511200148")],
        "extension": [
            current_reliability(
                "RECUP",
                "HOMD",
                methodCollection={"code": "CV"},
                dateInterrogationINSi="2025-02-03",
            )
        ],
    }
    read_back = reliability_from_fhir(patient)
    assert read_back == (
        "RECUP",
        ("HOMD",),
        None,
        None,
        "CV",
        date(2025, 2, 3),
        "current",
        "RECUP",
        (),
    )
    # In the current encoding VALI stays VALI, INS or not (QUAL has its own code).
    patient["extension"] = [current_reliability("VALI")]
    assert reliability_from_fhir(patient).status == "VALI"


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (current_reliability("PROV", "FICT", "DOUT"), "FICT and DOUT cannot be combined"),
        (current_reliability("QUAL", "DOUT"), "must have the status PROV"),
        (current_reliability("GOOD"), "'GOOD' is not in fr-core-cs-identity-status"),
        (
            current_reliability("PROV", validationMode={"code": "XX"}),
            "not in fr-core-vs-mode-validation-identity",
        ),
        (
            {"url": RELIABILITY, "extension": [{"url": "identityStatus", "valueString": "QUAL"}]},
            "a Coding is expected",
        ),
    ],
)
def test_reliability_from_fhir_refuses_what_fr_core_forbids(
    extension: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        reliability_from_fhir({"resourceType": "Patient", "extension": [extension]})
    assert message in raised.value.message
    assert raised.value.details[0]["field"].startswith("Patient.extension[0]")


def test_legacy_vali_with_ins_is_downgraded_on_create(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    response = post(app_client, structure_a, desk_a, LEGACY_PATIENT_INS)
    assert response.status_code == 201, response.text
    body = response.json()
    validate_patient(body)
    assert reliability(body)["identityStatus"]["code"] == "PROV"
    assert "identifier" not in body
    warnings = warnings_of(response)
    assert (
        "claimed status VALI + INS identifier (older FR Core encoding), read as QUAL, was not "
        "taken" in warnings
    )
    assert "INS was not stored" in warnings

    # An attribute given as the status in the older table is applied.
    marked = copy.deepcopy(LEGACY_PATIENT_INS)
    marked["identifier"] = []
    marked["extension"][0]["extension"][0]["valueCoding"] = {"system": FIABILITE, "code": "DOUT"}
    doubtful = created(app_client, structure_a, desk_a, marked)
    assert reliability(doubtful)["comment"] == ["DOUT"]
    assert reliability(doubtful)["identityStatus"]["code"] == "PROV"


# -- the path to QUAL, and the INS ----------------------------------------------------------------


def test_ins_only_once_qualified_through_insi_and_a_document(
    app_client: TestClient,
    db: Database,
    register: Register,
    structure_a: int,
    desk_a: dict[str, str],
) -> None:
    patient = fr_core_patient(structure_a)
    del patient["name"][0]["extension"]  # the desk typed one first name: INSi gives the list
    ident = created(app_client, structure_a, desk_a, patient)["id"]
    by_ins = {"identifier": f"{NIR_SYSTEM}|{register.dupont_nir}"}
    assert search(app_client, structure_a, desk_a, by_ins)["total"] == 0

    retrieval = app_client.post(
        rest(app_client, structure_a, ident, "/insi-retrieval"), headers=desk_a
    )
    assert retrieval.json()["identity"]["status"] == "RECUP", retrieval.text
    recup = read(app_client, structure_a, desk_a, ident)
    parts = reliability(recup)
    assert parts["identityStatus"]["code"] == "RECUP"
    assert parts["methodCollection"]["code"] == "INSI"
    assert (
        parts["dateInterrogationINSi"] == datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    )
    assert recup["name"][0]["extension"][0]["valueString"] == "JEAN PIERRE MARIE"
    # RECUP: the INS is stored but neither shown nor searchable.
    assert register.dupont_nir not in str(recup)
    assert recup["meta"]["profile"] == [PATIENT_PROFILE]
    assert search(app_client, structure_a, desk_a, by_ins)["total"] == 0

    check = app_client.post(
        rest(app_client, structure_a, ident, "/document-check"),
        json={"validation_mode": "CN", "validation_date": "2026-01-15"},
        headers=desk_a,
    )
    assert check.json()["status"] == "QUAL", check.text
    qual = read(app_client, structure_a, desk_a, ident)
    assert qual["meta"]["profile"] == [PATIENT_PROFILE, INS_PROFILE]
    assert fr_core_patient_ins_problems(qual) == []
    parts = reliability(qual)
    assert parts["identityStatus"] == {
        "system": STATUS_CS,
        "code": "QUAL",
        "display": "Identité qualifiée",
    }
    assert parts["validationMode"]["code"] == "CN"
    assert parts["validationMode"]["system"] == (
        f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
    )
    assert parts["validationDate"] == "2026-01-15"
    assert {(i["system"], i["value"], i["use"]) for i in qual["identifier"]} == {
        (ipp_system(structure_a), "IPP-0001", "usual"),
        (NIR_SYSTEM, register.dupont_nir, "official"),
    }
    (ins,) = [i for i in qual["identifier"] if i["system"] == NIR_SYSTEM]
    assert ins["type"]["coding"][0]["code"] == "INS-NIR"

    found = search(app_client, structure_a, desk_a, by_ins)
    assert [e["resource"]["id"] for e in found["entry"]] == [ident]
    assert found["entry"][0]["fullUrl"].endswith(f"/fhir/structures/{structure_a}/Patient/{ident}")
    # The NIA system does not find a NIR; an INS search stands alone.
    assert (
        search(
            app_client, structure_a, desk_a, {"identifier": f"{NIA_SYSTEM}|{register.dupont_nir}"}
        )["total"]
        == 0
    )
    combined = app_client.get(
        f"{base(structure_a)}/Patient",
        params={**by_ins, "family": "DUPONT"},
        headers=desk_a,
    )
    assert "search by INS alone" in outcome_of(combined, 400)["issue"][0]["diagnostics"]
    with db.session() as s:
        searches = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "identity.search",
                AuditEvent.resource == f"LocalIdentity/{ident}",
            )
        ).all()
    assert searches
    assert all(e.person_id == register.dupont for e in searches)


# -- merged identities ----------------------------------------------------------------------------


def test_merged_identity_is_inactive_and_replaced_by_the_survivor(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    keep = created(app_client, structure_a, desk_a, fr_core_patient(structure_a, ipp="KEEP"))["id"]
    gone = created(app_client, structure_a, desk_a, fr_core_patient(structure_a, ipp="GONE"))["id"]
    merge = app_client.post(
        rest(app_client, structure_a, gone, "/merge"),
        json={"into": int(keep), "reason": "same patient, confirmed by the identity cell"},
        headers=desk_a,
    )
    assert merge.status_code == 200, merge.text

    merged = read(app_client, structure_a, desk_a, gone)
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{keep}"}, "type": "replaced-by"}]
    assert "DESA" in reliability(merged)["comment"]
    assert merged["meta"]["versionId"] == "2"
    assert read(app_client, structure_a, desk_a, keep)["active"] is True

    # An identifier lookup finds the merged identity; a search by traits only the active one.
    by_ipp = search(
        app_client, structure_a, desk_a, {"identifier": f"{ipp_system(structure_a)}|GONE"}
    )
    assert [e["resource"]["id"] for e in by_ipp["entry"]] == [gone]
    by_name = search(app_client, structure_a, desk_a, {"family": "dupont"})
    assert [e["resource"]["id"] for e in by_name["entry"]] == [keep]


# -- search ---------------------------------------------------------------------------------------


def _person(structure: int, family: str, given: str, gender: str, born: str, ipp: str) -> Any:
    patient = fr_core_patient(structure, ipp=ipp, gender=gender, birthDate=born)
    patient["name"] = [{"use": "official", "family": family, "given": given.split()}]
    return patient


def test_search_by_traits_with_paging(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    ids = {
        ipp: created(app_client, structure_a, desk_a, _person(structure_a, *traits, ipp))["id"]
        for ipp, traits in {
            "C1": ("Martin", "Claire", "female", "1975-06-01"),
            "C2": ("Martin", "Anne Claire", "female", "1975-06-01"),
            "C3": ("Martin", "Paul", "male", "1975-06"),
            "C4": ("Dupond", "Jean", "male", "1980-03-12"),
            "C5": ("d’Artagnan", "Charles", "male", "1911"),
        }.items()
    }

    def found(**params: str) -> list[str]:
        body = search(app_client, structure_a, desk_a, params)
        assert body["total"] == len(body.get("entry", []))
        return sorted(e["resource"]["id"] for e in body.get("entry", []))

    assert found(family="MARTIN") == sorted([ids["C1"], ids["C2"], ids["C3"]])
    assert found(family="martin", given="claire") == sorted([ids["C1"], ids["C2"]])
    assert found(family="martin", gender="male") == [ids["C3"]]
    assert found(birthdate="1975-06-01") == sorted([ids["C1"], ids["C2"]])
    assert found(birthdate="1975-06") == sorted([ids["C1"], ids["C2"], ids["C3"]])
    assert found(birthdate="1911") == [ids["C5"]]
    assert found(**{"family:exact": "D'ARTAGNAN"}) == [ids["C5"]]
    assert found(family="d'artagnan") == [ids["C5"]]
    assert found(family="DUPONT") == []
    assert found(phonetic="DUPONT") == [ids["C4"]]  # sounds alike
    assert found(identifier="C4") == [ids["C4"]]  # a bare value is the IPP
    assert found(identifier="urn:x|C4") == []
    assert found(gender="unknown") == []
    assert found(**{"identity-status": "PROV"}) == sorted(ids.values())
    assert found(**{"identity-status": f"{STATUS_CS}|QUAL"}) == []

    first = search(app_client, structure_a, desk_a, {"family": "MARTIN", "_count": "2"})
    assert first["total"] == 3
    assert len(first["entry"]) == 2
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "_offset=2" in links["next"]
    assert "previous" not in links
    second = app_client.get(links["next"], headers=desk_a).json()
    valid_bundle(second)
    assert len(second["entry"]) == 1
    second_links = {link["relation"]: link["url"] for link in second["link"]}
    assert "next" not in second_links
    assert "_offset=0" in second_links["previous"]
    seen = [e["resource"]["id"] for e in first["entry"] + second["entry"]]
    assert sorted(seen) == sorted([ids["C1"], ids["C2"], ids["C3"]])
    counted = search(app_client, structure_a, desk_a, {"family": "MARTIN", "_count": "0"})
    assert (counted["total"], "entry" in counted) == (3, False)

    form = app_client.post(
        f"{base(structure_a)}/Patient/_search", data={"given": "paul"}, headers=desk_a
    )
    assert form.status_code == 200
    assert [e["resource"]["id"] for e in form.json()["entry"]] == [ids["C3"]]


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"birthdate": "ge1975"}, "birthdate"),
        ({"gender": "x"}, "gender"),
        ({"family": "MARTIN,DUPOND"}, "family"),
        ({"identity-status": "GOOD"}, "identity-status"),
        ({"family:contains": "MAR"}, "family:contains"),
        ({"_count": "many"}, "_count"),
        ({"_offset": "20000"}, "_offset"),
        ({"given": "J3an"}, "given"),
    ],
)
def test_bad_search_parameters_are_named(
    app_client: TestClient,
    structure_a: int,
    desk_a: dict[str, str],
    params: dict[str, str],
    expression: str,
) -> None:
    response = app_client.get(f"{base(structure_a)}/Patient", params=params, headers=desk_a)
    body = outcome_of(response, response.status_code)
    assert response.status_code in (400, 422)
    assert [e for i in body["issue"] for e in i.get("expression", [])] == [expression]


# -- isolation and authorization ------------------------------------------------------------------


def test_structures_are_isolated(
    app_client: TestClient,
    db: Database,
    auth_headers: TokenFactory,
    operator: dict[str, str],
    structure_a: int,
    structure_b: int,
    desk_a: dict[str, str],
    desk_b: dict[str, str],
) -> None:
    ident = created(app_client, structure_a, desk_a, fr_core_patient(structure_a))["id"]
    before = _count(db)
    # B's software reaches nothing of A, not even the identity under its own base.
    for url in (
        f"{base(structure_a)}/Patient/{ident}",
        f"{base(structure_a)}/Patient?family=DUPONT",
        f"{base(structure_b)}/Patient/{ident}",
    ):
        outcome_of(app_client.get(url, headers=desk_b), 404)
    refused = post(app_client, structure_a, desk_b, fr_core_patient(structure_a))
    assert "not found" in outcome_of(refused, 404)["issue"][0]["diagnostics"]
    assert _count(db) == before
    assert search(app_client, structure_b, desk_b, {"family": "DUPONT"})["total"] == 0
    # A structure that does not exist looks the same.
    for structure in (structure_a, structure_b + 100):
        answer = app_client.get(f"{base(structure)}/Patient/{ident}", headers=desk_b)
        assert outcome_of(answer, 404)["issue"][0]["diagnostics"] == (
            f"structure {structure} not found"
        )
    outcome_of(app_client.get(f"{base('abc')}/Patient/{ident}", headers=desk_b), 404)

    # An operator client names the structure in the URL and reaches it.
    assert read(app_client, structure_a, operator, ident)["id"] == ident
    # Scopes: the register's ins.read is not enough, reading does not allow creating.
    outcome_of(
        app_client.get(f"{base(structure_a)}/Patient/{ident}", headers=auth_headers("ins.read")),
        403,
    )
    reader = auth_headers("identities.read", structure_id=structure_a)
    outcome_of(post(app_client, structure_a, reader, fr_core_patient(structure_a)), 403)
    outcome_of(app_client.get(f"{base(structure_a)}/Patient/{ident}"), 401)
    # Local identity ids are not register persons: /fhir/Patient/{id} is the register.
    outcome_of(app_client.get(f"/fhir/Patient/{ident}", headers=auth_headers("ins.read")), 404)
    with db.session() as s:
        actors = {
            e.actor
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.resource == f"LocalIdentity/{ident}")
            )
        }
    assert len(actors) == 2  # desk A (create, read) and the operator (read); never desk B


# -- bad input ------------------------------------------------------------------------------------


def _without_birth_list(structure: int, given: list[str]) -> Any:
    patient = fr_core_patient(structure)
    patient["name"][0]["given"] = given
    return patient


@pytest.mark.parametrize(
    ("change", "status", "expression", "text"),
    [
        (lambda p: {"resourceType": "Observation"}, 400, "Patient.resourceType", "Patient"),
        (lambda p: {**p, "birthDate": "1980-13-45"}, 400, "Patient.birthDate", "Patient"),
        (lambda p: {**p, "name": p["name"][1:]}, 422, "Patient.name", "official name"),
        (lambda p: {**p, "gender": "unknown"}, 422, "Patient.gender", "male or female"),
        (
            lambda p: {k: v for k, v in p.items() if k != "gender"},
            422,
            "Patient.gender",
            "required",
        ),
        (lambda p: {**p, "birthDate": "2999-01-01"}, 422, "Patient.birthDate", "future"),
        (
            lambda p: {**p, "name": [{**p["name"][0], "family": "Dup0nt"}]},
            422,
            "Patient.name[0].family",
            "'0'",
        ),
        (
            lambda p: {**p, "name": [{**p["name"][0], "given": ["Paul"]}]},
            422,
            "Patient.name[0].given[0]",
            "not the first birth first name",
        ),
        (
            lambda p: {
                **p,
                "extension": [
                    {
                        "url": BIRTH_PLACE,
                        "valueAddress": {
                            "extension": [{"url": INSEE_CODE, "valueCoding": {"code": "00000"}}]
                        },
                    }
                ],
            },
            422,
            "Patient.extension[0].valueAddress.extension[0].valueCoding.code",
            "INSEE",
        ),
        (
            lambda p: {
                **p,
                "identifier": [{**p["identifier"][0], "system": "http://hopital.fr/ipp"}],
            },
            422,
            "Patient.identifier[0].system",
            "urn:carnet:structure:",
        ),
        (
            lambda p: {**p, "identifier": [{**p["identifier"][0], "value": "IPP 0001 ?"}]},
            422,
            "Patient.identifier[0].value",
            "letters, digits",
        ),
        (
            lambda p: {**p, "extension": [current_reliability("PROV", "FICT", "HOMA")]},
            422,
            "Patient.extension[0]",
            "cannot be combined",
        ),
        (
            lambda p: {**p, "modifierExtension": [{"url": "urn:x", "valueBoolean": True}]},
            422,
            "Patient.modifierExtension",
            "modifier",
        ),
    ],
)
def test_bad_patients_are_refused_naming_the_element(
    app_client: TestClient,
    db: Database,
    structure_a: int,
    desk_a: dict[str, str],
    change: Any,
    status: int,
    expression: str,
    text: str,
) -> None:
    response = post(app_client, structure_a, desk_a, change(fr_core_patient(structure_a)))
    body = outcome_of(response, status)
    assert expression in [e for i in body["issue"] for e in i.get("expression", [])], body
    assert text in " ".join(i["diagnostics"] for i in body["issue"])
    assert _count(db) == 0


def test_transport_errors(
    app_client: TestClient, db: Database, structure_a: int, desk_a: dict[str, str]
) -> None:
    url = f"{base(structure_a)}/Patient"
    created(app_client, structure_a, desk_a, fr_core_patient(structure_a))
    # The same IPP twice in a structure: a conflict naming the identifier.
    twice = outcome_of(post(app_client, structure_a, desk_a, fr_core_patient(structure_a)), 409)
    assert twice["issue"][0]["expression"] == ["Patient.identifier[0].value"]
    outcome_of(
        app_client.post(url, content=b"{not json", headers={**desk_a, "Content-Type": FHIR_JSON}),
        400,
    )
    outcome_of(
        app_client.post(url, content=b"<Patient/>", headers={**desk_a, "Content-Type": "text/xml"}),
        415,
    )
    conditional = post(
        app_client,
        structure_a,
        desk_a,
        fr_core_patient(structure_a, ipp="OTHER"),
        **{"If-None-Exist": "identifier=OTHER"},
    )
    assert outcome_of(conditional, 400)["issue"][0]["expression"] == ["If-None-Exist"]
    assert _count(db) == 1


def test_elements_not_held_are_reported(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    patient = fr_core_patient(structure_a)
    patient["telecom"] = [{"system": "phone", "value": "0299000000"}]
    patient["identifier"].append(
        {"system": "urn:oid:1.2.250.1.213.1.4.2", "value": "123"}  # a legacy INS-C
    )
    patient["extension"].append(
        {"url": f"{FR_CORE}/StructureDefinition/fr-core-patient-nationality", "extension": []}
    )
    response = post(app_client, structure_a, desk_a, patient)
    assert response.status_code == 201, response.text
    warnings = warnings_of(response)
    assert "telecom" in warnings
    assert "urn:oid:1.2.250.1.213.1.4.2 is not stored" in warnings
    assert "fr-core-patient-nationality is not stored" in warnings


# -- CapabilityStatement --------------------------------------------------------------------------


def test_structure_capability_statement(
    app_client: TestClient, structure_a: int, desk_a: dict[str, str]
) -> None:
    response = app_client.get(f"{base(structure_a)}/metadata")
    assert response.status_code == 200
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["implementation"]["url"] == f"http://testserver{base(structure_a)}"
    (resource,) = statement["rest"][0]["resource"]
    assert resource["type"] == "Patient"
    assert {i["code"] for i in resource["interaction"]} == {"create", "read", "search-type"}
    assert ipp_system(structure_a) in resource["documentation"]
    values = {
        "identifier": "IPP-0001",
        "family": "DUPONT",
        "phonetic": "DUPONT",
        "given": "JEAN",
        "birthdate": "1980",
        "gender": "male",
        "identity-status": "PROV",
        "_count": "5",
        "_offset": "0",
    }
    for parameter in resource["searchParam"]:
        search(app_client, structure_a, desk_a, {parameter["name"]: values[parameter["name"]]})
    root = app_client.get("/fhir/metadata").json()
    assert "/fhir/structures/{structure_id}" in root["description"]
