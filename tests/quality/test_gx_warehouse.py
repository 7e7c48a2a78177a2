"""The warehouse suites after publish, and the warehouse after a load killed mid-way."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import check_warehouse, ingest_file
from quality.gate import GateResult
from warehouse.db import Warehouse, reader, writer
from warehouse.publish import publish

TODAY = dt.date(2026, 11, 22)
ROOT = Path(__file__).resolve().parents[2]


def failing(result: GateResult) -> set[tuple[str, str | None, str]]:
    return {(o.suite, o.column, o.severity) for o in result.outcomes if not o.success}


@pytest.fixture
def two_facilities(tmp_path: Path, wh: Warehouse) -> list[str]:
    ids = []
    for seed in (11, 12):
        path = tmp_path / f"h{seed}.csv"
        tall_file(path, n_items=80, seed=seed)
        result = ingest_file(path, wh)
        assert result.outcome == "loaded", result.message
        ids.append(str(result.file_id))
    return ids


def test_healthy_warehouse_passes(wh: Warehouse, two_facilities: list[str]) -> None:
    result = check_warehouse(wh, today=TODAY)
    assert failing(result) == set()
    assert result.outcome == "passed"
    assert json.loads(json.dumps(result.as_dict()))["evaluated"] == len(result.outcomes) == 7
    con = reader(wh)  # the results are published with the warehouse
    try:
        stored = con.execute(
            "SELECT count(*) FROM quality_results WHERE run_id = ? AND file_id IS NULL",
            [result.run_id],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert stored == 7


def test_unaccounted_facility_and_stale_file(wh: Warehouse, two_facilities: list[str]) -> None:
    with writer(wh) as con:
        con.execute("INSERT INTO facilities (facility_id, registered) VALUES ('ny-404', true)")
        con.execute(
            "INSERT INTO facilities (facility_id, registered) VALUES ('ny-500', true);"
            "INSERT INTO ingest_log (attempted_at, facility_id, outcome, message) "
            "VALUES (current_timestamp, 'ny-500', 'failed', 'HTTP 500')"
        )
    publish(wh)
    result = check_warehouse(wh, today=TODAY + dt.timedelta(days=800))
    assert failing(result) == {
        ("warehouse_registry", "accounted_for", "error"),
        ("warehouse_current_files", "age_days", "warning"),
    }
    registry = next(o for o in result.outcomes if o.column == "accounted_for")
    assert registry.unexpected_count == 1  # ny-404; ny-500 has a recorded failure
    assert result.outcome == "failed" and "accounted_for" in result.message
    summary = json.loads(json.dumps(result.as_dict()))
    assert {f["column"] for f in summary["failed"]} == {"accounted_for", "age_days"}


def test_orphan_codes_in_a_stale_snapshot(wh: Warehouse, two_facilities: list[str]) -> None:
    """A snapshot whose views still list a file that is no longer current is caught."""
    with writer(wh) as con:
        con.execute("UPDATE files SET status = 'held' WHERE file_id = ?", [two_facilities[0]])
        con.execute("CHECKPOINT")
        # Copied without refreshing the views, bypassing publish(): what the suite guards.
        shutil.copyfile(wh.db_path, wh.published_path.resolve())
    result = check_warehouse(wh, today=TODAY)
    assert ("warehouse_codes", "has_current_file", "error") in failing(result)
    assert result.outcome == "failed"
    assert check_warehouse(wh, today=TODAY).outcome == "passed"  # publish() rebuilt the views


def _ingest_in_subprocess(path: Path, wh: Warehouse) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from pathlib import Path; from hpt.pipeline.steps import ingest_file; "
        "from warehouse.db import Warehouse; "
        "ingest_file(Path(sys.argv[1]), Warehouse.at(sys.argv[2]))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(wh.db_path)],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(found: object, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if callable(found) and found():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["writing", "validating", "loading"])
def test_killed_load_never_leaves_two_current_files(
    tmp_path: Path, wh: Warehouse, phase: str
) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old_rows = tall_file(old, n_items=200, seed=21)
    tall_file(new, n_items=2500, seed=21)
    first = ingest_file(old, wh)
    assert first.outcome == "loaded"
    facility_dir = wh.charges_dir / str(first.facility_id)
    results_dir = wh.root / "hpt-quality" / "results" / "standard_charges"
    before = len(list(results_dir.rglob("*.json")))
    signals = {
        "writing": lambda: any(p.name.endswith(".part") for p in facility_dir.iterdir()),
        "validating": lambda: len([p for p in facility_dir.iterdir() if p.is_dir()]) > 1,
        "loading": lambda: len(list(results_dir.rglob("*.json"))) > before,
    }
    proc = _ingest_in_subprocess(new, wh)
    reached = _wait_for(signals[phase], proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached, f"the ingest ended before reaching {phase}"

    with writer(wh) as con:
        current = con.execute(
            "SELECT facility_id, file_id, row_count FROM current_files"
        ).fetchall()
    assert len(current) == 1  # one current file, either the old or the new one
    result = check_warehouse(wh, today=TODAY)
    assert result.failed("error") == []
    con = reader(wh)
    try:
        published = con.execute("SELECT count(*) FROM standard_charges").fetchall()[0][0]
    finally:
        con.close()
    assert published == current[0][2]
    assert current[0][1] != first.file_id or published == old_rows
    again = ingest_file(new, wh)  # the killed ingest can simply run again
    assert again.outcome in {"loaded", "unchanged"}, again.message
    assert check_warehouse(wh, today=TODAY).failed("error") == []
