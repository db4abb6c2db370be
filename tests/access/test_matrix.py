"""The access matrix: the shipped rules, `carnet access matrix load|show`, and its effect on what a
professional's document listing shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from carnet.access.policy import DMP_TYPE_CODES, MatrixRule, readable_type_codes
from carnet.access.service import shipped_matrix

from .conftest import SPACES, World
from .test_authorize import upload


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "access", "matrix", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )


def test_the_shipped_matrix_holds_the_known_rules() -> None:
    rules = list(shipped_matrix())
    assert readable_type_codes(rules, "10", None) is None  # doctors: everything
    podiatrist = readable_type_codes(rules, "80", None)
    assert podiatrist is not None
    assert "57057-5" not in podiatrist
    assert "11502-2" in podiatrist
    dentist = readable_type_codes(rules, "40", "SM26")
    assert dentist is not None
    assert "EXPPAT_3" not in dentist
    assert readable_type_codes(rules, "93", None) == frozenset()


def test_the_most_specific_rule_wins() -> None:
    rules = [
        MatrixRule("60", "", "*", True),
        MatrixRule("60", "", "11502-2", False),
        MatrixRule("60", "S1", "11502-2", True),
        MatrixRule("60", "S2", "*", False),
        MatrixRule("60", "S2", "18748-4", True),
        MatrixRule("60", "", "LOCAL-1", True),
    ]
    plain = readable_type_codes(rules, "60", None)
    assert plain == (frozenset(DMP_TYPE_CODES) | {"LOCAL-1"}) - {"11502-2"}
    assert readable_type_codes(rules, "60", "S1") is None
    s2 = readable_type_codes(rules, "60", "S2")
    # A rule naming the type (even for any specialty) beats the specialty's "*".
    assert s2 == frozenset({"18748-4", "LOCAL-1"})


def test_load_replaces_the_matrix_and_listings_follow(
    world: World, database_url: str, tmp_path: Path
) -> None:
    p = world.people
    c = world.client
    world.open_space(p.jeanne)
    world.consent(p.jeanne, "doctor")
    world.consent(p.jeanne, "nurse")
    for type_code in ("11502-2", "18748-4"):
        assert upload(world, p.jeanne.id, world.pro("doctor"), type_code).status_code == 201

    def nurse_sees() -> set[str]:
        response = c.get(f"{SPACES}/{p.jeanne.id}/documents", headers=world.pro("nurse"))
        assert response.status_code == 200, response.text
        return {d["type_code"] for d in response.json()["items"]}

    assert nurse_sees() == {"11502-2", "18748-4"}  # the shipped matrix while the table is empty
    custom = tmp_path / "matrix.csv"
    custom.write_text(
        "profession_code,specialty_code,type_code,allowed,note\n"
        "10,,*,1,doctors\n"
        "60,,*,1,nurses\n"
        "60,,11502-2,0,no lab reports (local rule)\n",
        encoding="utf-8",
    )
    result = cli(database_url, "load", str(custom))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["rules"] == 3
    assert nurse_sees() == {"18748-4"}
    shown = cli(database_url, "show")
    assert "60,,11502-2,0" in shown.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("profession_code,type_code\n10,*\n", encoding="utf-8")
    result = cli(database_url, "load", str(bad))
    assert result.returncode == 1
    assert "columns" in result.stderr
    assert nurse_sees() == {"18748-4"}  # unchanged

    result = cli(database_url, "load")  # back to the shipped matrix
    assert result.returncode == 0, result.stderr
    assert nurse_sees() == {"11502-2", "18748-4"}
