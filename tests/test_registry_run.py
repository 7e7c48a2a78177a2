"""A registry built by `hpt sources import`, run in slices (`hpt run --state/--limit`, the
DAG's `registry_batches`) against the demo universe served by the real demo server; a
stale-URL fallback behind discovery; the registry's hospitals without a file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.demo_server import DemoServer, running
from devtools.synthetic.universe import generate
from hpt.cli import app
from hpt.pipeline import tasks
from ingest.registry import load_sources
from warehouse.db import Warehouse, reader, writer

runner = CliRunner()
# Erie and Keystone (PA), Lone Star (TX), Everglades (FL: its site has no cms-hpt.txt).
SEEDS = (501, 502, 201, 405)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoServer, Path]]:
    """The demo registry imported (`--format csv`), then a list giving Everglades the URL
    of a file its site does serve, as an older list would."""
    monkeypatch.setenv("HPT_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")  # acquisition and slicing are under test
    monkeypatch.setenv("HPT_VALIDATE", "0")
    folder = tmp_path / "demo"
    folder.mkdir()
    with running(folder) as server:
        generate(folder, server.base_url, only=SEEDS)
        erie = next((folder / "sites" / "erielakeshore" / "files").iterdir())
        shutil.copy(erie, folder / "sites" / "everglades" / "files" / "prices-2023.csv")
        path = tmp_path / "registry.csv"
        first = runner.invoke(app, ["sources", "import", str(folder / "sources.csv"),
                                    "--format", "csv", "--sources", str(path)])  # fmt: skip
        assert first.exit_code == 0 and "4 added" in first.output, first.output
        older = tmp_path / "older.csv"
        older.write_text(
            "facility_id,name,website,fallback_url\n"
            f"100405,Everglades Medical Center,{server.base_url}/everglades/,"
            f"{server.base_url}/everglades/files/prices-2023.csv\n"
        )
        second = runner.invoke(app, ["sources", "import", str(older), "--format", "csv",
                                     "--sources", str(path)])  # fmt: skip
        assert second.exit_code == 0 and "1 updated" in second.output, second.output
        yield server, path


def _registered(wh: Warehouse) -> set[str]:
    with writer(wh) as con:
        rows = con.execute("SELECT facility_id FROM facilities WHERE registered").fetchall()
    return {r[0] for r in rows}


def test_import_keeps_ids_and_places_the_demo_hospitals(
    registry: tuple[DemoServer, Path],
) -> None:
    entries = {e.key: e for e in load_sources(registry[1])}
    assert set(entries) == {"390501", "390502", "450201", "100405"}
    assert entries["390501"].ccn == "390501" and entries["390501"].geo_precision == "zip"
    assert entries["390501"].website.endswith("/erielakeshore/")  # a path-based site kept


def test_run_a_state_and_a_limit(registry: tuple[DemoServer, Path], wh: Warehouse) -> None:
    server, path = registry
    args = ["run", "--sources", str(path), "--db", str(wh.db_path)]
    fl = runner.invoke(app, [*args, "--state", "fl"], env={"COLUMNS": "200"})
    # Everglades: cms-hpt.txt missing, the registry's fallback URL loaded instead.
    assert fl.exit_code == 0, fl.output
    assert "hpt run: 1 facilities" in fl.output and "100405" in fl.output
    assert "loaded" in fl.output and server.hit("/everglades/files/prices-2023.csv")
    con = reader(wh)
    try:
        rules = con.execute("SELECT rule FROM source_findings WHERE facility_id = '100405'")
        assert {r[0] for r in rules.fetchall()} == {"hpt.unreachable", "hpt.fallback_url"}
    finally:
        con.close()
    assert _registered(wh) == {"100405"}
    pa = runner.invoke(app, [*args, "--state", "PA", "--state", "TX", "--limit", "2"],
                       env={"COLUMNS": "200"})  # fmt: skip
    assert pa.exit_code == 0, pa.output
    assert "hpt run: 2 facilities" in pa.output
    assert _registered(wh) == {"390501", "390502"}  # file order: the two PA entries


def test_the_dag_maps_over_the_slice(
    registry: tuple[DemoServer, Path], wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_SOURCES", str(registry[1]))
    monkeypatch.setenv("HPT_SOURCES_STATE", "TX, FL")
    batches = tasks.registry_batches()
    assert [[e["facility_id"] for e in b] for b in batches] == [["100405"], ["450201"]]  # by state
    monkeypatch.setenv("HPT_SOURCES_STATE", "")
    monkeypatch.setenv("HPT_SOURCES_LIMIT", "3")
    assert sum(len(b) for b in tasks.registry_batches()) == 3
    assert len(_registered(wh)) == 3


def test_a_failed_fallback_says_both_why(registry: tuple[DemoServer, Path], wh: Warehouse) -> None:
    server, path = registry
    (server.folder / "sites" / "everglades" / "files" / "prices-2023.csv").unlink()
    result = runner.invoke(app, ["run", "--sources", str(path), "--db", str(wh.db_path),
                                 "--state", "FL"], env={"COLUMNS": "250"})  # fmt: skip
    assert result.exit_code == 1
    assert "cms-hpt.txt answered HTTP 404; fallback_url: HTTP 404" in result.output
