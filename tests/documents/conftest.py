"""Fixtures of the documents tests: a family with open health spaces, professionals of several
professions and their software, and helpers to upload and read documents through the API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.directory.service import directory_service
from carnet.identity.models import Person
from carnet.rights.importer import HEADER as RIGHTS_HEADER
from carnet.rights.importer import import_rights

from ..conftest import HolderHeaders, TokenFactory
from ..factories import add_person
from . import samples

SPACES = "/api/v1/spaces"
CABINET = "90000001900019"
RPPS = {"author": "10100000412", "doctor": "10100000438", "podiatrist": "10100000420"}
PROFESSION = {"author": "10", "doctor": "10", "podiatrist": "80"}
Headers = dict[str, str]


def years_ago(years: int) -> str:
    t = datetime.now(UTC).date()
    day = t.replace(year=t.year - years, day=28 if (t.month, t.day) == (2, 29) else t.day)
    return day.isoformat()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    # A blob directory of this test: what a test finds there was written by it.
    return settings.model_copy(update={"blob_dir": tmp_path / "blobs"})


@dataclass
class Family:
    jeanne: Person  # the holder
    lucas: Person  # her son (10), attached to her in the rights
    paul: Person  # a stranger with his own space


@dataclass
class World:
    client: TestClient
    family: Family
    pros: dict[str, int]
    holder: HolderHeaders
    client_for: TokenFactory
    blob_dir: Path

    def me(self, person: Person | None = None) -> Headers:
        return self.holder((person or self.family.jeanne).id)

    def pro(self, role: str) -> Headers:
        return self.client_for("dmp", professional_id=self.pros[role])

    def open_space(self, person: Person, as_person: Person | None = None) -> None:
        response = self.client.post(
            f"{SPACES}/{person.id}/opening", headers=self.me(as_person or person)
        )
        assert response.status_code == 200, response.text

    def consent(self, person: Person, role: str) -> None:
        response = self.client.post(
            f"{SPACES}/{person.id}/consents", json={"rpps": RPPS[role]}, headers=self.me(person)
        )
        assert response.status_code == 201, response.text

    def consent_as(self, person: Person, parent: Person, role: str) -> None:
        """Consent given for a child's space by a parent."""
        response = self.client.post(
            f"{SPACES}/{person.id}/consents", json={"rpps": RPPS[role]}, headers=self.me(parent)
        )
        assert response.status_code == 201, response.text

    def upload(
        self,
        headers: Headers,
        data: bytes | None = None,
        content_type: str = "application/pdf",
        *,
        space: str = "me",
        filename: str = "compte-rendu.pdf",
        **fields: Any,
    ) -> Any:
        form = {"class_code": "10", "type_code": "11502-2", "title": "Bilan sanguin"}
        form.update(
            {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
        )
        return self.client.post(
            f"{SPACES}/{space}/documents",
            files={"file": (filename, data if data is not None else samples.pdf(), content_type)},
            data=form,
            headers=headers,
        )

    def uploaded(self, headers: Headers, *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = self.upload(headers, *args, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def listing(self, headers: Headers, space: str = "me", **params: Any) -> list[str]:
        response = self.client.get(f"{SPACES}/{space}/documents", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def family(db: Database) -> Family:
    with db.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date=years_ago(10)
        )
        paul = add_person(
            s, birth_name="BERNARD", first_names="PAUL", sex="M", birth_date="1990-11-30"
        )
    lines = [
        ",".join(RIGHTS_HEADER),
        f"{jeanne.matricule},{jeanne.birth_date},1,,00,01,351,0001,2020-01-01,,",
        f"{lucas.matricule},{lucas.birth_date},1,{jeanne.matricule},06,01,351,0001,2020-01-01,,",
        f"{paul.matricule},{paul.birth_date},1,,00,01,351,0001,2020-01-01,,",
    ]
    report = import_rights(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    return Family(jeanne, lucas, paul)


@pytest.fixture
def professionals(db: Database) -> dict[str, int]:
    lines = [",".join(DIRECTORY_HEADER)]
    for role, rpps in RPPS.items():
        lines.append(
            ",".join(
                [
                    rpps,
                    "8" + rpps,
                    role.capitalize(),
                    "Alex",
                    PROFESSION[role],
                    "",
                    CABINET,
                    "Cabinet",
                    "Rennes",
                    "1",
                ]
            )
        )
    report = import_directory(db, io.StringIO("\n".join(lines) + "\n", newline=""))
    assert report.committed, report.errors
    with db.session() as s:
        return {
            role: directory_service.professional_id_for_binding(s, r) for role, r in RPPS.items()
        }


@pytest.fixture
def world(
    app_client: TestClient,
    family: Family,
    professionals: dict[str, int],
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
    settings: Settings,
) -> Iterator[World]:
    assert settings.blob_dir is not None
    w = World(app_client, family, professionals, holder_headers, auth_headers, settings.blob_dir)
    w.open_space(family.jeanne)
    w.open_space(family.paul)
    return w


def act_date() -> str:
    return date(2026, 11, 2).isoformat()
