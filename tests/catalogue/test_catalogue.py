"""The bad-input catalogue, each case over real HTTP (a local misbehaving server) and the
real CLI (`hpt` in a subprocess), against a warehouse holding a good file for the facility.

For every case: the exit code; no traceback; a failure is one line naming what (the
case's message) and where (the URL, or the facility's row in `hpt run`'s table); the
facility's current data is the previous file's or the new file's, every row of it; the
attempt is in `download_attempts`; nothing is written outside the case's folders.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from hpt.pipeline.steps import ingest_source
from ingest.registry import SourceEntry, write_sources
from tests.catalogue import FACILITY, Case, Kept
from tests.catalogue.cases import CASES
from tests.catalogue.doc import DOC, document
from tests.catalogue.inputs import baseline
from tests.catalogue.server import serving
from warehouse.db import Warehouse, reader

HPT = str(Path(sys.executable).parent / "hpt")
#: Small timeouts and one retry: the slow cases take seconds, not minutes.
SETTINGS = {
    "HPT_HTTP_TIMEOUT": "1",
    "HPT_HTTP_RETRIES": "1",
    "HPT_HTTP_BACKOFF": "0.01",
    "HPT_DOWNLOAD_MAX_SECONDS": "20",
    # The cases are about input and acquisition; the quality gate has its own tests.
    "HPT_QUALITY_GATE": "off",
    "COLUMNS": "400",  # a name is shown whole, not cut to the terminal
}
#: Cases run at once: most of a case is waiting (for a subprocess to start, a timeout).
WORKERS = 4


def current(wh: Warehouse) -> tuple[list[str], int]:
    """The facility's current file ids and its rows, as readers see them."""
    with reader(wh) as con:
        files = con.execute(
            "SELECT file_id FROM current_files WHERE facility_id = ?", [FACILITY]
        ).fetchall()
        rows = con.execute(
            "SELECT count(*) FROM standard_charges WHERE facility_id = ?", [FACILITY]
        ).fetchall()[0][0]
    return [f[0] for f in files], int(rows)


def attempts(wh: Warehouse) -> list[tuple[str | None, str | None]]:
    with duckdb.connect(str(wh.db_path), read_only=True) as con:
        return con.execute("SELECT facility_id, url FROM download_attempts").fetchall()


def command(case: Case, base: str, wh: Warehouse, folder: Path) -> list[str]:
    url = case.path if "://" in case.path else base + case.path
    if case.command == "ingest":
        return [HPT, "ingest", url, "--db", str(wh.db_path), "--facility-id", case.facility_id,
                *case.args]  # fmt: skip
    registry = folder / "sources.csv"
    if case.registry is not None:
        registry.write_text(case.registry)
    else:
        where = {"website": base} if case.site else {"mrf_url": url}
        write_sources(registry, [SourceEntry("Catalogue Hospital", case.facility_id, **where)])
    return [HPT, "run", "--sources", str(registry), "--db", str(wh.db_path)]


@dataclass
class Ran:
    """One case run: its folder, the warehouse before (file id, rows) and what `hpt` did."""

    case: Case
    root: Path
    wh: Warehouse
    file_id: str
    rows: int
    argv: list[str] = field(default_factory=list)
    done: subprocess.CompletedProcess[str] | None = None
    seconds: float = 0.0

    def env(self) -> dict[str, str]:
        paths = {"HPT_DB": self.wh.db_path, "HPT_LANDING": self.root / "landing",
                 "HPT_WORK_DIR": self.root / "work"}  # fmt: skip
        return {**SETTINGS, **self.case.env, **{k: str(v) for k, v in paths.items()}}


def _template(root: Path) -> tuple[Warehouse, str, int]:
    """A warehouse with the baseline file loaded for the facility (in process, once)."""
    data, rows = baseline()
    (root / "baseline.csv").write_bytes(data)
    wh = Warehouse.at(root / "wh" / "hpt.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**SETTINGS, "HPT_LANDING": str(root / "landing"),
                            "HPT_WORK_DIR": str(root / "work")}.items():  # fmt: skip
            patch.setenv(name, value)
        first = ingest_source(str(root / "baseline.csv"), wh, facility_id=FACILITY)
    assert first.outcome == "loaded" and first.file_id, first.message
    return wh, first.file_id, rows


def _prepare(case: Case, root: Path, template: Warehouse, file_id: str, rows: int) -> Ran:
    """The case's warehouse: a copy of the template's catalog and snapshots. Its charges
    stay in the template's folder (the catalog names them by absolute path), which no case
    writes to: the previous data is read from there."""
    shutil.copytree(template.root, root / "wh", symlinks=True)
    (root / "cwd").mkdir()
    return Ran(case, root, Warehouse.at(root / "wh" / template.db_path.name), file_id, rows)


def _run(ran: Ran) -> Ran:
    """Serve the case and run `hpt` on it in a subprocess."""
    started = time.monotonic()
    with serving(ran.case.routes) as server:
        ran.argv = command(ran.case, server.base, ran.wh, ran.root)
        ran.done = subprocess.run(
            ran.argv, cwd=ran.root / "cwd", capture_output=True, text=True, timeout=120,
            env={**os.environ, **ran.env()},
        )  # fmt: skip
    ran.seconds = time.monotonic() - started
    return ran


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Every selected case run, several at a time (most of a case's time is waiting)."""
    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_case"
    }
    cases = [c for c in CASES if c.name in selected]
    template, file_id, rows = _template(tmp_path_factory.mktemp("catalogue-template"))
    prepared = [
        _prepare(c, tmp_path_factory.mktemp(f"catalogue-{c.name}"), template, file_id, rows)
        for c in cases
    ]
    charges = _listing(template.charges_dir)
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    with ThreadPoolExecutor(WORKERS) as pool:
        runs = {r.case.name: r for r in pool.map(_run, prepared)}
    stray = set(base.iterdir()) - before
    assert not stray, f"written beside the cases' folders: {sorted(stray)}"
    assert _listing(template.charges_dir) == charges, "the previous data must not change"
    return runs


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, ran: dict[str, Ran]) -> None:
    run = ran[case.name]
    assert run.done is not None
    out, err = run.done.stdout, run.done.stderr
    shown = f"{run.argv}\nexit {run.done.returncode}\nstdout:\n{out}\nstderr:\n{err}"

    assert run.done.returncode == case.expected_exit, shown
    assert "Traceback" not in out + err, shown
    if case.fails and case.command == "ingest":
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), shown  # one line …
        where = run.argv[2] if case.facility_id == FACILITY else "--facility-id"
        assert where in lines[0], shown  # … naming where …
        assert re.search(case.message, lines[0]), shown  # … and what
    elif case.fails and case.registry is None:
        [line] = [line for line in out.splitlines() if FACILITY in line]
        assert "failed" in line and re.search(case.message, line), shown
    elif case.fails:
        assert re.search(case.message, out + err) and len(err.strip().splitlines()) == 1, shown
    else:
        assert case.message in out, shown

    files, rows = current(run.wh)
    if case.kept == Kept.PREVIOUS:
        assert (files, rows) == ([run.file_id], run.rows), "the previous data must stay current"
    else:
        assert files != [run.file_id] and len(files) == 1 and rows == case.rows, shown
    recorded = attempts(run.wh)
    if case.recorded:
        assert recorded, "the download attempt must be recorded"
        assert {facility for facility, _ in recorded} == {FACILITY}
    else:
        assert recorded == []
    assert {p.name for p in run.wh.charges_dir.iterdir()} <= {FACILITY, "_empty.parquet"}
    made = {p.name for p in run.root.iterdir()}
    assert made <= {"baseline.csv", "sources.csv", "cwd", "wh", "landing", "work"}, made
    assert not list((run.root / "cwd").iterdir()), "nothing is written in the working folder"


def test_docs_list_every_case() -> None:
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)
    assert DOC.read_text(encoding="utf-8") == document(), (
        "docs/robustness.md: run `python -m tests.catalogue.doc`"
    )
