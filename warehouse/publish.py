"""Publishing: a read snapshot of the catalog, switched in atomically for readers.

A snapshot is a small DuckDB file: the catalog's tables (facilities, files, findings, the
cross-facility marts — sizes that follow facilities and codes, not rates) and its views,
which read the immutable Parquet files of the charges and of the per-file marts. No
charge data is copied: a publish costs what changed plus the catalog's small tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from core import settings
from core.warehouse_files import DATA_STORAGE
from warehouse.db import Warehouse, apply_journal, writer
from warehouse.marts import WRITER_ONLY
from warehouse.marts import rebuild as rebuild_marts
from warehouse.service_codes import create_macros
from warehouse.views import refresh_charge_views


def publish(wh: Warehouse, inspect: Callable[[Path], None] | None = None) -> Path:
    """Write a new snapshot file of the catalog and point `current.duckdb` at it.

    Readers that already opened an older snapshot keep reading it undisturbed; new readers
    get the new one. Returns the snapshot path. `inspect`, if given, gets the new snapshot
    before readers do (the warehouse check validates it and adds its results to it), so
    readers see data and check together.

    Publishes of several processes go in the order they held the writer's lock: a snapshot
    is stamped under it, and readers are never switched to an older one than theirs (a
    process whose snapshot was overtaken leaves the newer one current).

    With a shared catalog (`HPT_CATALOG`) the snapshot is then put on the data's storage
    and named in the catalog for readers on any machine (`warehouse.snapshots`); when it
    cannot be put there the publish raises `ShareError` and readers there keep the
    previous one.
    """
    wh.published_dir.mkdir(parents=True, exist_ok=True)
    with writer(wh) as con:
        if wh.catalog:  # inside a run's or a batch's writer: what workers committed since
            apply_journal(con, wh)
        refresh_charge_views(con, wh)
        # The marts fold in the files that changed, so the snapshot carries matching ones.
        rebuild_marts(con, wh)
        # Stamped and written while we hold the writer's lock: no other load can change
        # the catalog now, and snapshots' names follow the order of what they hold.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        snapshot = wh.published_dir / f"hpt-{stamp}.duckdb"
        tmp = snapshot.with_suffix(".part")
        tmp.unlink(missing_ok=True)
        write_snapshot(con, tmp, wh.storage.url)
    tmp.replace(snapshot)
    if inspect is not None:
        inspect(snapshot)
    with _switching(wh):
        current = wh.published_path.resolve() if wh.published_path.exists() else None
        switched = current is None or current.name < snapshot.name
        if switched:
            link_tmp = wh.published_dir / f".current-{stamp}"
            os.symlink(snapshot.name, link_tmp)
            os.replace(link_tmp, wh.published_path)
    if wh.catalog and switched:
        from warehouse.snapshots import share

        share(wh, snapshot)  # readers elsewhere: on the storage, then named in the catalog
    _prune(wh, keep=snapshot)
    return snapshot


@contextlib.contextmanager
def _switching(wh: Warehouse) -> Iterator[None]:
    """Held while a process compares readers' snapshot with its own and switches them."""
    with (wh.published_dir / ".switch.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when closed
        yield


def _catalog_objects(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """The catalog's tables (but the writer's working tables) and its view definitions."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY table_name"
        ).fetchall()
        if r[0] not in WRITER_ONLY
    ]
    views = [
        r[0]
        for r in con.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY view_name"
        ).fetchall()
    ]
    return tables, views


def write_snapshot(con: duckdb.DuckDBPyConnection, path: Path, storage_url: str = "") -> None:
    """Write the catalog's tables, views and the service-code macros into a new DuckDB file
    at `path`, and where its data lives (`storage_url`, "" for the warehouse folder: the
    table `data_storage` that `core.warehouse_files.open_snapshot` reads)."""
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    tables, views = _catalog_objects(con)
    con.execute(f"ATTACH '{_quoted(path)}' AS hpt_snapshot")
    try:
        for table in tables:
            con.execute(f'CREATE TABLE hpt_snapshot.main."{table}" AS SELECT * FROM "{table}"')
        con.execute(
            f"CREATE TABLE hpt_snapshot.main.{DATA_STORAGE} AS SELECT ?::VARCHAR AS url",
            [storage_url],
        )
        con.execute("USE hpt_snapshot")
        try:
            create_macros(con)  # the views call them
            pending = views
            while pending:  # a view can only be created after the views it reads
                failed: list[str] = []
                error: Exception | None = None
                for sql in pending:
                    try:
                        con.execute(sql)
                    except duckdb.CatalogException as problem:
                        failed.append(sql)
                        error = problem
                if len(failed) == len(pending):
                    raise RuntimeError(f"cannot write the snapshot's views: {error}")
                pending = failed
        finally:
            con.execute(f'USE "{catalog}"')
    finally:
        con.execute("DETACH hpt_snapshot")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _prune(wh: Warehouse, keep: Path) -> None:
    """Delete all but the newest `HPT_RETENTION_SNAPSHOTS` snapshots (open readers keep
    their unlinked file; `hpt prune` keeps the Parquet data every kept one lists)."""
    snapshots = sorted(wh.published_dir.glob("hpt-*.duckdb"))
    for old in snapshots[: -settings.current().retention_snapshots]:
        if old != keep:
            old.unlink(missing_ok=True)
