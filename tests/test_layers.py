"""The import layers are a contract: import-linter keeps it, and breaks on a wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["root_packages"])


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_package_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    layers = [name.strip() for layer in contract["layers"] for name in layer.split("|")]
    assert sorted(layers) == sorted(_packages())
    assert layers[-1] == "core" and layers[:2] == ["dags", "hpt"]


def test_the_layers_hold_and_a_wrong_import_breaks_them(tmp_path: Path) -> None:
    assert _lint(ROOT).returncode == 0, _lint(ROOT).stdout[-2000:]

    for package in _packages():
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # A reader that reaches up into the warehouse: ingest must import no later stage.
    wrong = tmp_path / "ingest" / "detect.py"
    wrong.write_text(wrong.read_text(encoding="utf-8") + "\nimport warehouse.db  # noqa\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "ingest is not allowed to import warehouse" in broken.stdout
    assert "ingest.detect -> warehouse.db" in broken.stdout
