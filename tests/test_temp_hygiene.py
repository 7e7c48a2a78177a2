"""A test session leaves nothing in the system temp folder but pytest's own `pytest-of-*`
(which pytest prunes to the last three runs), although it ends with `os._exit`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_a_session_with_the_airflow_tests_leaves_no_temp_folder(tmp_path: Path) -> None:
    temp = tmp_path / "system-temp"
    temp.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_ids.py", "tests/dags/test_nightly_dag.py", "-k", "valid_ids_pass"],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(temp)}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    left = sorted(p.name for p in temp.iterdir() if not p.name.startswith("pytest-of-"))
    assert left == [], f"left in the temp folder: {left}"
