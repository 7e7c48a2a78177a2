"""Shared fixtures: the reference samples beside the project, and a fresh warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.db import Warehouse

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture
def samples() -> Path:
    """`../shared/samples` (the CMS examples and real hospital files), or skip."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not beside this clone")
    return SAMPLES


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own scratch and landing folders (never the user's data/)."""
    monkeypatch.setenv("HPT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("HPT_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("HPT_DB", str(tmp_path / "wh" / "hpt.duckdb"))
    monkeypatch.delenv("HPT_STORAGE", raising=False)  # the warehouse folder itself


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    """An empty warehouse in the test's temp folder."""
    return Warehouse.at(tmp_path / "wh" / "hpt.duckdb")


@pytest.fixture(scope="module")
def known_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The comparison layer's known-answer warehouse (tests/warehouse/charges.py), published;
    built once per test module, read-only for its tests."""
    from tests.warehouse.charges import known_warehouse

    built = Warehouse.at(tmp_path_factory.mktemp("known") / "hpt.duckdb")
    known_warehouse(built)
    return built


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After the summary is printed, end without teardown noise (see hpt.quiet_exit)."""
    if not hasattr(config, "workerinput"):
        from hpt.quiet_exit import exit_quietly

        exit_quietly(_exit_status)
