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
