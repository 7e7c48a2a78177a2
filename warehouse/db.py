"""The warehouse on disk: a DuckDB catalog, Parquet charge files, and published snapshots.

Layout for `--db data/hpt.duckdb`:

* `data/hpt.duckdb` — the writer's catalog (facilities, files, findings, views). Only loads
  open it, briefly.
* `data/hpt-charges/<facility_id>/<file_id>/part-*.parquet` — the charges of one ingested file,
  written once, never changed.
* `data/hpt-payer_aliases.csv` — the warehouse's own payer aliases (`hpt payers map`),
  applied at the next publish (docs/payers.md, "Review queue").
* `data/hpt-published/current.duckdb` — the read snapshot for the dashboard and analysts:
  the catalog's tables and views written to a new file after loads (no charge data: the
  views read the Parquet files), switched in atomically, so readers never hold the
  writer's file (DuckDB locks a file per process) and never see a half-loaded facility.

Paths in the catalog and in the views are relative to the root (`data/`), so the folder
can be moved or copied whole: `Warehouse.relative` makes a path the catalog stores,
`Warehouse.resolve` finds it on disk, and every connection resolves the views' paths
there (`core.warehouse_files`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from core import settings
from core.ids import valid_facility_id, valid_file_id
from core.schema import STORED_SCHEMA
from core.storage import Storage, storage
from core.warehouse_files import connect, open_snapshot

LOCK_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class Warehouse:
    """Paths of one warehouse, named after its catalog file, and where its data lives
    (`storage_url`, a local folder or `s3://bucket/prefix`; None: `HPT_STORAGE`)."""

    db_path: Path
    storage_url: str | None = None

    def __post_init__(self) -> None:
        # Stored paths resolve against the root, and DuckDB's file_search_path is set to
        # it: both need it absolute, whatever the working directory is later.
        if not Path(self.db_path).is_absolute():
            object.__setattr__(self, "db_path", Path(self.db_path).expanduser().resolve())
        url = settings.current().storage if self.storage_url is None else self.storage_url
        object.__setattr__(self, "_storage", storage(url, self.db_path.parent))
        object.__setattr__(self, "_catalog", settings.current().catalog or None)

    @classmethod
    def at(cls, db_path: str | Path, storage_url: str | None = None) -> Warehouse:
        return cls(Path(db_path).expanduser().resolve(), storage_url)

    @property
    def storage(self) -> Storage:
        """Where the per-file data lives (`core.storage`)."""
        found: Storage = self.__dict__["_storage"]
        return found

    @property
    def catalog(self) -> str | None:
        """The shared catalog's URL (`HPT_CATALOG`, `warehouse.catalog`); None: the catalog
        is the file `db_path` alone."""
        found: str | None = self.__dict__["_catalog"]
        return found

    @property
    def root(self) -> Path:
        """The warehouse folder: the catalog and its sibling folders."""
        return self.db_path.parent

    def relative(self, path: str | Path) -> str:
        """`path` as the catalog stores it: relative to the data's place (POSIX) when inside
        it (the root, by default), so the warehouse folder can move; absolute otherwise."""
        inside = self.storage.relative(str(path))
        if inside is not None:
            return inside
        path = Path(path)
        if path.is_absolute() and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return str(path)

    def resolve(self, stored: str | Path) -> Path:
        """A path the catalog stores (`relative`) as a path in the warehouse folder (an
        absolute one as is); for data, `location`."""
        return self.root / stored

    def location(self, stored: str) -> str:
        """A data path the catalog stores as a full path or URL on the data's storage."""
        return self.storage.location(stored)

    def view_path(self, stored: str) -> str:
        """A data path as the views hold it: as stored when the data is in the warehouse
        folder (resolved there by `file_search_path`), else its full path or URL."""
        return stored if self.storage.is_default else self.location(stored)

    def charges_location(self, facility_id: str, file_id: str) -> str:
        """`charges_path` on the data's storage (the same, by default)."""
        return self.location(self.relative(self.charges_path(facility_id, file_id)))

    @property
    def charges_dir(self) -> Path:
        return self.root / f"{self.db_path.stem}-charges"

    @property
    def published_dir(self) -> Path:
        return self.root / f"{self.db_path.stem}-published"

    @property
    def published_path(self) -> Path:
        """The read snapshot readers open (a symlink switched atomically)."""
        return self.published_dir / "current.duckdb"

    @property
    def local_aliases(self) -> Path:
        """This warehouse's own payer aliases (`hpt payers map`, transform.local_aliases)."""
        return self.root / f"{self.db_path.stem}-payer_aliases.csv"

    @property
    def empty_charges(self) -> Path:
        return self.charges_dir / "_empty.parquet"

    def charges_path(self, facility_id: str, file_id: str) -> Path:
        """The folder of Parquet parts holding one ingested file's charges.

        Raises `core.ids.InvalidId` for an id that is not one (`..`, `/`, a glob character):
        the folder is always inside `charges_dir`, whoever passed the ids."""
        facility_id = valid_facility_id(facility_id, "charges folder")
        return self.charges_dir / facility_id / valid_file_id(file_id, "charges folder")


def migrations() -> list[tuple[int, str, str]]:
    """The numbered SQL migrations shipped in `warehouse/migrations`, in order."""
    found = []
    for entry in resources.files("warehouse.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations not yet applied; return their names. Idempotent."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _connect_waiting(wh: Warehouse, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the catalog, waiting while another process holds its lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            return connect(wh.db_path, wh.root, read_only=read_only, storage=wh.storage)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


#: Catalogs held open in a `writer` block, by thread and path.
_held: dict[tuple[int, Path], duckdb.DuckDBPyConnection] = {}


@contextlib.contextmanager
def writer(wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog opened for writing, migrated; held only as long as the block runs.

    Inside another `writer` block on the same catalog (a run or a batch holds it open for
    all its files) the block gets a cursor of the open connection: a connection of its own
    to the same database, without opening the file, checking migrations or the empty-data
    file again (~10 ms each time, several times per file).
    """
    key = (threading.get_ident(), wh.db_path)
    held = _held.get(key)
    if held is not None:
        cursor = held.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    wh.root.mkdir(parents=True, exist_ok=True)
    ensure_empty_charges(wh)
    con = _connect_waiting(wh, read_only=False)
    try:
        migrate(con)
        if wh.catalog:
            apply_journal(con, wh)
        _held[key] = con
        yield con
    finally:
        _held.pop(key, None)
        con.close()


def apply_journal(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> int:
    """Bring the host's catalog up to the shared catalog (`warehouse.catalog`): apply the
    entries workers committed since, refresh the charge views if files came; how many."""
    from warehouse.catalog import apply_pending
    from warehouse.views import refresh_after_load

    assert wh.catalog
    applied = apply_pending(con, wh.catalog)
    if applied:
        refresh_after_load(con, wh)
    return applied


def ensure_empty_charges(wh: Warehouse) -> None:
    """A typed Parquet file with no rows, for views over a warehouse with no data yet."""
    if not wh.empty_charges.exists():
        wh.empty_charges.parent.mkdir(parents=True, exist_ok=True)
        # Named per process: two first loads of a new warehouse may both write one.
        tmp = wh.empty_charges.with_name(f"_empty.{os.getpid()}.tmp")
        pl.DataFrame(schema=STORED_SCHEMA).write_parquet(tmp)
        tmp.replace(wh.empty_charges)


def published_snapshot(wh: Warehouse) -> Path | None:
    """The snapshot file readers open now; None when nothing is published.

    Without a shared catalog, the file `current.duckdb` points at. With one, the newest
    snapshot it names, fetched from the data's storage into `published_dir` when not there
    yet (`warehouse.snapshots`): readers need not be on the warehouse host."""
    if wh.catalog:
        from warehouse.snapshots import fetched

        return fetched(wh)
    try:
        return Path(os.path.realpath(wh.published_path, strict=True))
    except OSError:
        return None


def unpublished(wh: Warehouse) -> str:
    """Where a reader looked for a published snapshot and found none, for messages."""
    if wh.catalog:
        from warehouse.catalog import shown

        return f"in the catalog {shown(wh.catalog)}"
    return f"at {wh.published_path}"


def reader(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published snapshot (never the writer's catalog)."""
    snapshot = published_snapshot(wh)
    if snapshot is None:
        raise FileNotFoundError(
            f"no published warehouse {unpublished(wh)}: run `hpt ingest` or `hpt run` first"
        )
    return open_snapshot(snapshot)
