"""`hpt prune` killed midway converges when run again; `hpt run` prunes around its publish."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.warehouse_files import open_snapshot
from devtools.demo_server import running
from devtools.synthetic.universe import generate
from hpt.cli import app
from hpt.pipeline.steps import prune
from ingest.landing import landing_key
from ingest.registry import SourceEntry, write_sources
from tests.quality.batches import rewrite_csv
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader, writer
from warehouse.publish import publish

HPT = str(Path(sys.executable).parent / "hpt")
VERSIONS = [f"v{n:02d}" for n in range(12)]
COPIES = 300  # parts per expired folder: deleting them takes long enough to be caught


def build(wh: Warehouse) -> list[str]:
    """One facility with 12 successive files, published; the 10 oldest hold many parts."""
    ids = []
    for n, version in enumerate(VERSIONS, start=1):
        rows = [rate(f"{9920 + i}", "Aetna", "PPO", 10.0 + i) for i in range(n)]
        ids.append(load_facility(wh, "tx-k", rows, version=version))
    for file_id in ids[:-2]:
        folder = wh.charges_path("tx-k", file_id)
        for copy in range(1, COPIES):
            shutil.copyfile(folder / "part-00000.parquet", folder / f"part-{copy:05d}.parquet")
    publish(wh)
    return ids


def state(wh: Warehouse) -> dict[str, Any]:
    """Everything a prune changes, as readers and the catalog see it."""
    with writer(wh) as con:
        statuses = sorted(con.execute("SELECT file_id, status FROM files").fetchall())
        pending = con.execute("SELECT count(*) FROM retention_pending").fetchall()[0][0]
    con = reader(wh)
    try:
        history = con.sql("SELECT file_id, count(*) FROM charge_history GROUP BY 1 ORDER BY 1")
        current = con.sql("SELECT * FROM standard_charges ORDER BY row_no")
        seen = (history.fetchall(), current.fetchall())
    finally:
        con.close()
    folders = sorted(p.name for p in (wh.charges_dir / "tx-k").iterdir())
    snapshots = len(list(wh.published_dir.glob("hpt-*.duckdb")))
    return {"files": statuses, "pending": pending, "seen": seen, "folders": folders,
            "snapshots": snapshots}  # fmt: skip


def readable(wh: Warehouse) -> None:
    """Every kept snapshot reads whole: no view lists a folder that is gone."""
    for snapshot in wh.published_dir.glob("hpt-*.duckdb"):
        con = open_snapshot(snapshot)
        try:
            con.sql("SELECT count(*) FROM charge_history").fetchall()
        finally:
            con.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["publishing", "deleting"])
def test_prune_killed_midway_converges_on_a_rerun(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "1")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "1")
    reference = Warehouse.at(tmp_path / "ref" / "hpt.duckdb")
    build(reference)
    prune(reference)
    expected = state(reference)
    assert expected["folders"] == [f"tx-k-{v}" for v in VERSIONS[-2:]]
    assert expected["pending"] == 0

    ids = build(wh)
    expired = [wh.charges_path("tx-k", f) for f in ids[:-2]]
    published_before = set(wh.published_dir.iterdir())
    signals: dict[str, Callable[[], bool]] = {
        # The expiry is committed before the new snapshot is written.
        "publishing": lambda: set(wh.published_dir.iterdir()) != published_before,
        "deleting": lambda: not all(folder.exists() for folder in expired),
    }
    proc = subprocess.Popen([HPT, "prune", "--db", str(wh.db_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    reached = False
    while not reached and proc.poll() is None and time.monotonic() < deadline:
        reached = signals[phase]()
        time.sleep(0.002)
    proc.kill()
    code = proc.wait()
    assert reached and code == -signal.SIGKILL, f"not killed while {phase} (exit {code})"
    if phase == "deleting":
        assert any(folder.exists() for folder in expired), "all deleted before the kill"

    readable(wh)  # consistent as it was left
    prune(wh)
    assert state(wh) == expected
    readable(wh)


def renamed(row: dict[str, str]) -> None:
    row["description"] += " (2026)"


def test_hpt_run_prunes_after_publishing(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hospital moves its file to a new URL with new content: the run loads it, and
    retention expires the previous file and drops the old URL's landing copy."""
    for name, value in {"HPT_QUALITY_GATE": "off", "HPT_VALIDATE": "0",
                        "HPT_RETENTION_HISTORY_FILES": "0", "HPT_RETENTION_SNAPSHOTS": "1",
                        "HPT_RETENTION_GRACE_HOURS": "0"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    folder = tmp_path / "demo"
    folder.mkdir()
    landing, db = tmp_path / "landing", wh.db_path
    runner = CliRunner()
    with running(folder) as server:
        generate(folder, server.base_url, only=(501,))  # Erie Lakeshore, a small tall file
        old = next((folder / "sites" / "erielakeshore").rglob("*.csv"))
        new = rewrite_csv(old, old.with_name("erie-prices-2026.csv"), renamed)
        urls = [f"{server.base_url}/{p.relative_to(folder / 'sites')}" for p in (old, new)]
        registry = tmp_path / "sources.csv"
        outputs = []
        for url in urls:
            erie = SourceEntry("Erie Lakeshore Hospital", "390501", state="PA", mrf_url=url)
            write_sources(registry, [erie])
            result = runner.invoke(app, ["run", "--sources", str(registry), "--db", str(db)])
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    assert "retention: expire 0 file(s)" in outputs[0]
    assert "retention: expire 1 file(s)" in outputs[1]
    with writer(wh) as con:
        files = dict(con.execute("SELECT source, status FROM files").fetchall())
    assert files == {urls[0]: "expired", urls[1]: "loaded"}
    assert len(list(wh.charges_dir.glob("390501/*"))) == 1
    assert not (landing / landing_key(urls[0])).exists()  # superseded download: gone
    assert any((landing / landing_key(urls[1])).iterdir())  # the current one stays (conditional)
    con = reader(wh)
    try:
        history = con.sql("SELECT DISTINCT description LIKE '% (2026)' FROM charge_history")
        assert history.fetchall() == [(True,)]
    finally:
        con.close()


def test_cli_dry_run_lists_what_prune_then_deletes(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "0")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "1")
    old, new = (load_facility(wh, "tx-d", [rate("99213", "Aetna", "PPO", dollar)], version=v)
                for v, dollar in (("a", 10.0), ("b", 12.0)))  # fmt: skip
    publish(wh)
    runner = CliRunner()
    dry = runner.invoke(app, ["prune", "--dry-run", "--db", str(wh.db_path)])
    assert dry.exit_code == 0, dry.output
    assert "files that would expire" in dry.output and old in dry.output
    assert "retention: would expire 1 file(s), would delete 2 item(s)" in dry.output
    assert wh.charges_path("tx-d", old).is_dir()

    done = runner.invoke(app, ["prune", "--json", "--db", str(wh.db_path)])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert [e["file_id"] for e in report["expired"]] == [old]
    assert {g["kind"] for g in report["deleted"]} == {"file data", "snapshot"}
    assert report["bytes"] == sum(g["bytes"] for g in report["deleted"]) > 0
    assert not wh.charges_path("tx-d", old).exists() and wh.charges_path("tx-d", new).is_dir()

    missing = runner.invoke(app, ["prune", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 1 and "no warehouse at" in missing.output
