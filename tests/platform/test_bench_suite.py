"""The benchmark suite's command line stays loadable (the suite itself is not a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_suite_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout
    assert "--backends" in result.stdout


def test_inprocess_bench_prints_the_cost_of_each_layer(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "inprocess.py"),
            "--backends",
            "sqlite",
            "--size",
            "3000",
            "--cards",
            "40",
            "--requests",
            "60",
            "--rounds",
            "2",
            "--space-docs",
            "80",
            "--work-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(("| lookup", "| context", "| documents"))
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["lookup", "context", "documents"]
    for row in rows:
        whole, alone = (float(cell.split(" ms")[0]) for cell in row.split("|")[3:5])
        assert 0 < alone < whole  # the app does the use case and more
