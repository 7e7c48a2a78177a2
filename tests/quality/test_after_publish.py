"""`hpt run` checks the warehouse it has just published (the DAG's publish task does the same,
tests/dags/test_nightly_dag.py); a check that fails is reported, the data stays published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpt.cli import app
from hpt.demo_server import running
from hpt.run import run_sources
from hpt.synthetic.universe import generate
from ingest.registry import load_sources, write_sources
from quality.gate import GateResult, after_publish
from warehouse.db import Warehouse, reader

# Erie (a small tall file) and a hospital whose site has no cms-hpt.txt (a recorded failure).
SEEDS = (501, 405)


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HPT_HTTP_BACKOFF", "0.01")
    folder = tmp_path / "demo"
    folder.mkdir()
    with running(folder) as server:
        generate(folder, server.base_url, only=SEEDS)
        yield folder / "sources.csv"


def warehouse_results(wh: Warehouse, run_id: str) -> dict[str, bool]:
    with reader(wh) as con:
        rows = con.sql(
            "SELECT suite || '.' || coalesce(\"column\", expectation), success "
            "FROM quality_results WHERE run_id = ? AND file_id IS NULL",
            params=[run_id],
        ).fetchall()
    return dict(rows)


def test_run_checks_the_published_warehouse(sources: Path, wh: Warehouse) -> None:
    checked: list[GateResult] = []
    lines = run_sources(load_sources(sources), wh, on_checked=checked.append)
    assert {line.outcome for line in lines} == {"loaded", "failed"}
    [result] = checked
    assert result.outcome == "passed", result.message
    stored = warehouse_results(wh, result.run_id)
    assert len(stored) == len(result.outcomes) == 7
    # The failed hospital is accounted for by its recorded failure, Erie by its file.
    assert stored["warehouse_registry.accounted_for"] is True


def test_check_that_cannot_run_is_a_failed_result_not_a_crash(
    sources: Path, wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sources(load_sources(sources), wh)
    blocker = tmp_path / "docs-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HPT_QUALITY_DOCS", str(blocker))
    result = after_publish(wh)
    assert result.outcome == "failed"
    assert result.message.startswith("warehouse check could not run: ")
    assert "\n" not in result.message
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    assert after_publish(wh).outcome == "skipped"


def test_cli_run_reports_the_check_and_exits_1_when_it_fails(
    sources: Path, wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    erie = tmp_path / "erie.csv"
    write_sources(erie, [e for e in load_sources(sources) if e.facility_id == "390501"])
    runner = CliRunner()
    args = ["run", "--sources", str(erie), "--db", str(wh.db_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "warehouse check passed: 7 expectations passed" in first.output

    # Nothing changed upstream: every facility is fine, only the check can fail the run.
    blocker = tmp_path / "docs-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HPT_QUALITY_DOCS", str(blocker))
    second = runner.invoke(app, args)
    assert "unchanged" in second.output
    assert "warehouse check failed: warehouse check could not run" in second.output
    assert second.exit_code == 1
    with reader(wh) as con:  # the published data is still there
        assert con.sql("SELECT count(*) FROM standard_charges").fetchall()[0][0] > 0
