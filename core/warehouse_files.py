"""Opening a warehouse's DuckDB files so that the relative paths their views hold resolve.

A warehouse is one folder (its root): the catalog `<root>/<stem>.duckdb` beside the folders
of its charges (`<stem>-charges/`) and published snapshots (`<stem>-published/*.duckdb`).
The catalog stores, and the views read, Parquet paths relative to the root, so the folder
can be moved or copied whole. DuckDB looks for a relative Parquet path in the working
directory, then in `file_search_path` (globs only there): every connection to a catalog or
snapshot sets it to the root. Plain DuckDB works as well, started in the root folder.

When the data lives elsewhere (`HPT_STORAGE`, `core.storage`), the views hold its full
paths or `s3://` URLs instead, and a snapshot names the place in its one-row table
`data_storage`: `open_snapshot` registers the S3 filesystem on the connection when it is
`s3://…` (DuckDB reads S3 through it).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.storage import Storage, register_s3, storage


def snapshot_root(snapshot: str | Path) -> Path:
    """The root of the warehouse a published snapshot belongs to: its folder's parent.

    Not resolved: `current.duckdb` is a link to a file in the same folder, and a published
    folder that is itself a link belongs to the warehouse it is linked from."""
    return Path(snapshot).absolute().parent.parent


def _set_global(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    """Set a GLOBAL setting unless it already has the value: another connection of this
    process to the file may have set it, and locked the configuration since (`hpt sql`)."""
    # fetchall: a result left unfinished makes the connection's next `sql()` fail, and when
    # the value is already set nothing else runs on it here.
    rows = con.execute("SELECT value FROM duckdb_settings() WHERE name = ?", [name]).fetchall()
    if not rows or rows[0][0] != value:
        con.execute(f"SET GLOBAL {name} = ?", [value])


def search_root(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Resolve relative paths against `root` on this connection, its cursors, and every
    other connection of this process to the same file (a GLOBAL setting: the file's
    relative paths mean one thing, wherever it is opened from)."""
    text = str(root)
    if "," in text:  # DuckDB splits the setting on commas
        raise ValueError(f"a warehouse folder's path cannot hold a comma: {text}")
    _set_global(con, "file_search_path", text)


def connect(
    path: str | Path, root: Path, *, read_only: bool, storage: Storage | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection to a catalog or snapshot file whose relative paths resolve under `root`,
    and that reads the data's `storage` (when not local)."""
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        search_root(con, root)
        if storage is not None:
            storage.register(con)
    except BaseException:
        con.close()
        raise
    return con


def open_snapshot(snapshot: str | Path) -> duckdb.DuckDBPyConnection:
    """A published snapshot, read-only, its views' paths resolved in its warehouse."""
    con = connect(snapshot, snapshot_root(snapshot), read_only=True)
    try:
        if data_storage(con).startswith("s3://"):
            register_s3(con)
        _set_global(con, "parquet_metadata_cache", "true")  # mart views read a file per facility
    except BaseException:
        con.close()
        raise
    return con


#: The snapshot's table naming where its data lives (`core.storage`).
DATA_STORAGE = "data_storage"


def data_storage(con: duckdb.DuckDBPyConnection) -> str:
    """Where a snapshot's data lives: "" for its warehouse folder, else a folder or URL."""
    # fetchall: a result left unfinished blocks the connection's next statement.
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
        "AND database_name = current_database()",
        [DATA_STORAGE],
    ).fetchall()
    if not found or not found[0][0]:
        return ""
    rows = con.execute(f"SELECT url FROM {DATA_STORAGE}").fetchall()
    return str(rows[0][0] or "") if rows else ""


def snapshot_storage(con: duckdb.DuckDBPyConnection) -> Storage:
    """Where the data of the snapshot (or catalog) open on `con` lives: its `location`
    turns a stored path (relative, as the catalog keeps it) into one DuckDB can read."""
    root = Path(str(con.execute("SELECT current_setting('file_search_path')").fetchall()[0][0]))
    return storage(data_storage(con), root)
