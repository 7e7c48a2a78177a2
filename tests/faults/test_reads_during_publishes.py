"""A dashboard reader in a loop while another process publishes 20 times never errors and
never sees a half-published facility.

The publisher loads, one at a time and each published at once, new facilities and new
versions of facilities already published (each version larger, so the quality gate loads
it). The reader goes through the dashboard's own connection (`dashboard.snapshot`) and
checks, in each snapshot it gets: every facility's charges are exactly its current file's
rows, once; the marts (what the pages show) list the same facilities.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dashboard import reads
from dashboard.snapshot import snapshot
from tests.dashboard import demo_warehouse
from warehouse.queries import compare

pytestmark = [pytest.mark.slow, pytest.mark.faults]

PUBLISHES = 20
PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from devtools.synthetic.model import make_hospital
    from devtools.synthetic.tall import tall_file
    from hpt.pipeline.steps import ingest_file
    from warehouse.db import Warehouse

    wh, files, count = Warehouse.at(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    # Hospital 1 of the demo warehouse (published before), then two new ones.
    hospitals = [make_hospital(1, state="CA", zip_code="93721"), make_hospital(41, state="CA"),
                 make_hospital(42, state="TX")]
    for number in range(count):
        path = files / f"version-{number}.csv"
        tall_file(path, n_items=50 + 3 * number, seed=100 + number,
                  hospital=hospitals[number % len(hospitals)])
        result = ingest_file(path, wh, publish_after=True)
        assert result.outcome == "loaded", (result.outcome, result.message)
        print("published", number, flush=True)
    """
)


def check(seen_snapshots: list[str]) -> int:
    """One dashboard read of the current snapshot; returns its number of facilities."""
    snap = snapshot()
    con = snap.cursor()
    current = {
        facility: (file_id, rows)
        for facility, file_id, rows in con.execute(
            "SELECT facility_id, file_id, row_count FROM current_files"
        ).fetchall()
    }
    charges = {
        facility: (file_ids, rows, distinct)
        for facility, file_ids, rows, distinct in con.execute(
            "SELECT facility_id, list(DISTINCT file_id), count(*), count(DISTINCT row_no) "
            "FROM standard_charges GROUP BY 1"
        ).fetchall()
    }
    expected = {f: ([file_id], rows, rows) for f, (file_id, rows) in current.items()}
    assert charges == expected, f"half-published in {snap.path.name}: {charges} != {expected}"
    facilities = int(str(reads.overview(con)["facilities"]))
    assert facilities == len(current), f"marts list {facilities} of {len(current)} facilities"
    prices = compare(con, "CPT:73721")
    assert set(prices["facility_id"]) == set(current), snap.path.name
    if not seen_snapshots or seen_snapshots[-1] != snap.path.name:
        seen_snapshots.append(snap.path.name)
    return facilities


@pytest.mark.timeout(600)
def test_dashboard_reads_during_twenty_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.build(tmp_path, demo_warehouse.HOSPITALS[:2], troubles=False)
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    files = tmp_path / "files"
    env = {**os.environ, "HPT_WORK_DIR": str(tmp_path / "work2")}
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(wh.db_path), str(files), str(PUBLISHES)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    snapshots: list[str] = []
    reads_done = 0
    while publisher.poll() is None:
        check(snapshots)
        reads_done += 1
    out, err = publisher.communicate()
    assert publisher.returncode == 0, err[-3000:]
    assert out.count("published") == PUBLISHES
    assert check(snapshots) == 4  # the demo's two hospitals and two new ones
    assert snapshots == sorted(snapshots), "a reader never goes back to an older snapshot"
    # Reads are much faster than publishes: nearly every snapshot is seen.
    assert len(snapshots) >= PUBLISHES // 2, f"{len(snapshots)} snapshots seen: {snapshots}"
    print(f"{reads_done} reads during {PUBLISHES} publishes, {len(snapshots)} snapshots seen")
