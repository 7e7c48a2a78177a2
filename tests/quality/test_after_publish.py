"""`hpt run` checks the warehouse it publishes, and the snapshot carries the check (the DAG's
publish task does the same, tests/dags/test_nightly_dag.py); a check that fails is
reported, the data is published all the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.demo_server import running
from devtools.synthetic.universe import generate
from hpt.cli import app
from hpt.pipeline.runner import run_sources
from hpt.pipeline.steps import publish_checked
from ingest.registry import load_sources, write_sources
from quality.gate import GateResult
from warehouse.db import Warehouse, reader, writer

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


def test_unchanged_warehouse_is_not_validated_again(sources: Path, wh: Warehouse) -> None:
    checked: list[GateResult] = []
    run_sources(load_sources(sources), wh, on_checked=checked.append)
    run_sources(load_sources(sources), wh, on_checked=checked.append)  # nothing changed
    first, second = checked
    assert (first.outcome, second.outcome) == ("passed", "unchanged")
    assert second.run_id == first.run_id and "not validated again" in second.message
    assert second.outcomes == []
    with reader(wh) as con:
        runs = con.sql("SELECT count(DISTINCT run_id) FROM quality_results WHERE file_id IS NULL")
        assert runs.fetchall()[0][0] == 1

    # Another day (freshness), another setting or another recorded state: validated again.
    tomorrow = publish_checked(wh, dt.date.today() + dt.timedelta(days=1)).check
    assert tomorrow.outcome == "passed" and tomorrow.run_id != first.run_id
    with writer(wh) as con:
        con.execute("INSERT INTO facilities (facility_id, registered) VALUES ('ny-404', true)")
    unaccounted = publish_checked(wh).check
    assert unaccounted.outcome == "failed" and "accounted_for" in unaccounted.message
    again = publish_checked(wh).check  # a failing check is never skipped
    assert again.outcome == "failed" and again.run_id != unaccounted.run_id


def test_check_that_cannot_run_is_a_failed_result_not_a_crash(
    sources: Path, wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sources(load_sources(sources), wh)
    blocker = tmp_path / "docs-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HPT_QUALITY_DOCS", str(blocker))
    monkeypatch.setenv("HPT_QUALITY_MAX_AGE_DAYS", "30")  # not the state last checked
    result = publish_checked(wh).check
    assert result.outcome == "failed"
    assert result.message.startswith("warehouse check could not run: ")
    assert "\n" not in result.message
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    assert publish_checked(wh).check.outcome == "skipped"


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
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "warehouse check unchanged: same warehouse as at the check of" in second.output

    # Nothing changed upstream, so every facility is fine: only the check can fail the run.
    blocker = tmp_path / "docs-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HPT_QUALITY_DOCS", str(blocker))
    monkeypatch.setenv("HPT_QUALITY_MAX_AGE_DAYS", "30")
    third = runner.invoke(app, args)
    assert "unchanged" in third.output
    assert "warehouse check failed: warehouse check could not run" in third.output
    assert third.exit_code == 1
    with reader(wh) as con:  # the published data is still there
        assert con.sql("SELECT count(*) FROM standard_charges").fetchall()[0][0] > 0
