"""Reads never block on loads: the dashboard's query path keeps answering while another
process loads hospitals and publishes, and picks up each new snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dashboard import reads
from dashboard.snapshot import snapshot
from tests.dashboard import demo_warehouse
from warehouse.queries import compare

LOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hpt.pipeline.steps import ingest_file
    from devtools.synthetic.model import make_hospital
    from devtools.synthetic.tall import tall_file
    from warehouse.db import Warehouse

    wh, files = Warehouse.at(sys.argv[1]), Path(sys.argv[2])
    for seed, state in ((11, "CA"), (12, "TX"), (13, "NY")):
        path = files / f"late-{seed}.csv"
        tall_file(path, n_items=120, seed=seed, hospital=make_hospital(seed, state=state))
        assert ingest_file(path, wh, publish_after=True).outcome == "loaded"
    """
)


@pytest.mark.slow
def test_reads_keep_answering_during_load_and_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.build(tmp_path, demo_warehouse.HOSPITALS[:2], troubles=False)
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    env = {**os.environ, "HPT_WORK_DIR": str(tmp_path / "work2")}
    loader = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(wh.db_path), str(tmp_path / "files")], env=env
    )
    seen: list[int] = []
    slowest = 0.0
    while loader.poll() is None:
        started = time.monotonic()
        con = snapshot().cursor()
        facilities = int(str(reads.overview(con)["facilities"]))
        prices = compare(con, "CPT:73721")
        slowest = max(slowest, time.monotonic() - started)
        assert prices["facility_id"].n_unique() == facilities
        seen.append(facilities)
    assert loader.returncode == 0
    final = int(str(reads.overview(snapshot().cursor())["facilities"]))
    assert final == 5
    assert seen == sorted(seen), "a reader never goes back to an older snapshot"
    assert seen[0] == 2 and len({*seen, final}) >= 3, "new publishes are picked up"
    assert len(seen) > 50, f"only {len(seen)} reads while loading: reads were blocked"
    # A load holds the writer's file for seconds; a read of the snapshot never waits on it.
    assert slowest < 2.0, f"slowest read {slowest:.2f} s"
    print(f"{len(seen)} reads during the load, slowest {slowest:.3f} s")
