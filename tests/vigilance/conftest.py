"""Fixtures of the identity-vigilance tests: structures, clients, register persons, identities."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.identity.importer import HEADER, import_register

from ..conftest import TokenFactory
from ..factories import make_nir


def import_persons(db: Database, persons: list[dict[str, str]]) -> list[str]:
    """Load register persons through the register import; returns their NIRs."""
    lines = [",".join(HEADER)]
    nirs = []
    for index, person in enumerate(persons, start=1):
        nir = person.get("nir") or make_nir(
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
