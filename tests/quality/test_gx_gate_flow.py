"""The gate end to end on a real DuckDB: truncation guard + `hpt accept`, quarantine,
`hpt quality`; previous data stays current throughout."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.synthetic.tall import tall_file
from hpt.cli import app
from hpt.pipeline.steps import ingest_file
from tests.quality.batches import drop_prices, negate_prices, rewrite_csv
from warehouse.db import Warehouse, reader, writer

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
HPT = str(Path(sys.executable).parent / "hpt")


def published(wh: Warehouse) -> dict[str, tuple[str, int]]:
    """facility -> (current file, charge rows) as readers see it."""
    con = reader(wh)
    try:
        rows = con.execute(
            "SELECT c.facility_id, c.file_id, (SELECT count(*) FROM standard_charges s "
            "WHERE s.facility_id = c.facility_id) FROM current_files c"
        ).fetchall()
    finally:
        con.close()
    return {f: (file_id, n) for f, file_id, n in rows}


def cli(wh: Warehouse, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", str(wh.db_path)])
    return result.exit_code, result.output


def test_truncated_file_is_held_until_accepted(tmp_path: Path, wh: Warehouse) -> None:
    full, half = tmp_path / "full.csv", tmp_path / "half.csv"
    full_rows = tall_file(full, n_items=200, seed=3)
    half_rows = tall_file(half, n_items=90, seed=3)  # same hospital, a cut-off file
    assert half_rows <= full_rows // 2
    first = ingest_file(full, wh)
    assert first.outcome == "loaded"
    second = ingest_file(half, wh)
    assert second.outcome == "held"
    assert second.message.startswith("held as suspicious: ") and "\n" not in second.message
    assert f"hpt accept {second.file_id}" in second.message
    assert published(wh) == {first.facility_id: (first.file_id, full_rows)}

    code, out = cli(wh, "quality", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [h["file_id"] for h in listed["held"]] == [second.file_id]
    assert listed["quarantined"] == []

    code, out = cli(wh, "accept", str(first.file_id))
    assert code == 1 and "not held" in out
    code, out = cli(wh, "accept", str(second.file_id))
    assert code == 0, out
    assert published(wh) == {first.facility_id: (second.file_id, half_rows)}
    with writer(wh) as con:
        statuses = dict(con.execute("SELECT file_id, status FROM files").fetchall())
    assert statuses == {first.file_id: "loaded", second.file_id: "loaded"}
    assert json.loads(cli(wh, "quality", "--json")[1])["held"] == []


def test_bad_batches_are_quarantined_previous_stays(tmp_path: Path, wh: Warehouse) -> None:
    good = tmp_path / "good.csv"
    rows = tall_file(good, n_items=150, seed=4)
    first = ingest_file(good, wh)
    assert first.outcome == "loaded"
    newer = tmp_path / "newer.csv"
    tall_file(newer, n_items=160, seed=4)
    negative = rewrite_csv(newer, tmp_path / "negative.csv", negate_prices)
    no_prices = rewrite_csv(newer, tmp_path / "no-prices.csv", drop_prices)

    results = [ingest_file(p, wh) for p in (negative, no_prices)]
    assert [r.outcome for r in results] == ["quarantined", "quarantined"]
    assert "gross_charge" in results[0].message and "has_price" in results[1].message
    assert all("\n" not in r.message for r in results)
    assert published(wh) == {first.facility_id: (first.file_id, rows)}

    with writer(wh) as con:
        files = {r[0] for r in con.execute("SELECT file_id FROM files").fetchall()}
        quarantined = dict(con.execute("SELECT file_id, reason FROM quarantine").fetchall())
        log = con.execute(
            "SELECT outcome FROM ingest_log WHERE file_id = ? ORDER BY attempted_at",
            [results[0].file_id],
        ).fetchall()
    assert files == {first.file_id}
    assert set(quarantined) == {r.file_id for r in results}
    assert log == [("quarantined",)]

    code, out = cli(wh, "quality", "--json")
    listed = json.loads(out)
    assert {q["file_id"] for q in listed["quarantined"]} == set(quarantined)
    failing = {
        (f["file_id"], f["column"]) for f in listed["failing"] if f["severity"] == "blocking"
    }
    assert (results[0].file_id, "gross_charge") in failing
    assert (results[1].file_id, "has_price") in failing
    code, out = cli(wh, "quality")
    assert code == 0 and "quarantined files" in out and "failing expectations" in out
    code, out = cli(wh, "accept", str(results[0].file_id))
    assert code == 1 and "no file" in out


def test_every_result_is_stored(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "a.csv"
    tall_file(path, n_items=60, seed=5)
    result = ingest_file(path, wh)
    con = reader(wh)  # stored in the catalog and published with it
    try:
        rows = con.execute(
            'SELECT suite, expectation, "column", severity, success, observed_value, '
            "unexpected_count FROM quality_results WHERE file_id = ?",
            [result.file_id],
        ).fetchall()
    finally:
        con.close()
    suites = {r[0] for r in rows}
    assert suites == {"standard_charges"}
    assert len(rows) > 20 and all(r[4] for r in rows)
    count = next(r for r in rows if r[1] == "expect_table_row_count_to_equal")
    assert json.loads(count[5]) == result.rows
    assert (wh.root / "hpt-quality" / "site" / "index.html").exists()

    # `hpt quality docs` serves them and prints the URL.
    server = subprocess.Popen(
        [HPT, "quality", "docs", "--port", "0", "--db", str(wh.db_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/index.html")
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "Data Docs" in page.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)

    code, out = cli(wh, "quality", "check")
    assert code == 0 and out.startswith("passed: 7 expectations"), out


def test_gate_off_loads_unchecked(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    path = rewrite_csv(tall_file_path(tmp_path), tmp_path / "neg.csv", negate_prices)
    assert ingest_file(path, wh).outcome == "loaded"


def tall_file_path(tmp_path: Path) -> Path:
    path = tmp_path / "plain.csv"
    tall_file(path, n_items=40, seed=6)
    return path


def test_data_docs_are_rendered_once_per_publish(tmp_path: Path, wh: Warehouse) -> None:
    """A validation stores its result; the page is rendered at the next publish (or by
    `hpt quality docs`), once, with the index listing every stored result."""
    from hpt.pipeline.steps import docs_dir
    from quality.gate import build_docs

    docs = docs_dir(wh)
    site = docs / "site"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    tall_file(first, n_items=40, seed=21)
    tall_file(second, n_items=40, seed=22)

    held = ingest_file(first, wh, publish_after=False)
    assert held.outcome == "loaded"
    assert not list(site.rglob("validations/**/*.html"))  # stored, not rendered yet
    assert build_docs(docs) == 1
    pages = list(site.rglob("validations/**/*.html"))
    assert len(pages) == 1 and str(held.file_id) in (site / "index.html").read_text()
    assert build_docs(docs) == 0  # nothing new

    published_now = ingest_file(second, wh)  # publishes, then renders its page
    assert published_now.outcome == "loaded"
    assert len(list(site.rglob("validations/**/*.html"))) == 2
    # The index (its cost grows with every stored result) waits: rendered an instant ago.
    assert str(published_now.file_id) not in (site / "index.html").read_text()
    assert build_docs(docs) == 0  # `hpt quality docs`: no new page, the index caught up
    index = (site / "index.html").read_text()
    assert str(held.file_id) in index and str(published_now.file_id) in index


def test_a_publish_renders_the_index_when_it_is_due(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpt.pipeline.steps import docs_dir

    monkeypatch.setenv("HPT_QUALITY_DOCS_INDEX_MINUTES", "0")
    path = tmp_path / "a.csv"
    tall_file(path, n_items=40, seed=23)
    first = ingest_file(path, wh)
    tall_file(path, n_items=41, seed=24)
    second = ingest_file(path, wh)
    index = (docs_dir(wh) / "site" / "index.html").read_text()
    assert str(first.file_id) in index and str(second.file_id) in index
