"""Publishing: a read snapshot of the catalog, switched in atomically for readers."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from core import settings
from warehouse.db import Warehouse, writer
from warehouse.marts import rebuild as rebuild_marts
from warehouse.views import refresh_charge_views


def publish(wh: Warehouse, inspect: Callable[[Path], None] | None = None) -> Path:
    """Copy the catalog to a new snapshot file and point `current.duckdb` at it.

    Readers that already opened an older snapshot keep reading it undisturbed; new readers
    get the new one. Returns the snapshot path. `inspect`, if given, gets the new snapshot
    before readers do (the warehouse check validates it and adds its results to it), so
    readers see data and check together.
    """
    wh.published_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = wh.published_dir / f"hpt-{stamp}.duckdb"
    tmp = snapshot.with_suffix(".part")
    with writer(wh) as con:
        refresh_charge_views(con, wh)
        # Marts are tables in the catalog: rebuilt here so the snapshot carries matching ones.
        rebuild_marts(con)
        con.execute("CHECKPOINT")
        # Copied while we hold the writer's lock: no other load can change the file now.
        shutil.copyfile(wh.db_path, tmp)
    tmp.replace(snapshot)
    if inspect is not None:
        inspect(snapshot)
    link_tmp = wh.published_dir / f".current-{stamp}"
    os.symlink(snapshot.name, link_tmp)
    os.replace(link_tmp, wh.published_path)
    _prune(wh, keep=snapshot)
    return snapshot


def _prune(wh: Warehouse, keep: Path) -> None:
    """Delete all but the newest `HPT_RETENTION_SNAPSHOTS` snapshots (open readers keep
    their unlinked file; `hpt prune` keeps the Parquet data every kept one lists)."""
    snapshots = sorted(wh.published_dir.glob("hpt-*.duckdb"))
    for old in snapshots[: -settings.current().retention_snapshots]:
        if old != keep:
            old.unlink(missing_ok=True)
