"""`hpt ingest` killed (SIGKILL) at twelve points while it loads a facility's second file:
readers keep the first file, whole; a re-run loads the second exactly once.

A reference run times the load and names the new file. Each kill then runs on the warehouse
restored as it was before the load (views name their Parquet files by absolute path, so it
is restored in place, not copied elsewhere): five right after an event (the first charge
part written, the file's share of the marts being derived, the parts' folder renamed into
place, the publish folding the file into the marts, the new snapshot started) and seven at
seeded random times spread over the load (from half the time its first part took to the
end of the run).
"""

from __future__ import annotations

import json
import random
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

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.cli import app
from hpt.pipeline.steps import ingest_file
from tests.faults.state import catalog, history, published, snapshot_target
from warehouse.db import Warehouse

pytestmark = [pytest.mark.slow, pytest.mark.faults]

HPT = str(Path(sys.executable).parent / "hpt")
SEED = 21
TIMED_KILLS = 7


def restore(wh: Warehouse, saved: Path) -> Warehouse:
    """The whole warehouse (catalog, charges, snapshots and their symlink) as saved."""
    shutil.rmtree(wh.root)
    shutil.copytree(saved, wh.root, symlinks=True)
    return wh


def run_until(
    command: list[str], kill_when: Callable[[float], bool], log: Path
) -> tuple[int, float]:
    """Run `command`; SIGKILL it as soon as `kill_when(seconds since start)`. Returns the
    exit code (-9 when killed) and when it ended."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while proc.poll() is None:
            if kill_when(time.monotonic() - started):
                proc.kill()
                break
            time.sleep(0.002)
        code = proc.wait()
    return code, time.monotonic() - started


@pytest.mark.timeout(600)
def test_ingest_killed_at_twelve_points_keeps_the_published_file_and_converges(
    tmp_path: Path,
) -> None:
    hospital = make_hospital(SEED, state="NY")
    files = tmp_path / "files"
    old_file, new_file, other_file = files / "v1.csv", files / "v2.csv", files / "other.csv"
    tall_file(old_file, n_items=60, seed=SEED, hospital=hospital)
    new_rows = tall_file(new_file, target_bytes=12_000_000, seed=SEED + 1, hospital=hospital)
    tall_file(other_file, n_items=40, seed=SEED + 2)

    wh = Warehouse.at(tmp_path / "wh" / "hpt.duckdb")
    first = ingest_file(old_file, wh)
    other = ingest_file(other_file, wh)
    assert first.outcome == other.outcome == "loaded"
    facility, old_id = str(first.facility_id), str(first.file_id)
    before = published(wh, facility)
    other_before = published(wh, str(other.facility_id))
    saved = tmp_path / "saved"
    shutil.copytree(wh.root, saved, symlinks=True)
    assert before["rows"] == first.rows and before["files"] == [old_id]

    # The reference: the same load, uninterrupted, timed.
    charges = wh.charges_dir / facility
    seen: dict[str, float] = {}

    def watch(elapsed: float) -> bool:
        if "part" not in seen and any(charges.glob("*.part/part-*")):
            seen["part"] = elapsed
        return False

    command = [HPT, "ingest", str(new_file), "--json", "--db"]
    code, total = run_until([*command, str(wh.db_path)], watch, tmp_path / "ref.log")
    assert code == 0, (tmp_path / "ref.log").read_text()
    done = json.loads((tmp_path / "ref.log").read_text())
    new_id = done["file_id"]
    assert done["outcome"] == "loaded" and done["rows"] == new_rows and "part" in seen
    after = published(wh, facility)
    assert after["files"] == [new_id] and after["rows"] == new_rows == after["distinct_rows"]
    # Again with warm caches: the timed kills spread over the shorter of the two (a first
    # run can take much longer, and a kill planned after the end kills nothing).
    restore(wh, saved)
    code, again = run_until([*command, str(wh.db_path)], lambda _t: False, tmp_path / "ref2.log")
    assert code == 0, (tmp_path / "ref2.log").read_text()
    total = min(total, again)

    rng = random.Random(SEED)
    start = seen["part"] / 2
    timed = sorted(rng.uniform(start, total) for _ in range(TIMED_KILLS))
    points: list[tuple[str, Callable[[Warehouse, set[Path]], Callable[[float], bool]]]] = [
        ("first part written", lambda wh, _: lambda _t: any(
            (wh.charges_dir / facility).glob("*.part/part-*"))),
        ("marts being derived", lambda wh, _: lambda _t: any(
            (wh.charges_dir / facility).glob("*.part/.marts.part"))),
        ("parts renamed into place", lambda wh, _: lambda _t: (
            wh.charges_dir / facility / new_id).is_dir()),
        ("marts being folded at publish", lambda wh, _: lambda _t: any(
            (wh.charges_dir / facility / new_id / "judged").glob("price_compare-*"))),
        ("new snapshot started", lambda wh, old: lambda _t: bool(
            set(wh.published_dir.glob("hpt-*")) - old)),
        *((f"{at:.2f} s of {total:.2f} s", lambda _wh, _old, at=at: lambda t: t >= at)
          for at in timed),
    ]  # fmt: skip

    outcomes: list[str] = []
    for number, (point, trigger) in enumerate(points):
        restore(wh, saved)
        old_snapshots = set(wh.published_dir.glob("hpt-*"))
        readers_had = snapshot_target(wh)
        log = tmp_path / f"kill-{number}.log"
        code, ended = run_until([*command, str(wh.db_path)], trigger(wh, old_snapshots), log)
        killed = code == -signal.SIGKILL
        assert killed or code == 0, f"{point}: exit {code}: {log.read_text()[-2000:]}"
        switched = snapshot_target(wh) != readers_had
        outcomes.append(f"{point}: {'killed' if killed else 'finished'} at {ended:.2f} s"
                        + (", after the switch" if switched else ""))  # fmt: skip

        # Readers see one whole file: the first, or (killed after the switch) the second.
        seen_now = published(wh, facility)
        if switched:
            assert seen_now == after, f"{point}: {seen_now}"
        else:
            assert seen_now == before, f"{point}: the published file changed: {seen_now}"
        assert published(wh, str(other.facility_id)) == other_before

        rerun = subprocess.run([*command, str(wh.db_path)], capture_output=True, text=True)
        assert rerun.returncode == 0, f"{point}: re-run failed: {rerun.stdout}{rerun.stderr}"
        assert json.loads(rerun.stdout)["outcome"] in ("loaded", "unchanged")
        converged(wh, facility, point, old_id, new_id, first.rows, new_rows, after)
        assert published(wh, str(other.facility_id)) == other_before

    print("\n".join(outcomes))
    killed_count = sum(": killed" in line for line in outcomes)
    assert killed_count >= len(points) - 2, (
        f"only {killed_count} of {len(points)} runs were killed mid-way: {outcomes}"
    )


def converged(wh: Warehouse, facility: str, point: str, old_id: str, new_id: str,
              old_rows: int, new_rows: int, expected: dict[str, Any]) -> None:  # fmt: skip
    """One clean load of the second file after a re-run: current, whole, once; the first
    file kept as history; no orphan folder or row; `hpt` commands work."""
    assert published(wh, facility) == expected, point
    assert history(wh, facility) == {old_id: old_rows, new_id: new_rows}, point
    assert catalog(wh, facility) == {
        "files": [(old_id, "loaded", old_rows), (new_id, "loaded", new_rows)]
        if old_id < new_id
        else [(new_id, "loaded", new_rows), (old_id, "loaded", old_rows)],
        "facilities": 1,
        "folders": sorted([old_id, new_id]),
    }, point
    runner = CliRunner()
    summary = runner.invoke(app, ["summary", "--db", str(wh.db_path)])
    assert summary.exit_code == 0, f"{point}: {summary.output}"
    count = runner.invoke(app, ["sql", "--db", str(wh.db_path),
                                "SELECT count(*) AS n FROM standard_charges"])  # fmt: skip
    assert count.exit_code == 0, f"{point}: {count.output}"
