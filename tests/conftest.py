"""Shared fixtures: the reference samples beside the project, and a fresh warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import postgres_server
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
    monkeypatch.delenv("HPT_CATALOG", raising=False)  # the catalog file alone


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


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real PostgreSQL server for the session; the URL of its database `hpt`."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def catalog_url(postgres: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A shared catalog of its own (a new database on the session's server), set as
    `HPT_CATALOG` for the test."""
    global _catalogs
    _catalogs += 1
    url = postgres.rsplit("/", 1)[0] + f"/catalog_{os.getpid()}_{_catalogs}"
    monkeypatch.setenv("HPT_CATALOG", url)
    return url


_catalogs = 0
