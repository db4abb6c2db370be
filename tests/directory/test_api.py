"""The directory API: one professional by RPPS, a name search; scope and audit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.db import Database
from carnet.directory.models import Professional

from ..conftest import TokenFactory
from .conftest import EVERYONE, FAURE, FINESS_CH, MOREL, SIRET_CABINET, load, row

URL = "/api/v1/directory/professionals"


@pytest.fixture
def reader(auth_headers: TokenFactory, db: Database) -> dict[str, str]:
    report = load(db, *EVERYONE)
    assert report.committed, report.errors
    return auth_headers("directory.read")


def test_a_professional_with_labels_and_places(
    app_client: TestClient, reader: dict[str, str], db: Database
) -> None:
    response = app_client.get(f"{URL}/{MOREL}", headers=reader)
    assert response.status_code == 200, response.text
    body = response.json()
    practices = body.pop("practices")
    assert body.pop("updated_at")
    assert body == {
        "rpps": MOREL,
        "idnat_ps": "8" + MOREL,
        "family_name": "Morel",
        "given_name": "Claire",
        "profession": {
            "system": "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/"
            "TRE-G15-ProfessionSante",
            "code": "10",
            "label": "Médecin",
        },
        "specialty": {
            "system": "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/"
            "TRE-R38-SpecialiteOrdinale",
            "code": "SM54",
            "label": "Médecine générale",
        },
        "active": True,
    }
    assert [(p["structure_identifier"], p["structure_name"], p["commune"]) for p in practices] == [
        (FINESS_CH, "CH de Cesson", "Cesson-Sévigné"),
        (SIRET_CABINET, "Cabinet médical des Tilleuls", "Rennes"),
    ]
    assert all(isinstance(p["structure_id"], int) for p in practices)
    # The read is audited, naming the directory entry.
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "directory.read")).one()
    assert event.resource == f"Professional/{event_target(db)}"
    assert event.person_id is None


def event_target(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(Professional.id).where(Professional.rpps == MOREL)) or 0)


def test_an_inactive_professional_is_shown_inactive_and_an_unknown_one_is_404(
    app_client: TestClient, reader: dict[str, str]
) -> None:
    faure = app_client.get(f"{URL}/{FAURE}", headers=reader).json()
    assert (faure["active"], faure["practices"], faure["specialty"]) == (False, [], None)
    missing = app_client.get(f"{URL}/10999999999", headers=reader)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "professional_not_found"
    malformed = app_client.get(f"{URL}/1234", headers=reader)
    assert malformed.status_code == 422


def test_an_unknown_specialty_code_has_no_label(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    load(db, row(specialty="sm99"))
    body = app_client.get(f"{URL}/{MOREL}", headers=auth_headers("directory.read")).json()
    assert body["specialty"]["code"] == "SM99"
    assert body["specialty"]["label"] is None


def test_the_scope_is_required(
    app_client: TestClient, auth_headers: TokenFactory, db: Database
) -> None:
    load(db, *EVERYONE)
    assert app_client.get(f"{URL}/{MOREL}").status_code == 401
    other = auth_headers("ins.read")
    response = app_client.get(f"{URL}/{MOREL}", headers=other)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert app_client.get(URL, params={"name": "mor"}, headers=other).status_code == 403


def test_search_by_name_ignores_case_and_accents(
    app_client: TestClient, reader: dict[str, str]
) -> None:
    response = app_client.get(URL, params={"name": "lefevre"}, headers=reader)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 1
    assert page["items"][0]["family_name"] == "Lefèvre-Dubois"
    assert page["items"][0]["practices"][0]["structure_name"] == "Pharmacie du Marché"

    # "N'Diaye" is found as typed with or without the apostrophe.
    assert app_client.get(URL, params={"name": "n'di"}, headers=reader).json()["total"] == 1
    assert app_client.get(URL, params={"name": "N DIAYE"}, headers=reader).json()["total"] == 1
    # Prefix only, and the profession filter.
    assert app_client.get(URL, params={"name": "orel"}, headers=reader).json()["total"] == 0
    nurses = app_client.get(URL, params={"name": "mo", "profession": "60"}, headers=reader)
    assert nurses.json()["total"] == 0
    bad = app_client.get(URL, params={"name": "mo", "profession": "77"}, headers=reader)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_profession"
    short = app_client.get(URL, params={"name": "--"}, headers=reader)
    assert short.status_code == 422
