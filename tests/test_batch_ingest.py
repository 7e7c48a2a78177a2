"""`hpt ingest` of many files in one process: each file judged alone, one publish at the end,
the Great Expectations context and the catalog connection kept for the whole batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.synthetic.json_file import json_file
from devtools.synthetic.tall import tall_file
from devtools.synthetic.wide import wide_file
from hpt.cli import app
from hpt.pipeline.batch import Listed, expand, ingest_many
from quality import gx_session
from warehouse import db as catalog
from warehouse.db import Warehouse, reader, writer

runner = CliRunner()


def cli(wh: Warehouse, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", *args, "--db", str(wh.db_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def three_layouts(folder: Path) -> dict[str, int]:
    """A tall, a wide and a JSON file of three hospitals: their paths and row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    tall, wide, js = folder / "tall.csv", folder / "wide.csv", folder / "items.json"
    tall_file(tall, n_items=12, seed=31)
    wide_file(wide, n_items=12, seed=32)
    json_file(js, n_items=12, seed=33)
    return {str(p): 0 for p in (tall, wide, js)}


def snapshots(wh: Warehouse) -> list[Path]:
    return sorted(wh.published_dir.glob("hpt-*.duckdb"))


def test_good_files_load_a_broken_one_fails_alone_and_one_publish(
    tmp_path: Path, wh: Warehouse
) -> None:
    good = list(three_layouts(tmp_path / "in"))
    broken = tmp_path / "in" / "captcha.csv"
    broken.write_bytes(b"<!DOCTYPE html><html><body>Please verify you are human</body></html>")
    code, out = cli(wh, *good[:2], str(broken), good[2], "--json")
    assert code == 1
    results = json.loads(out)
    assert [Path(r["source"]).name for r in results] == [
        "tall.csv", "wide.csv", "captcha.csv", "items.json"
    ]  # fmt: skip
    assert [r["outcome"] for r in results] == ["loaded", "loaded", "failed", "loaded"]
    assert results[2]["message"] == "not a CMS machine-readable file (found: an HTML page)"
    assert len({r["facility_id"] for r in results if r["outcome"] == "loaded"}) == 3
    # One publish for the whole batch, and it holds every good file.
    assert len(snapshots(wh)) == 1
    con = reader(wh)
    per_facility = dict(
        con.sql("SELECT facility_id, count(*) FROM standard_charges GROUP BY 1").fetchall()
    )
    assert per_facility == {
        r["facility_id"]: r["rows"] for r in results if r["outcome"] == "loaded"
    }
    # Every attempt is in the published snapshot, the failed one too.
    attempts = con.sql("SELECT outcome, count(*) FROM ingest_log GROUP BY 1").fetchall()
    assert dict(attempts) == {"loaded": 3, "failed": 1}


def test_table_one_line_per_file(tmp_path: Path, wh: Warehouse) -> None:
    good = list(three_layouts(tmp_path / "in"))
    empty = tmp_path / "in" / "empty.csv"
    empty.write_bytes(b"")
    code, out = cli(wh, *good, str(empty))
    assert code == 1 and "Traceback" not in out
    for name in ("tall.csv", "wide.csv", "items.json", "empty.csv", "empty file"):
        assert name in out
    assert "4 files (3 loaded, 1 failed)" in out and "published once" in out
    # Run again: the same files are recognised, nothing is loaded twice; exit 0.
    code, out = cli(wh, *good)
    assert code == 0 and "3 files (3 unchanged)" in out
    assert len(snapshots(wh)) == 2


def test_a_folder_and_a_glob(tmp_path: Path, wh: Warehouse) -> None:
    folder = tmp_path / "mrfs"
    three_layouts(folder / "nested")
    tall_file(folder / "top.CSV", n_items=5, seed=34)
    (folder / "README.txt").write_text("not an MRF")
    (folder / ".hidden").mkdir()
    tall_file(folder / ".hidden" / "skipped.csv", n_items=5, seed=35)
    listed = expand([str(folder)])
    assert [Path(item.source).name for item in listed] == [
        "items.json", "tall.csv", "wide.csv", "top.CSV"
    ]  # fmt: skip
    pattern = str(folder / "nested" / "*.csv")
    assert [Path(i.source).name for i in expand([pattern])] == ["tall.csv", "wide.csv"]
    # A file named twice (itself and through its folder) is ingested once.
    assert len(expand([str(folder / "top.CSV"), str(folder)])) == 4
    code, out = cli(wh, str(folder), pattern, "--json")
    assert code == 0
    results = json.loads(out)
    assert [r["outcome"] for r in results] == ["loaded"] * 4


def test_a_pattern_or_folder_without_files_fails_with_one_line(
    tmp_path: Path, wh: Warehouse
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    listed = expand([str(tmp_path / "nothing-*.csv"), str(tmp_path / "empty")])
    assert [item.problem for item in listed] == [
        "no file matches this pattern",
        "no file named .csv, .json, .gz, .zip in this folder",
    ]
    code, out = cli(wh, str(tmp_path / "nothing-*.csv"), str(tmp_path / "empty"), "--json")
    assert code == 1 and [r["outcome"] for r in json.loads(out)] == ["failed", "failed"]
    assert not wh.published_path.exists()  # nothing was attempted: nothing published


def test_facility_id_names_one_file(tmp_path: Path, wh: Warehouse) -> None:
    files = list(three_layouts(tmp_path / "in"))
    result = runner.invoke(app, ["ingest", *files, "--facility-id", "x", "--db", str(wh.db_path)])
    assert result.exit_code == 2 and "--facility-id" in result.output


def test_gx_context_and_catalog_are_kept_for_the_batch(tmp_path: Path, wh: Warehouse) -> None:
    """Timing-free evidence of what a batch pays once: the same GX gate (context, data
    source, suite) judges every file, and every file's catalog work joins the connection
    the batch holds open."""
    gx_session.drop()
    gates: list[object] = []
    held: list[bool] = []

    def done(result: object) -> None:
        gates.append(gx_session._current)
        held.append(wh.db_path in {path for _, path in catalog._held})  # the batch holds it

    listed = [Listed(p) for p in three_layouts(tmp_path / "in")]
    run = ingest_many(listed, wh, on_done=done)
    assert [r.outcome for r in run.results] == ["loaded"] * 3
    assert gates[0] is not None and all(g is gates[0] for g in gates)
    assert held == [True, True, True]
    gate = gates[0]
    assert isinstance(gate, gx_session.ChargesGate)
    # Nothing of past files is kept in it: its one query asset is idle between files.
    assert [s.name for s in gate.ctx.data_sources.all().values()] == [gx_session.SOURCE]
    assert [(a.name, a.query) for a in gate.source.assets] == [("hpt-idle", "SELECT 1")]
    assert gate.ctx.validation_definitions.all() == []
    # Each file's validation is stored under its own name, for the Data Docs.
    results = sorted(p.name for p in (wh.root / "hpt-quality" / "results").rglob("*.json"))
    assert results == sorted(f"{gx_session.SOURCE}-{r.file_id}.json" for r in run.results)
    assert run.snapshot is not None and snapshots(wh) == [run.snapshot]


@pytest.mark.parametrize("publish", [True, False])
def test_no_publish_leaves_readers_unchanged(tmp_path: Path, wh: Warehouse, publish: bool) -> None:
    files = list(three_layouts(tmp_path / "in"))
    code, _ = cli(wh, *files, *([] if publish else ["--no-publish"]))
    assert code == 0
    assert wh.published_path.exists() is publish
    with writer(wh) as con:  # loaded either way
        assert con.execute("SELECT count(*) FROM current_files").fetchall() == [(3,)]


def test_urls_in_a_batch(tmp_path: Path, wh: Warehouse) -> None:
    """URLs are downloaded to the landing area and loaded like files; a missing one fails
    alone, with the server's answer, and is recorded as an attempt."""
    from devtools.demo_server import running

    site = tmp_path / "demo" / "sites" / "h"
    site.mkdir(parents=True)
    rows = tall_file(site / "prices.csv", n_items=8, seed=36)
    with running(tmp_path / "demo") as server:
        good, gone = f"{server.base_url}/h/prices.csv", f"{server.base_url}/h/gone.csv"
        code, out = cli(wh, good, gone, "--json")
    assert code == 1
    loaded, failed = json.loads(out)
    assert (loaded["source"], loaded["outcome"], loaded["rows"]) == (good, "loaded", rows)
    assert (failed["source"], failed["outcome"]) == (gone, "failed")
    assert "404" in failed["message"] and "\n" not in failed["message"]
    con = reader(wh)
    logged = con.sql("SELECT source, outcome FROM ingest_log ORDER BY source").fetchall()
    assert logged == [(gone, "failed"), (good, "loaded")]
