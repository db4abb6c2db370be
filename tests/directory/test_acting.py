"""``directory_service.acting_professional``: who may act for whom (the apCV interface).

Tested with a real session and real ``Principal`` objects, and end to end with a client created
by ``carnet clients create --professional RPPS`` whose token carries the professional.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.auth.service import AuthService
from carnet.db import Database
from carnet.directory.models import Practice, Professional
from carnet.directory.schemas import ActingProfessional, ProfessionalRef
from carnet.directory.service import directory_service
from carnet.exceptions import AppError

from .conftest import (
    EVERYONE,
    FAURE,
    FINESS_CH,
    LEFEVRE,
    MOREL,
    NDIAYE,
    SIRET_CABINET,
    SIRET_PHARMACY,
    carnet,
    load,
)


@pytest.fixture
def directory(db: Database) -> dict[str, int]:
    """The directory loaded; returns professional ids by RPPS and structure ids by identifier."""
    report = load(db, *EVERYONE)
    assert report.committed, report.errors
    with db.session() as s:
        people = s.execute(select(Professional.rpps, Professional.id)).all()
        places = s.execute(select(Practice.structure_identifier, Practice.structure_id)).all()
    return {str(key): int(value) for key, value in [*people, *places]}


def client(*, professional_id: int | None = None, structure_id: int | None = None) -> Principal:
    return Principal(
        client_id="cli_test",
        scopes=frozenset({"apcv"}),
        professional_id=professional_id,
        structure_id=structure_id,
    )


def refused(session: Session, principal: Principal, ref: ProfessionalRef) -> AppError:
    with pytest.raises(AppError) as caught:
        directory_service.acting_professional(session, principal, ref)
    assert caught.value.status_code == 403
    return caught.value


def test_a_client_bound_to_the_professional(session: Session, directory: dict[str, int]) -> None:
    principal = client(professional_id=directory[MOREL])
    acting = directory_service.acting_professional(session, principal, ProfessionalRef(rpps=MOREL))
    assert acting == ActingProfessional(
        professional_id=directory[MOREL],
        rpps=MOREL,
        idnat_ps="8" + MOREL,
        family_name="Morel",
        given_name="Claire",
        profession_code="10",
        profession_label="Médecin",
        specialty_code="SM54",
        specialty_label="Médecine générale",
        # Two places and none named: the place is unknown.
        structure_id=None,
        structure_identifier=None,
        structure_name=None,
    )
    at_hospital = directory_service.acting_professional(
        session, principal, ProfessionalRef(idnat_ps="8" + MOREL, structure_identifier=FINESS_CH)
    )
    assert (at_hospital.structure_id, at_hospital.structure_name) == (
        directory[FINESS_CH],
        "CH de Cesson",
    )
    # A professional with one place: that place.
    lefevre = directory_service.acting_professional(
        session, client(professional_id=directory[LEFEVRE]), ProfessionalRef(rpps=LEFEVRE)
    )
    assert lefevre.structure_identifier == SIRET_PHARMACY


def test_a_client_bound_to_a_structure_where_the_professional_practises(
    session: Session, directory: dict[str, int]
) -> None:
    hospital = client(structure_id=directory[FINESS_CH])
    for rpps in (MOREL, NDIAYE):
        acting = directory_service.acting_professional(
            session, hospital, ProfessionalRef(rpps=rpps)
        )
        # The place is the client's structure.
        assert (acting.rpps, acting.structure_identifier) == (rpps, FINESS_CH)
    # Lefèvre does not practise at the hospital.
    error = refused(session, hospital, ProfessionalRef(rpps=LEFEVRE))
    assert error.code == "professional_not_bound_to_client"
    assert LEFEVRE in error.message
    # The hospital's software cannot place Morel's act at her cabinet.
    error = refused(
        session, hospital, ProfessionalRef(rpps=MOREL, structure_identifier=SIRET_CABINET)
    )
    assert error.code == "professional_not_bound_to_client"


def test_a_client_bound_to_another_professional_is_refused(
    session: Session, directory: dict[str, int]
) -> None:
    error = refused(session, client(professional_id=directory[NDIAYE]), ProfessionalRef(rpps=MOREL))
    assert error.code == "professional_not_bound_to_client"


def test_a_client_bound_to_nothing_is_refused(session: Session, directory: dict[str, int]) -> None:
    error = refused(session, client(), ProfessionalRef(rpps=MOREL))
    assert error.code == "client_not_bound"


def test_unknown_and_inactive_professionals_are_refused(
    session: Session, directory: dict[str, int]
) -> None:
    principal = client(professional_id=directory[MOREL])
    error = refused(session, principal, ProfessionalRef(rpps="10999999999"))
    assert error.code == "professional_not_in_directory"
    assert "RPPS 10999999999" in error.message
    error = refused(session, principal, ProfessionalRef(idnat_ps="0359000099"))
    assert (error.code, "idNat_PS 0359000099" in error.message) == (
        "professional_not_in_directory",
        True,
    )
    # Even the professional's own software cannot act once the professional is inactive.
    error = refused(session, client(professional_id=directory[FAURE]), ProfessionalRef(rpps=FAURE))
    assert error.code == "professional_not_in_directory"
    assert "no longer active" in error.message


def test_the_place_must_be_one_of_the_professional(
    session: Session, directory: dict[str, int]
) -> None:
    error = refused(
        session,
        client(professional_id=directory[MOREL]),
        ProfessionalRef(rpps=MOREL, structure_identifier=SIRET_PHARMACY),
    )
    assert error.code == "not_a_place_of_practice"


def test_a_reference_names_exactly_one_valid_identifier() -> None:
    with pytest.raises(ValidationError, match="exactly one of rpps and idnat_ps"):
        ProfessionalRef()
    with pytest.raises(ValidationError, match="exactly one of rpps and idnat_ps"):
        ProfessionalRef(rpps=MOREL, idnat_ps="8" + MOREL)
    with pytest.raises(ValidationError, match="11 digits"):
        ProfessionalRef(rpps="123")
    with pytest.raises(ValidationError, match="type prefix"):
        ProfessionalRef(idnat_ps="2123")
    with pytest.raises(ValidationError, match="FINESS"):
        ProfessionalRef(rpps=MOREL, structure_identifier="12")
    assert ProfessionalRef(
        rpps="1010 0000 017", structure_identifier=" 2a0000012"
    ).model_dump() == {
        "rpps": MOREL,
        "idnat_ps": None,
        "structure_identifier": "2A0000012",
    }


def test_the_summary_for_history_display(session: Session, directory: dict[str, int]) -> None:
    faure = directory_service.professional_summary(session, directory[FAURE])
    assert faure is not None
    assert (faure.family_name, faure.profession_label, faure.structure_id) == (
        "Faure",
        "Masseur-kinésithérapeute",
        None,
    )
    morel = directory_service.professional_summary(
        session, directory[MOREL], structure_id=directory[SIRET_CABINET]
    )
    assert morel is not None
    assert morel.structure_name == "Cabinet médical des Tilleuls"
    assert directory_service.professional_summary(session, 999_999) is None


# -- end to end: a client created by the CLI ---------------------------------------------------


def test_a_cli_created_client_bound_to_a_professional(
    app_client: TestClient, db: Database, database_url: str, directory: dict[str, int]
) -> None:
    result = carnet(
        database_url, "clients", "create", "--name", "Logiciel Morel", "--scope", "apcv",
        "--professional", MOREL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["professional_id"] == directory[MOREL]

    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    response = app_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    service: AuthService = app_client.app.state.auth_service  # type: ignore[attr-defined]
    principal = service.verify_access_token(response.json()["access_token"], datetime.now(UTC))
    assert principal.professional_id == directory[MOREL]

    with db.session() as s:
        acting = directory_service.acting_professional(
            s, principal, ProfessionalRef(rpps=MOREL, structure_identifier=SIRET_CABINET)
        )
        assert (acting.rpps, acting.structure_id) == (MOREL, directory[SIRET_CABINET])
        assert refused(s, principal, ProfessionalRef(rpps=NDIAYE)).code == (
            "professional_not_bound_to_client"
        )

    listed = carnet(database_url, "clients", "list")
    assert listed.returncode == 0, listed.stderr
    [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (entry["professional_id"], entry["professional_rpps"]) == (directory[MOREL], MOREL)


def test_binding_to_an_unknown_or_inactive_professional_fails(
    database_url: str, directory: dict[str, int]
) -> None:
    for rpps, message in (
        ("10999999999", "no professional with RPPS 10999999999 in the directory"),
        (FAURE, f"the professional with RPPS {FAURE} is not active"),
        ("12", "rpps: expected 11 digits"),
    ):
        result = carnet(
            database_url, "clients", "create", "--name", "x", "--scope", "apcv",
            "--professional", rpps,
        )  # fmt: skip
        assert result.returncode == 1
        assert message in result.stderr
