"""The code-sorted runs of the comparison marts (warehouse.marts.runs): what readers get
equals the per-file layout through publishes that replace facilities; few runs; retired
runs deleted only when no kept snapshot lists them."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard import reads
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader, writer
from warehouse.marts import FACILITY_PRICES_COLUMNS, PRICE_COMPARE_COLUMNS, rebuild, runs
from warehouse.publish import publish
from warehouse.queries import compare, payer_matrix
from warehouse.retention import Policy
from warehouse.sweep import sweep

CODES = ("99213", "99214", "70551", "73721", "80053", "85025", "45378", "93000")
PAYERS = (("Aetna", "PPO"), ("Cigna", "HMO"), ("UnitedHealthcare", "PPO"), ("Humana", "HMO"))
STATES = ("TX", "CA", "NY")


def rows(seed: int) -> list[dict[str, Any]]:
    """A facility's rates: most codes, every payer, prices drawn around each code's level
    (now and then one far out: an outlier for the bands)."""
    rng = random.Random(seed)
    out = []
    for number, code in enumerate(CODES):
        if rng.random() < 0.2:
            continue
        level = 100.0 * (number + 1)
        for payer, plan in PAYERS:
            dollar = round(level * rng.uniform(0.5, 2.0), 2)
            if rng.random() < 0.05:
                dollar *= 100
            out.append(rate(code, payer, plan, dollar, gross_charge=3 * level,
                            discounted_cash=2 * level))  # fmt: skip
    return out


def load(wh: Warehouse, facility: int, version: str) -> None:
    seed = facility * 31 + ord(version)
    load_facility(wh, f"f-{facility:02d}", rows(seed), state=STATES[facility % 3],
                  version=version)  # fmt: skip


def per_file(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """The mart `view` read from each current file's own judged Parquet file (the layout
    before runs): the reference."""
    column = "price_compare_path" if view == "price_compare" else "facility_prices_path"
    columns = PRICE_COMPARE_COLUMNS if view == "price_compare" else FACILITY_PRICES_COLUMNS
    paths = [r[0] for r in con.execute(f"SELECT {column} FROM mart_files").fetchall()]
    listed = ", ".join(f"'{p}'" for p in paths)
    return f"SELECT {', '.join(columns)} FROM read_parquet([{listed}])"


def answers(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """What the dashboard's reads give, for every code, with and without filters."""
    out = {}
    for code in CODES:
        out[f"compare {code}"] = compare(con, code)
        out[f"compare {code} Aetna"] = compare(con, code, payer="Aetna")
        out[f"compare {code} TX"] = compare(con, f"CPT:{code}", state="TX")
        out[f"matrix {code}"] = payer_matrix(con, code)
        out[f"prices {code}"] = reads.facility_prices(con, None, code)
        out[f"prices {code} CA"] = reads.facility_prices(con, "CPT", code, "CA")
    for facility in ("f-01", "f-02"):
        out[f"payers {facility}"] = reads.facility_payers(con, facility)
        out[f"position {facility}"] = reads.price_position(con, facility)
    return out


def assert_same_as_per_file(wh: Warehouse) -> None:
    """The snapshot's reads over the runs equal those over each file's own Parquet."""
    with reader(wh) as con:
        got = answers(con)
        for view in ("price_compare", "facility_code_prices"):
            assert con.execute(f"SELECT * FROM {view} ORDER BY ALL").fetchall() == (
                con.execute(f"{per_file(con, view)} ORDER BY ALL").fetchall()
            )
            # The same reads with the views over the per-file layout (temp views first).
            con.execute(f"CREATE TEMP VIEW {view} AS {per_file(con, view)}")
        expected = answers(con)
    for name, frame in expected.items():
        assert_frame_equal(got[name], frame, check_row_order=True), name


def live_runs(wh: Warehouse) -> list[tuple[str, int]]:
    """(run_id, live rows) of the catalog's runs, oldest first."""
    with writer(wh) as con:
        found = [runs._Run(*r) for r in con.execute(runs._SIZES).fetchall()]
    return [(run.run_id, run.live) for run in found]


def test_reads_over_the_runs_equal_the_per_file_layout_as_facilities_change(
    wh: Warehouse,
) -> None:
    for facility in range(1, 9):
        load(wh, facility, "a")
    publish(wh)
    assert len(live_runs(wh)) == 1  # a first bulk publish: one run
    assert_same_as_per_file(wh)
    for step, (facility, version) in enumerate(
        [(2, "b"), (5, "b"), (9, "a"), (2, "c"), (7, "b"), (1, "b")]
    ):
        load(wh, facility, version)
        if step == 2:
            load(wh, 3, "b")  # two files in one publish: one run of both
        publish(wh)
        with reader(wh) as con:
            dead = con.execute(
                "SELECT count(*) FROM mart_run_files r "
                "ANTI JOIN mart_files m USING (file_id, built_at)"
            ).fetchall()[0][0]
            facilities = con.execute("SELECT count(*) FROM mart_files").fetchall()[0][0]
        assert dead <= facilities  # merges drop dead rows as they go
        assert_same_as_per_file(wh)


def test_a_publish_writes_one_run_of_what_changed_and_runs_stay_few(wh: Warehouse) -> None:
    for facility in range(1, 5):
        load(wh, facility, "a")
    publish(wh)
    with writer(wh) as con:
        first = con.execute("SELECT file_id FROM mart_run_files ORDER BY ALL").fetchall()
    assert len(first) == 4
    versions = "bcdefghijklmnopq"
    for step, version in enumerate(versions):
        load(wh, 1 + step % 4, version)
        publish(wh)
        sizes = [live for _, live in live_runs(wh)]
        # Each run holds more live rows than all newer runs together: ~log2 of them.
        for index, size in enumerate(sizes[:-1]):
            assert size > sum(sizes[index + 1 :]), sizes
        assert len(sizes) <= 3, sizes
    with writer(wh) as con:
        # Every row of a run belongs to a current file, in code order.
        for (path,) in con.execute("SELECT price_compare_path FROM mart_runs").fetchall():
            codes = [
                r[0] for r in con.execute(f"SELECT code FROM '{wh.location(path)}'").fetchall()
            ]
            assert codes == sorted(codes)
        held = con.execute("SELECT count(*) FROM mart_run_files").fetchall()[0][0]
        retired = con.execute("SELECT count(*) FROM mart_runs_retired").fetchall()[0][0]
    assert held >= 4 and retired > 0


@pytest.mark.parametrize(
    ("live", "dead", "merged"),
    [
        ([100, 60, 20], [0, 0, 0], []),  # each bigger than all newer: nothing
        ([100, 10, 10], [0, 0, 0], [[1, 2]]),  # a new run as big as the one before
        ([100, 20, 10, 10], [0, 0, 0, 0], [[1, 2, 3]]),  # then 20 ≤ 10 + 10 too
        ([100, 40, 30, 20], [0, 60, 0, 0], [[1, 2, 3]]),  # rows died in run 1: 40 ≤ 50
        ([200, 60, 5], [300, 0, 0], [[0]]),  # more dead rows than live: rewritten alone
        ([5], [0], []),
    ],
)
def test_merges_are_size_tiered(live: list[int], dead: list[int], merged: list[list[int]]) -> None:
    found = [
        runs._Run(str(i), "", "", dt.datetime(2026, 1, 1, i), 1, n, d)
        for i, (n, d) in enumerate(zip(live, dead, strict=True))
    ]
    plan = runs._plan(found)
    assert [[int(run.run_id) for run in group] for group in plan] == merged


def test_force_and_upgrade_write_one_run_and_retire_the_others(wh: Warehouse) -> None:
    for facility in range(1, 4):
        load(wh, facility, "a")
    publish(wh)
    load(wh, 2, "b")
    publish(wh)
    with writer(wh) as con:
        rebuild(con, wh, force=True)  # every file judged again: one run of them all
        assert con.execute("SELECT count(*) FROM mart_runs").fetchall() == [(1,)]
        # A catalog without runs (as before them): the next publish writes one of all.
        con.execute("DELETE FROM mart_run_files")
        con.execute("DELETE FROM mart_runs")
    publish(wh)
    with writer(wh) as con:
        assert con.execute("SELECT count(*) FROM mart_runs").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM mart_run_files").fetchall() == [(3,)]
    assert_same_as_per_file(wh)


def stored_runs(wh: Warehouse) -> set[str]:
    return {p.name for p in (wh.root / "hpt-marts").glob("*.parquet")}


def listed_runs(snapshot: Path) -> set[str]:
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        rows = con.execute("SELECT price_compare_path, facility_prices_path FROM mart_runs")
        return {Path(p).name for row in rows.fetchall() for p in row}
    finally:
        con.close()


def test_retention_deletes_only_runs_no_kept_snapshot_lists(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "2")
    for facility in range(1, 5):
        load(wh, facility, "a")
    publish(wh)
    oldest = reader(wh)  # a reader of the first snapshot, open throughout
    before = oldest.execute("SELECT * FROM price_compare ORDER BY ALL").fetchall()
    for version in "bcdefg":
        load(wh, 1, version)
        publish(wh)
    assert oldest.execute("SELECT * FROM price_compare ORDER BY ALL").fetchall() == before
    oldest.close()
    snapshots = sorted(wh.published_dir.glob("hpt-*.duckdb"))
    assert len(snapshots) == 2
    listed = set().union(*(listed_runs(s) for s in snapshots))
    assert listed < stored_runs(wh)  # runs merged away, still on disk
    report = sweep(wh, Policy(snapshots=2), dry_run=True)
    assert {Path(g.path).name for g in report.deleted if g.kind == "mart run"} == (
        stored_runs(wh) - listed
    )
    sweep(wh, Policy(snapshots=2))
    assert stored_runs(wh) == listed
    for snapshot in snapshots:  # every kept snapshot still reads whole
        con = duckdb.connect(str(snapshot), read_only=True)
        con.close()
    assert_same_as_per_file(wh)
    with writer(wh) as con:  # the runs the oldest kept snapshot lists wait
        waiting = {
            Path(r[0]).name for r in con.execute("SELECT path FROM mart_runs_retired").fetchall()
        }
    assert waiting <= listed


def test_a_run_file_the_catalog_never_listed_goes_after_the_grace_hours(wh: Warehouse) -> None:
    """A publish killed after writing its run, before its commit, leaves the file unlisted."""
    load(wh, 1, "a")
    publish(wh)
    folder = wh.root / "hpt-marts"
    old, new = (folder / f"price_compare-20260101T00000000000{n}-0.parquet" for n in (1, 2))
    for path in (old, new):
        path.write_bytes(b"PAR1")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    before = stored_runs(wh)
    report = sweep(wh, Policy(grace_hours=24))
    assert [Path(g.path).name for g in report.deleted if g.kind == "leftover"] == [old.name]
    assert stored_runs(wh) == before - {old.name}
    assert_same_as_per_file(wh)
