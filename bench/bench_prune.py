"""Retention's cost follows what changed: a nightly prune over warehouses of 100, 1,000 and
5,000 facilities (4 files each), with nothing to expire, then with one facility's new file.

    python bench/bench_prune.py [--sizes 100,1000,5000]

Each warehouse is built in bench/out/prune-<n>/ directly (one small Parquet part per file,
the catalog rows in one insert; building is not measured) and removed afterwards. Timed in
this process: `expire` (the catalog transaction), `sweep` (the deletions), and for the
changed night the publish between them, which is the publish's own cost, not retention's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from bench.measure import OUT
from core.schema import STORED_SCHEMA
from warehouse.db import Warehouse, writer
from warehouse.publish import publish
from warehouse.retention import Policy, PruneReport, expire
from warehouse.sweep import sweep
from warehouse.views import refresh_charge_views

FILES = 4  # per facility: the current one and the 3 previous ones kept by default


def part(facility: str, file_id: str) -> pl.DataFrame:
    rows = [{"file_id": file_id, "facility_id": facility, "row_no": 4 + i, "description": "x",
             "negotiated_dollar": 10.0 + i, "codes": [{"type": "CPT", "code": "99213"}]}
            for i in range(20)]  # fmt: skip
    return pl.DataFrame(rows, schema=STORED_SCHEMA)


def add_files(wh: Warehouse, files: list[tuple[str, str]], start: dt.datetime) -> None:
    """Write each (facility, file id)'s folder and register all in one catalog write."""
    catalog = []
    for n, (facility, file_id) in enumerate(files):
        folder = wh.charges_path(facility, file_id)
        folder.mkdir(parents=True, exist_ok=True)
        part(facility, file_id).write_parquet(folder / "part-00000.parquet")
        catalog.append(
            (file_id, facility, wh.relative(folder), start + dt.timedelta(microseconds=n))
        )
    frame = pl.DataFrame(catalog, schema=["file_id", "facility_id", "data_path", "loaded_at"],
                         orient="row")  # fmt: skip
    with writer(wh) as con:
        con.register("new_files", frame)
        con.execute(
            """
            INSERT INTO facilities (facility_id) SELECT DISTINCT facility_id FROM new_files
            ON CONFLICT DO NOTHING;
            INSERT INTO files (file_id, facility_id, sha256, loaded_at, row_count, finding_count,
                               error_count, alert_count, status, data_path)
            SELECT file_id, facility_id, file_id, loaded_at, 20, 0, 0, 0, 'loaded', data_path
            FROM new_files
            """
        )
        refresh_charge_views(con, wh)


def timed(what: str, call: object) -> float:
    started = time.perf_counter()
    assert callable(call)
    call()
    seconds = time.perf_counter() - started
    print(f"  {what:<32} {seconds:8.2f} s", flush=True)
    return seconds


def bench(facilities: int) -> None:
    root = OUT / f"prune-{facilities}"
    shutil.rmtree(root, ignore_errors=True)
    wh = Warehouse.at(root / "hpt.duckdb")
    day = dt.datetime(2026, 1, 1)
    ids = [f"f{n:05d}" for n in range(facilities)]
    for version in range(FILES):
        add_files(wh, [(f, f"{f}-v{version}") for f in ids], day + dt.timedelta(days=version))
    publish(wh)
    policy = Policy()
    print(f"{facilities:,} facilities × {FILES} files", flush=True)
    timed("nothing to expire: expire", lambda: expire(wh, policy))
    timed("nothing to expire: sweep", lambda: sweep(wh, policy))
    add_files(wh, [(ids[0], f"{ids[0]}-v{FILES}")], day + dt.timedelta(days=FILES))
    reports: list[PruneReport] = []
    timed("one changed: expire (1 file)", lambda: reports.append(expire(wh, policy)))
    assert [e.file_id for e in reports[0].expired] == [f"{ids[0]}-v0"]
    timed("one changed: publish", lambda: publish(wh))
    swept = Policy(snapshots=1)
    timed("one changed: sweep (1 folder)", lambda: sweep(wh, swept))
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        bench(size)


if __name__ == "__main__":
    main()
