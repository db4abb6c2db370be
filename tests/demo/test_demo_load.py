"""The population through the real importer and the INSi-like search, and ``carnet demo load``."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from carnet.db import Database, utcnow
from carnet.demo.loader import EXPECTED, scan_queries, write_population
from carnet.demo.population import CSV_COLUMNS
from carnet.directory.schemas import ProfessionalRef
from carnet.directory.service import directory_service
from carnet.identity.importer import import_register
from carnet.identity.oids import OID_BY_KIND
from carnet.operators.service import operators_service

from ..conftest import TokenFactory


def test_searches_give_the_expected_insi_codes_after_import(
    tmp_path: Path, db: Database, app_client: TestClient, auth_headers: TokenFactory
) -> None:
    population = tmp_path / "population.csv"
    write_population(population, 20_000, seed=3)
    found = scan_queries(population, dict.fromkeys(EXPECTED, 4), seed=3)
    assert all(len(queries) == 4 for queries in found.values()), {
        category: len(queries) for category, queries in found.items()
    }
    # Import only the lines the queries were built from (a homonym query brings its whole group):
    # the expected codes still hold, and the test stays fast.
    lines = {row["nir"]: row for queries in found.values() for q in queries for row in q.rows}
    subset = tmp_path / "subset.csv"
    with subset.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines.values())
    report = import_register(db, subset)
    assert report.committed
    assert report.inserted == len(lines)

    headers = auth_headers("ins.read")
    for category, queries in found.items():
        for query in queries:
            response = app_client.post("/api/v1/ins/search", json=query.body, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["code"] == EXPECTED[category], (category, query.body, body)
            if category == "homonyms":
                assert len(query.rows) >= 2
                assert len({row["birth_place"] for row in query.rows}) == len(query.rows)
            if category in ("nia", "nia_history"):
                identity = body["identity"]
                want_kind = "NIA" if category == "nia" else "NIR"
                assert identity["ins"]["kind"] == want_kind
                assert identity["ins"]["oid"] == OID_BY_KIND[want_kind]
                assert identity["traits"]["birth_place"].startswith("99")
            if category == "nia_history":
                (former,) = body["identity"]["history"]
                assert former["kind"] == "NIA"
                assert former["matricule"] == query.rows[0]["previous_nirs"]
            if category == "partial_date":
                assert body["identity"]["traits"]["birth_date"].endswith("-00")
            if category == "accents":
                assert not (query.body["birth_name"] + query.body["first_name"]).isascii()
                assert body["identity"]["traits"]["birth_name"].isascii()


def _demo_load(database_url: str, data_dir: str, size: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CARNET_DATABASE_URL": database_url, "CARNET_DATA_DIR": data_dir}
    return subprocess.run(
        [sys.executable, "-m", "carnet", "demo", "load", "--size", str(size), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_demo_load_is_idempotent_and_its_client_and_examples_work(
    db: Database, database_url: str, app_client: TestClient, tmp_path: Path
) -> None:
    # The test session's data directory holds the COG cache: sharing it keeps start-up fast.
    data_dir = os.environ["CARNET_DATA_DIR"]
    state = Path(data_dir) / "demo.json"
    state.unlink(missing_ok=True)
    try:
        # 600 persons: every kind of example the demo prints appears for the default seed.
        first = _demo_load(database_url, data_dir, 600)
        assert first.returncode == 0, first.stderr
        assert "Imported 600 lines" in first.stderr
        saved = json.loads(state.read_text())
        assert state.stat().st_mode & 0o077 == 0  # the secret is readable by its owner only
        assert saved["client_id"] in first.stdout
        assert saved["client_secret"] in first.stdout
        assert "Centre hospitalier de démonstration" in first.stdout
        assert "/oauth2/token" in first.stdout
        assert "/api/v1/ins/search" in first.stdout

        second = _demo_load(database_url, data_dir, 600)
        assert second.returncode == 0, second.stderr
        assert "nothing to import" in second.stderr
        assert "reused" in second.stdout
        assert json.loads(state.read_text())["client_id"] == saved["client_id"]

        # The printed credentials get a token bound to the demo structure with the demo scopes.
        basic = base64.b64encode(f"{saved['client_id']}:{saved['client_secret']}".encode())
        token = app_client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + basic.decode()},
        )
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "audit.read identities.read identities.write ins.read"
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # Every example printed answers what the output says.
        examples = [
            line.split(None, 1) for line in second.stdout.splitlines() if line.startswith("  0")
        ]
        bodies = [line.strip() for line in second.stdout.splitlines() if line.startswith(" " * 6)]
        assert len(examples) == len(bodies) >= 6
        for (code, _label), body in zip(examples, bodies, strict=True):
            response = app_client.post("/api/v1/ins/search", json=json.loads(body), headers=headers)
            assert response.json()["code"] == code, (body, response.text)

        # The demo holder's health space: the doctor's software reads the demo reports (FHIR).
        spaces = re.search(r"Health spaces: .*?\(person ids ([0-9, ]+)\)", first.stdout)
        assert spaces, first.stdout
        holder_id = spaces.group(1).split(",")[0].strip()
        card = json.loads((Path(data_dir) / "demo-card.json").read_text())
        basic = base64.b64encode(f"{card['client_id']}:{card['client_secret']}".encode())
        doctor = app_client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + basic.decode()},
        )
        assert "dmp" in doctor.json()["scope"].split()
        bundle = app_client.get(
            f"/fhir/DocumentReference?patient=Patient/{holder_id}",
            headers={"Authorization": f"Bearer {doctor.json()['access_token']}"},
        )
        assert bundle.status_code == 200, bundle.text
        titles = sorted(e["resource"]["description"] for e in bundle.json()["entry"])
        assert titles == ["Bilan sanguin", "Volet de synthese medicale"]

        _check_portal_accounts(db, app_client, first.stdout, second.stdout)
        # An operator disabled in the back office stays disabled: no link, and no failure.
        with db.session() as s:
            (demo_operator,) = [
                o for o in operators_service.list(s) if o.email == "agent.demo@carnet-demo.fr"
            ]
            operators_service.disable(s, demo_operator.id, utcnow())
        third = _demo_load(database_url, data_dir, 600)
        assert third.returncode == 0, third.stderr
        assert "disabled in the back office" in third.stdout
        assert "/gestion/enrolement/" not in third.stdout
    finally:
        state.unlink(missing_ok=True)
        for path in Path(data_dir).glob("demo-population-*.csv"):
            path.unlink()


def _enrolment_links(stdout: str) -> dict[str, str]:
    """The web portals' printed one-time links: doctor, pharmacist, operator → path."""
    section = stdout.split("Web portals (", 1)[1]
    links = re.findall(r"https?://[^/\s]+(/(?:pro|gestion)/enrolement/[A-Za-z0-9_-]+)", section)
    assert len(links) == 3, section
    return dict(zip(("doctor", "pharmacist", "operator"), links, strict=True))


def _check_portal_accounts(db: Database, app_client: TestClient, first: str, second: str) -> None:
    """Every demo account of the web portals is printed with a working enrolment link; a second
    run prints new links and creates no second account."""
    assert "/carte/activer" in first
    assert "children attached" in first
    assert "carnet mail list" in first
    assert "Pharmacist Julien Lefèvre-Dubois" in first
    old, new = _enrolment_links(first), _enrolment_links(second)
    assert all(old[who] != new[who] for who in new)  # fresh links each run
    expected = {
        "doctor": "Claire Morel",
        "pharmacist": "Julien Lefèvre-Dubois",
        "operator": "Agent de démonstration",
    }
    for who, path in new.items():
        page = app_client.get(path)
        assert page.status_code == 200, (who, page.text[:300])
        assert expected[who] in page.text, who
    # The operator's earlier link stopped working when the new one was made.
    assert app_client.get(old["operator"]).status_code == 404
    with db.session() as s:
        operators = [o for o in operators_service.list(s) if o.email == "agent.demo@carnet-demo.fr"]
        assert [(o.role, o.active) for o in operators] == [("admin", True)]
        for rpps, profession in (("10100000017", "10"), ("10100000025", "21")):
            professional = directory_service.professional_for_sign_in(s, ProfessionalRef(rpps=rpps))
            assert professional.profession_code == profession
