"""Synthetic register for the FHIR tests, and helpers to validate what the server answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.db import Database
from carnet.identity.models import InsHistory

from ..factories import add_cast, add_person, make_nir

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
NIA_SYSTEM = "urn:oid:1.2.250.1.213.1.4.9"
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Register:
    """Person keys and matricules of the seeded register."""

    dupont: int
    dupont_nir: str
    dupont_old_nir: str
    claire_lyon: int
    claire_marseille: int
    awa: int
    awa_nia: str
    karim: int
    karim_nir: str
    karim_old_nia: str
    rose: int


@pytest.fixture
def register(db: Database) -> Register:
    with db.session() as s:
        # Birth name DUPONT, three birth first names, a used name, a NIR replaced after a merge.
        dupont = add_person(
            s,
            birth_name="DUPONT",
            first_names="JEAN PIERRE MARIE",
            sex="M",
            birth_date="1980-03-12",
            birth_place="75112",
            used_name="DUPONT-MOREL",
        )
        dupont.used_first_name = "JP"
        dupont_old = make_nir("M", "1980-03-12", "75112", 444)
        s.add(
            InsHistory(
                person_id=dupont.id,
                matricule=dupont_old,
                kind="NIR",
                ended_at=datetime(2024, 5, 2, 10, 0, tzinfo=UTC),
            )
        )
        cast = add_cast(s)
        # Deceased, day of birth unknown.
        rose = add_person(
            s,
            birth_name="LEFEBVRE",
            first_names="ROSE",
            sex="F",
            birth_date="1931-04-00",
            birth_place="59350",
        )
        rose.death_date = "2019-11-00"
        s.flush()
        return Register(
            dupont=dupont.id,
            dupont_nir=dupont.matricule,
            dupont_old_nir=dupont_old,
            claire_lyon=cast.claire_lyon.id,
            claire_marseille=cast.claire_marseille.id,
            awa=cast.awa.id,
            awa_nia=cast.awa.matricule,
            karim=cast.karim.id,
            karim_nir=cast.karim.matricule,
            karim_old_nia=cast.karim_nia,
            rose=rose.id,
        )


def valid_bundle(body: dict[str, Any]) -> Bundle:
    """fhir.resources (R4B) accepts the Bundle and every resource inside it."""
    assert body["resourceType"] == "Bundle"
    return Bundle.model_validate(body)


def outcome_of(response: Any, status: int) -> dict[str, Any]:
    """The OperationOutcome of an error answer, checked for status, media type and structure."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    OperationOutcome.model_validate(body)
    return body


def diagnostics(body: dict[str, Any]) -> str:
    return " | ".join(issue.get("diagnostics", "") for issue in body["issue"])


def expressions(body: dict[str, Any]) -> list[str]:
    return [e for issue in body["issue"] for e in issue.get("expression", [])]
