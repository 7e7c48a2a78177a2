"""The dashboard's connection: the published read snapshot, reopened after each publish.

Loads write the catalog and then switch `<db stem>-published/current.duckdb` (a symlink) to
a fresh copy. The dashboard never opens the writer's file, so a nightly load never waits on
it and it never waits on a load. One read-only connection per snapshot file is cached for
the whole server; a page asks for it on every run, and as soon as the symlink points at a
new file the next run opens that one (the old file stays readable until its last reader
lets go, even after the publisher prunes it). With a shared catalog (`HPT_CATALOG`) the
dashboard may run on another machine than the loads: the newest snapshot the catalog names
is fetched from the data's storage into its own `<db stem>-published/` once, then opened
the same way (`warehouse.snapshots`).

A snapshot file never changes once published (a publish writes a new file and switches the
link), so what a query returned for one file is what it returns for that file forever: pages
read through `Snapshot.lookup` and `Snapshot.read`, which keep results per snapshot path and
query parameters, and a publish is picked up by the very next run (its path is a new key).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import duckdb
import streamlit as st

from core import settings
from core.warehouse_files import open_snapshot
from warehouse.catalog import CatalogError
from warehouse.db import Warehouse, published_snapshot, unpublished

P = ParamSpec("P")
R = TypeVar("R")
Query = Callable[Concatenate[duckdb.DuckDBPyConnection, P], R]

#: Cached results are dropped after this long (and the least recently used first beyond
#: each cache's size): what an older snapshot returned does not stay in memory for good.
CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Snapshot:
    """A read-only connection to one published snapshot file."""

    path: Path
    con: duckdb.DuckDBPyConnection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for this script run: DuckDB connections are not shared across threads."""
        return self.con.cursor()

    def lookup(self, query: Query[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`query(cursor, *args, **kwargs)` on this snapshot, cached for every session: for
        small answers (lists of states and payers, labels, one facility's rows)."""
        return cast(R, _lookups(str(self.path), _name(query), args, kwargs, query, self))

    def read(self, query: Query[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`lookup` for answers that grow with the warehouse (a service's prices at every
        hospital, per payer): fewer of them are kept."""
        return cast(R, _results(str(self.path), _name(query), args, kwargs, query, self))


def _name(query: Callable[..., Any]) -> str:
    """The query's full name; with its file, since every page script runs as `__main__`."""
    code = getattr(query, "__code__", None)
    where = f"@{code.co_filename}" if code is not None else ""
    return f"{query.__module__}.{query.__qualname__}{where}"


# The key is the snapshot file, the query's name and its arguments; the query and the
# snapshot object (underscored) are not part of it. Each result is pickled once and every
# hit gets its own copy, so a page cannot change what another session is shown.
@st.cache_data(max_entries=2000, ttl=CACHE_SECONDS, show_spinner=False)
def _lookups(target: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             _query: Callable[..., Any], _snap: Snapshot) -> Any:  # fmt: skip
    return _query(_snap.cursor(), *args, **kwargs)


@st.cache_data(max_entries=200, ttl=CACHE_SECONDS, show_spinner=False)
def _results(target: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             _query: Callable[..., Any], _snap: Snapshot) -> Any:  # fmt: skip
    return _query(_snap.cursor(), *args, **kwargs)


class NoSnapshot(Exception):
    """There is nothing published to read yet (first run) or the snapshot vanished."""


def warehouse() -> Warehouse:
    """The warehouse the dashboard serves: `HPT_DB` (set by `hpt dashboard --db`)."""
    return Warehouse.at(settings.current().db)


def current_target(wh: Warehouse) -> Path | None:
    """The snapshot file `current.duckdb` points at now — with a shared catalog
    (`HPT_CATALOG`), the newest it names, fetched from the data's storage into this
    machine's `published_dir` (`warehouse.db.published_snapshot`) — or None when nothing
    is published."""
    return published_snapshot(wh)


# Two entries: the snapshot in use and the one just replaced (sessions mid-run keep theirs).
@st.cache_resource(max_entries=2, show_spinner=False)
def _open(target: str) -> duckdb.DuckDBPyConnection:
    # Its views' relative paths resolved in its warehouse folder, Parquet footers cached
    # (a mart view reads one file per facility, and the files never change).
    con = open_snapshot(target)
    threading.Thread(target=_read_footers, args=(con.cursor(),), daemon=True).start()
    return con


def _read_footers(cursor: duckdb.DuckDBPyConnection) -> None:
    """Read every mart file's footer into the cache, in the background: the first price
    query on a snapshot of 500 facilities otherwise waits ~1 s for them."""
    try:
        for view in ("price_compare", "facility_code_prices"):
            cursor.execute(f"SELECT count(*) FROM {view} WHERE code = ''").fetchall()
    except duckdb.Error:
        pass  # an older snapshot without the view, or one pruned: the queries will say
    finally:
        cursor.close()


def snapshot() -> Snapshot:
    """The newest published snapshot; raises NoSnapshot with a one-line reason."""
    wh = warehouse()
    try:
        target = current_target(wh)
    except (OSError, CatalogError) as error:  # the shared catalog's or the storage's
        raise NoSnapshot(
            f"The published warehouse cannot be fetched now; reload in a moment ({error})"
        ) from None
    if target is None:
        raise NoSnapshot(
            f"No published warehouse {unpublished(wh)} yet: "
            "run `hpt ingest` or `hpt run` to load hospitals."
        )
    try:
        return Snapshot(target, _open(str(target)))
    except duckdb.IOException as error:
        # Pruned between the symlink read and the open: a new publish just landed.
        raise NoSnapshot(
            f"The warehouse is being republished; reload in a moment ({error})"
        ) from None
