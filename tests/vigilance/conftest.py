"""Fixtures of the identity-vigilance tests: structures, clients, register persons, identities."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.identity.importer import import_register

from ..conftest import TokenFactory

HEADER = (
    "nir,kind,birth_name,first_names,sex,birth_date,birth_place,used_name,used_first_name,"
    "death_date,previous_nirs"
)


def nir_for(sex: str, birth_date: str, birth_place: str, order: int = 1) -> str:
    """A valid NIR consistent with the traits (synthetic people only)."""
    year, month, _day = birth_date.split("-")
    digits = ("1" if sex == "M" else "2") + year[2:] + month + birth_place + f"{order:03d}"
    return digits + f"{97 - int(digits) % 97:02d}"


def import_persons(db: Database, persons: list[dict[str, str]]) -> list[str]:
    """Load register persons through the register import; returns their NIRs."""
    lines = [HEADER]
    nirs = []
    for index, person in enumerate(persons, start=1):
        nir = person.get("nir") or nir_for(
            person["sex"], person["birth_date"], person["birth_place"], index
        )
        nirs.append(nir)
        lines.append(
            ",".join(
                [
                    nir,
                    "NIR",
                    person["birth_name"],
                    person["first_names"],
                    person["sex"],
                    person["birth_date"],
                    person["birth_place"],
                    "",
                    "",
                    "",
                    "",
                ]
            )
        )
    report = import_register(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    return nirs


JEAN = {
    "birth_name": "DUPONT",
    "first_names": "JEAN PIERRE",
    "sex": "M",
    "birth_date": "1980-03-12",
    "birth_place": "75056",
}


Api = Callable[..., Any]


@pytest.fixture
def operator(auth_headers: TokenFactory) -> dict[str, str]:
    """An operator client: identities.read + identities.write, bound to no structure."""
    return auth_headers("identities.read", "identities.write")


@pytest.fixture
def structure(app_client: TestClient, operator: dict[str, str]) -> int:
    response = app_client.post("/api/v1/structures", json={"name": "CH Test"}, headers=operator)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def staff(auth_headers: TokenFactory, structure: int) -> dict[str, str]:
    """A client of the structure (bound to it)."""
    return auth_headers("identities.read", "identities.write", structure_id=structure)


@pytest.fixture
def create(app_client: TestClient, staff: dict[str, str], structure: int) -> Api:
    """Create a local identity in ``structure``; returns the response body."""

    def make(**fields: Any) -> dict[str, Any]:
        body = {
            "birth_name": JEAN["birth_name"],
            "first_names": JEAN["first_names"],
            "sex": JEAN["sex"],
            "birth_date": JEAN["birth_date"],
            "birth_place": JEAN["birth_place"],
        }
        body.update(fields)
        response = app_client.post(
            f"/api/v1/structures/{structure}/identities", json=body, headers=staff
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return make
