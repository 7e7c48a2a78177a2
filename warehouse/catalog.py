"""The shared catalog in PostgreSQL (setting `HPT_CATALOG`): the catalog of record when
workers share no disk.

With `HPT_CATALOG` empty (the default) the catalog is the DuckDB file `HPT_DB` and every
write opens it under its lock. With `HPT_CATALOG=postgresql://…`:

* **Workers** (acquire, ingest) never open `HPT_DB`. Each catalog write of theirs (a loaded
  file, a download attempt, a gate's verdict, a log line) is one PostgreSQL transaction that
  appends an entry to `hpt.journal`: the rows it adds or replaces, by table. What workers
  must read back (is this file known? which file is current? what did these bytes give
  last time?) is in `hpt.files` and `hpt.ingest_log`, written in the same transaction.
* **The warehouse host** (the registry sync and the publish: one process at a time, the
  `hpt_warehouse` pool and queue) keeps `HPT_DB` as its working copy: each time it opens
  it, it applies the journal's new entries in order (`apply_pending`), then folds the
  marts and publishes a snapshot as on one machine. The snapshot goes to `HPT_STORAGE` and
  its name into `hpt.snapshots`, where readers on any machine find it.

Journal entries are applied in the order they were committed: an appending transaction
holds a lock (`_JOURNAL_LOCK`) from taking its sequence number to its commit, so a higher
number is never visible before a lower one. Entries name their tables from a fixed list
(`TABLES`); a journal row cannot make the host run anything else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import polars as pl

from core import settings

if TYPE_CHECKING:  # psycopg costs ~0.3 s to import: paid only with a shared catalog
    import psycopg

log = logging.getLogger(__name__)

#: Tables a journal entry may write in the host's catalog, with the key that `replace`
#: deletes by.
TABLES = {
    "facilities": "facility_id",
    "files": "file_id",
    "findings": "file_id",
    "finding_counts": "file_id",
    "ingest_log": None,
    "download_attempts": None,
    "source_findings": None,
    "quality_results": None,
    "quarantine": "file_id",
}

#: Statements an entry may run per row of a frame (upserts, whose conflict clause a plain
#: insert cannot say).
UPSERTS = {
    "facility_meta": """
        INSERT INTO facilities (facility_id, hospital_name, license_number, license_state,
                                locations, addresses, npis, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (facility_id) DO UPDATE SET
            hospital_name = excluded.hospital_name, license_number = excluded.license_number,
            license_state = excluded.license_state, locations = excluded.locations,
            addresses = excluded.addresses, npis = excluded.npis, updated_at = excluded.updated_at
        """,
}

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS hpt;
CREATE TABLE IF NOT EXISTS hpt.journal (
    seq BIGSERIAL PRIMARY KEY,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    op TEXT NOT NULL,
    facility_id TEXT,
    file_id TEXT,
    changes JSONB NOT NULL,
    frames BYTEA[] NOT NULL
);
CREATE TABLE IF NOT EXISTS hpt.files (
    file_id TEXT PRIMARY KEY,
    facility_id TEXT NOT NULL,
    sha256 TEXT,
    status TEXT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    row_count BIGINT
);
CREATE INDEX IF NOT EXISTS files_by_facility ON hpt.files (facility_id, status, loaded_at);
CREATE TABLE IF NOT EXISTS hpt.ingest_log (
    attempted_at TIMESTAMP NOT NULL,
    facility_id TEXT,
    source TEXT,
    sha256 TEXT,
    outcome TEXT NOT NULL,
    message TEXT,
    file_id TEXT
);
CREATE INDEX IF NOT EXISTS ingest_log_by_bytes ON hpt.ingest_log (facility_id, sha256);
CREATE TABLE IF NOT EXISTS hpt.snapshots (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    published_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

#: Advisory lock keys (any constants unique to this schema).
_SCHEMA_LOCK = 7_305_001
_JOURNAL_LOCK = 7_305_002

_ready: set[str] = set()
_ready_lock = threading.Lock()


class CatalogError(RuntimeError):
    """The shared catalog cannot be reached or used; the message names it (no password)."""


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _connect(url: str) -> psycopg.Connection[Any]:
    """A connection, waiting up to `HPT_CATALOG_WAIT` seconds while the server is down or
    restarting; a missing database is created (the first worker of a new catalog)."""
    import psycopg

    deadline = time.monotonic() + settings.current().catalog_wait
    delay = 0.2
    while True:
        try:
            return psycopg.connect(url, connect_timeout=10)
        except psycopg.OperationalError as error:
            if "does not exist" in str(error) and "database" in str(error):
                _create_database(url)
                continue
            if time.monotonic() > deadline:
                raise CatalogError(
                    f"catalog {shown(url)} unreachable: {str(error).strip().splitlines()[-1]}"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.strip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with (
        psycopg.connect(admin, autocommit=True, connect_timeout=10) as con,
        contextlib.suppress(psycopg.errors.DuplicateDatabase),
    ):
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        log.info("catalog: created database %s", name)


@contextlib.contextmanager
def connection(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the shared catalog, its schema created if missing; the block is one
    transaction (committed when it ends, rolled back when it raises)."""
    con = _connect(url)
    try:
        with _ready_lock:
            if url not in _ready:
                with con.transaction():
                    con.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
                    con.execute(SCHEMA)  # type: ignore[arg-type]
                _ready.add(url)
        with con.transaction():
            yield con
    finally:
        con.close()


def rows(url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one query on the shared catalog."""
    with connection(url) as con:
        return con.execute(query, params).fetchall()  # type: ignore[arg-type]


def frame_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


class Entry:
    """One journal entry being built: the changes one catalog write makes, in order."""

    def __init__(self, op: str, facility_id: str | None = None, file_id: str | None = None):
        self.op, self.facility_id, self.file_id = op, facility_id, file_id
        self.changes: list[list[Any]] = []
        self.frames: list[bytes] = []

    def _frame(self, frame: pl.DataFrame) -> int:
        self.frames.append(frame_bytes(frame))
        return len(self.frames) - 1

    def delete(self, table: str, key: str) -> Entry:
        """Delete the rows of `table` whose key column (`TABLES`) equals `key`."""
        if TABLES.get(table) is None:
            raise ValueError(f"catalog journal: no key to delete {table} rows by")
        self.changes.append(["delete", table, key])
        return self

    def insert(self, table: str, rows: Sequence[Sequence[Any]] | pl.DataFrame) -> Entry:
        """Insert rows (in the table's column order) into `table`."""
        if table not in TABLES:
            raise ValueError(f"catalog journal: {table} is not a journaled table")
        frame = rows if isinstance(rows, pl.DataFrame) else _positional(rows)
        if frame.height:
            self.changes.append(["insert", table, self._frame(frame)])
        return self

    def upsert(self, statement: str, rows: Sequence[Sequence[Any]]) -> Entry:
        """Run `UPSERTS[statement]` once per row."""
        if statement not in UPSERTS:
            raise ValueError(f"catalog journal: no statement {statement}")
        self.changes.append(["upsert", statement, self._frame(_positional(rows))])
        return self

    def append(self, con: psycopg.Connection[Any]) -> int:
        """Append the entry in `con`'s transaction, which must commit soon after: the
        journal stays locked until then. Its sequence number."""
        from psycopg.types.json import Jsonb

        lock_journal(con)
        found = con.execute(
            "INSERT INTO hpt.journal (op, facility_id, file_id, changes, frames) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING seq",
            [self.op, self.facility_id, self.file_id, Jsonb(self.changes),
             self.frames],
        ).fetchone()  # fmt: skip
        assert found is not None
        return int(found[0])


def lock_journal(con: psycopg.Connection[Any]) -> None:
    """Hold the journal's lock until `con`'s transaction ends: what the transaction reads of
    `hpt.files` stays true until its entry is appended."""
    con.execute("SELECT pg_advisory_xact_lock(%s)", [_JOURNAL_LOCK])


def log_ingest(con: psycopg.Connection[Any], row: Sequence[Any]) -> None:
    """Keep an ingest attempt (attempted_at, facility_id, source, sha256, outcome, message,
    file_id) where workers look up what some bytes gave last time."""
    con.execute("INSERT INTO hpt.ingest_log VALUES (%s, %s, %s, %s, %s, %s, %s)", list(row))


def _positional(rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """Rows as a frame with columns c0…cN, each typed from all its values."""
    if not rows:
        return pl.DataFrame()
    width = len(rows[0])
    return pl.DataFrame(
        [list(row) for row in rows],
        schema=[f"c{i}" for i in range(width)],
        orient="row",
        infer_schema_length=None,
    )


def commit(url: str, entry: Entry) -> int:
    """Append one entry on its own; its sequence number."""
    with connection(url) as con:
        return entry.append(con)


def _applied(con: duckdb.DuckDBPyConnection) -> int:
    found = con.execute("SELECT max(seq) FROM catalog_journal").fetchall()
    return int(found[0][0] or 0)


def apply_pending(con: duckdb.DuckDBPyConnection, url: str, batch: int = 500) -> int:
    """Apply the journal's entries the host's catalog (`con`) has not applied yet, in
    order, each batch in one transaction with the number it reached; how many."""
    total = 0
    while True:
        after = _applied(con)
        with connection(url) as pg:
            entries = pg.execute(
                "SELECT seq, changes, frames FROM hpt.journal WHERE seq > %s ORDER BY seq LIMIT %s",
                [after, batch],
            ).fetchall()
        if not entries:
            return total
        con.execute("BEGIN")
        try:
            for _seq, changes, frames in entries:
                _apply(con, changes, frames)
            con.execute("INSERT INTO catalog_journal VALUES (?, current_timestamp)",
                        [entries[-1][0]])  # fmt: skip
            con.execute("DELETE FROM catalog_journal WHERE seq < ?", [entries[-1][0]])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        total += len(entries)
        log.debug("catalog: applied journal entries %s–%s", entries[0][0], entries[-1][0])


def _apply(con: duckdb.DuckDBPyConnection, changes: list[list[Any]], frames: list[bytes]) -> None:
    for change in changes:
        kind, target = change[0], change[1]
        if kind == "delete" and TABLES.get(target):
            con.execute(f"DELETE FROM {target} WHERE {TABLES[target]} = ?", [change[2]])
        elif kind == "insert" and target in TABLES:
            con.register("journal_rows", pl.read_ipc(io.BytesIO(frames[change[2]])))
            try:
                con.execute(f"INSERT INTO {target} SELECT * FROM journal_rows")
            finally:
                con.unregister("journal_rows")
        elif kind == "upsert" and target in UPSERTS:
            frame = pl.read_ipc(io.BytesIO(frames[change[2]]))
            for row in frame.iter_rows():
                con.execute(UPSERTS[target], list(row))
        else:
            raise CatalogError(f"catalog journal: unknown change {kind} {target}")


def set_status(url: str, file_ids: Sequence[str], status: str) -> None:
    """The host changed these files' status in its catalog (an operator accepted a held
    file): workers' view of them follows."""
    if file_ids:
        with connection(url) as con:
            con.execute(
                "UPDATE hpt.files SET status = %s WHERE file_id = ANY(%s)",
                [status, list(file_ids)],
            )


def expire(url: str, file_ids: Sequence[str], cutoff: dt.datetime, applied: int | None) -> None:
    """Retention on the host (`warehouse.retention.expire`) reaches the shared catalog:
    expired files are no longer known to workers (their bytes are read again if they come
    back), log rows before `cutoff` go, and so do applied journal entries before it, but
    the loads of files still loaded or held (a new host applying the journal from zero gets
    every current and kept file)."""
    with connection(url) as con:
        if file_ids:
            con.execute(
                "UPDATE hpt.files SET status = 'expired' WHERE file_id = ANY(%s)",
                [list(file_ids)],
            )
        con.execute("DELETE FROM hpt.ingest_log WHERE attempted_at < %s", [cutoff])
        con.execute(
            """
            DELETE FROM hpt.journal j WHERE seq <= %s AND committed_at < %s
                AND NOT (op = 'load' AND EXISTS (SELECT 1 FROM hpt.files f
                         WHERE f.file_id = j.file_id AND f.status IN ('loaded', 'held')))
            """,
            [applied or 0, cutoff.replace(tzinfo=dt.UTC)],  # `cutoff` is naive UTC
        )
