"""``carnet population generate --out DIR``: register, rights with families, card holders.

The files go through the real importers and the rights query: every line is valid, children are
attached to a living adult of the register, twins get distinct ranks, and a seed gives the same
files byte for byte.
"""

from __future__ import annotations

import collections
import csv
import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.identity.importer import import_register
from carnet.rights.importer import import_rights

from ..conftest import TokenFactory


def _generate(out: Path, size: int, seed: int) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "carnet", "population", "generate", "--size", str(size),
         "--seed", str(seed), "--out", str(out), "--no-progress"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_population_files_import_and_families_hold_together(
    tmp_path: Path, db: Database, app_client: TestClient, auth_headers: TokenFactory
) -> None:
    out = tmp_path / "population"
    counts = _generate(out, 6_000, seed=5)
    assert counts["register"] == 6_000
    register = {row["nir"]: row for row in _rows(out / "register.csv")}
    rights = _rows(out / "rights.csv")
    holders = _rows(out / "card_holders.csv")
    assert counts["rights"] == len(rights)
    assert counts["card_holders"] == len(holders) > 0

    # Families: about a fifth of the beneficiaries are children attached to a living adult.
    children = [r for r in rights if r["quality"] == "06"]
    assert 0.1 < len(children) / len(rights) < 0.35
    for child in children:
        parent = register[child["insured_nir"]]
        assert not parent["death_date"]
        assert 18 <= int(child["birth_date"][:4]) - int(parent["birth_date"][:4]) <= 45
    same_day = collections.defaultdict(list)
    for child in children:
        same_day[(child["insured_nir"], child["birth_date"])].append(child["rank"])
    assert all(len(set(ranks)) == len(ranks) for ranks in same_day.values())
    assert any(len(ranks) >= 2 for ranks in same_day.values()), "no twins attached together"
    situations = " ".join(r["situations"] for r in rights)
    for code in ("ALD/", "C2S"):
        assert code in situations
    assert all(h["email"].endswith("@example.org") for h in holders)

    # Everything loads through the real importers without a single invalid line.
    assert import_register(db, out / "register.csv").committed
    report = import_rights(db, out / "rights.csv")
    assert report.committed, report
    assert report.invalid == 0

    child = children[0]
    response = app_client.post(
        "/api/v1/rights/query",
        json={"nir": child["nir"], "birth_date": child["birth_date"],
              "rank": int(child["rank"]), "reference_date": "2025-12-31"},
        headers=auth_headers("rights.read"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["covered"] is True
    assert body["insured"]["matricule"] == child["insured_nir"]
    assert body["quality"]["code"] == "06"


def test_a_seed_gives_the_same_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _generate(first, 1_500, seed=9)
    _generate(second, 1_500, seed=9)
    for name in ("register.csv", "rights.csv", "card_holders.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
