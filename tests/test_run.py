"""`hpt run` over a small demo universe served by the real demo server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.demo_server import DemoServer
from hpt.cli import app
from hpt.pipeline.acquire import AcquireResult, acquire
from hpt.pipeline.runner import run_sources
from hpt.pipeline.steps import ingest_acquired
from ingest.registry import SourceEntry, load_sources, write_sources
from tests.servers import served_universe
from warehouse.db import Warehouse, reader, writer

# Erie (small tall), Lone Star (UTF-16 cms-hpt.txt, redirect, Content-Disposition), two
# Valley hospitals sharing a cms-hpt.txt (tall, wide), Palm Harbor (JSON behind two 503s),
# and the broken: captcha, no cms-hpt.txt, file:// URL, dead URL, non-conformant file.
SEEDS = (501, 201, 101, 103, 403, 404, 405, 204, 503, 504)
GOOD = {"390501", "450201", "050101", "050103", "100403"}


@pytest.fixture
def universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoServer, Path]]:
    yield from served_universe(tmp_path, monkeypatch, SEEDS)  # acquisition under test here


def outcomes(lines: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {line.facility_id: line.outcome for line in lines}


def test_run_loads_the_good_reports_the_broken_and_reruns_for_free(
    universe: tuple[DemoServer, Path], wh: Warehouse
) -> None:
    _, folder = universe
    entries = load_sources(folder / "sources.csv")
    first = run_sources(entries, wh)
    got = outcomes(first)
    assert {k for k, v in got.items() if v == "loaded"} == GOOD, [
        (line.facility_id, line.message) for line in first if line.outcome != "loaded"
    ]
    failed = {line.facility_id: (line.stage, line.message) for line in first}
    assert failed["100404"][0] == "download" and "HTML page" in failed["100404"][1]
    assert failed["100405"][0] == "discover" and "404" in failed["100405"][1]
    assert failed["450204"][0] == "discover" and "refused URL scheme" in failed["450204"][1]
    assert failed["390503"][0] == "download" and "HTTP 404" in failed["390503"][1]
    assert failed["390504"][0] == "ingest" and got["390504"] == "failed"

    second = run_sources(entries, wh)
    assert sum(line.downloaded_bytes for line in second if line.facility_id in GOOD) == 0
    assert sum(line.downloaded_bytes for line in second) < 1000  # the captcha page
    assert {k for k, v in outcomes(second).items() if v == "unchanged"} == GOOD
    assert {k: v for k, v in outcomes(second).items() if k not in GOOD} == {
        k: v for k, v in got.items() if k not in GOOD
    }
    with reader(wh) as con:
        ids = {
            r[0] for r in con.sql("SELECT DISTINCT facility_id FROM standard_charges").fetchall()
        }
        status = dict(con.sql("SELECT facility_id, status FROM source_status").fetchall())
        modified = con.sql(
            "SELECT count(*) FROM download_attempts WHERE outcome = 'not_modified'"
        ).fetchall()[0][0]
        lone_star = con.sql(
            "SELECT registry_name, hospital_name, state FROM facilities "
            "WHERE facility_id = '450201'"
        ).fetchall()
        findings = {r[0] for r in con.sql("SELECT rule FROM source_findings").fetchall()}
    assert ids == GOOD  # loaded under the registry's ids, not ids derived from the files
    assert {k for k, v in status.items() if v == "ok"} == GOOD
    assert status["100404"] == "failing" and status["390504"] == "failing"
    assert modified == len(GOOD) + 1  # + the non-conformant file, not read again either
    assert lone_star == [("Lone Star Health System", "Lone Star Health System", "TX")]
    assert {"hpt.encoding", "hpt.shared_mrf_url", "hpt.url_scheme"} <= findings


def test_previous_data_is_kept_when_the_file_turns_into_a_captcha(
    universe: tuple[DemoServer, Path], wh: Warehouse
) -> None:
    _, folder = universe
    erie = [e for e in load_sources(folder / "sources.csv") if e.facility_id == "390501"]
    assert outcomes(run_sources(erie, wh)) == {"390501": "loaded"}
    manifest = json.loads((folder / "universe.json").read_text())
    path = next(
        p.relative_to(folder / "sites") for p in (folder / "sites/erielakeshore").rglob("*.csv")
    )
    manifest["routes"][f"/{path}"] = {"html": True}
    (folder / "universe.json").write_text(json.dumps(manifest))

    [line] = run_sources(erie, wh)
    assert (line.outcome, line.stage) == ("failed", "download")
    with reader(wh) as con:
        rows = con.sql("SELECT count(*) FROM standard_charges WHERE facility_id = '390501'")
        assert rows.fetchall()[0][0] > 0
        status = con.sql("SELECT status FROM source_status").fetchall()
    assert status == [("failing (previous data kept)",)]


def test_steps_pass_only_a_json_dict_between_them(
    universe: tuple[DemoServer, Path], wh: Warehouse
) -> None:
    _, folder = universe
    [erie] = [e for e in load_sources(folder / "sources.csv") if e.facility_id == "390501"]
    carried = json.loads(json.dumps(acquire(erie, wh).as_dict()))  # what XCom would carry
    assert AcquireResult.from_dict(carried).outcome == "downloaded"
    result = ingest_acquired(carried, wh)
    assert (result.outcome, result.facility_id) == ("loaded", "390501")
    again = acquire(erie, wh)
    assert again.outcome == "not_modified" and again.previous is not None
    assert ingest_acquired(again.as_dict(), wh).outcome == "unchanged"
    with writer(wh) as con:
        logged = con.execute("SELECT outcome FROM ingest_log ORDER BY attempted_at").fetchall()
    assert [r[0] for r in logged] == ["loaded", "unchanged"]


def test_cli_run_prints_a_table_and_exits_1_if_any_failed(
    universe: tuple[DemoServer, Path], tmp_path: Path, wh: Warehouse
) -> None:
    _, folder = universe
    entries = load_sources(folder / "sources.csv")
    good = tmp_path / "good.csv"
    write_sources(good, [e for e in entries if e.facility_id in ("390501", "050101")])
    runner = CliRunner()
    ok = runner.invoke(app, ["run", "--sources", str(good), "--db", str(wh.db_path)])
    assert ok.exit_code == 0, ok.output
    assert "Erie Lakeshore Hospital" in ok.output and "loaded" in ok.output

    mixed = tmp_path / "mixed.csv"
    captcha = next(e for e in entries if e.facility_id == "100404")
    write_sources(mixed, [captcha, SourceEntry("Nowhere", website="http://127.0.0.1:9/")])
    bad = runner.invoke(app, ["run", "--sources", str(mixed), "--db", str(wh.db_path)])
    assert bad.exit_code == 1
    assert "HTML page" in bad.output and "0 ok, 2 failed" in bad.output
    assert bad.exception is None or isinstance(bad.exception, SystemExit)


def test_cli_run_with_a_broken_registry_says_so_in_one_line(tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    registry.write_text("name,state\nMercy,CA\n")
    result = CliRunner().invoke(app, ["run", "--sources", str(registry)])
    assert result.exit_code == 2
    assert "give a `website` or an `mrf_url`" in result.output


def test_one_facility_crashing_does_not_stop_the_others(
    universe: tuple[DemoServer, Path], wh: Warehouse
) -> None:
    _, folder = universe
    [erie] = [e for e in load_sources(folder / "sources.csv") if e.facility_id == "390501"]
    broken = SourceEntry("Broken Link Hospital", website="http://[not-a-host/")
    lines = run_sources([broken, erie], wh)
    assert outcomes(lines) == {"broken-link-hospital": "failed", "390501": "loaded"}
    assert lines[0].message.startswith("internal error: ValueError")
    with reader(wh) as con:
        logged = con.sql("SELECT facility_id, outcome FROM ingest_log ORDER BY attempted_at")
        assert logged.fetchall() == [("broken-link-hospital", "failed"), ("390501", "loaded")]
