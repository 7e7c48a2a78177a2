"""The dashboard's connection: the published read snapshot, reopened after each publish.

Loads write the catalog and then switch `<db stem>-published/current.duckdb` (a symlink) to
a fresh copy. The dashboard never opens the writer's file, so a nightly load never waits on
it and it never waits on a load. One read-only connection per snapshot file is cached for
the whole server; a page asks for it on every run, and as soon as the symlink points at a
new file the next run opens that one (the old file stays readable until its last reader
lets go, even after the publisher prunes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import streamlit as st

from core import settings
from warehouse.db import Warehouse


@dataclass(frozen=True)
class Snapshot:
    """A read-only connection to one published snapshot file."""

    path: Path
    con: duckdb.DuckDBPyConnection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for this script run: DuckDB connections are not shared across threads."""
        return self.con.cursor()


class NoSnapshot(Exception):
    """There is nothing published to read yet (first run) or the snapshot vanished."""


def warehouse() -> Warehouse:
    """The warehouse the dashboard serves: `HPT_DB` (set by `hpt dashboard --db`)."""
    return Warehouse.at(settings.current().db)


def current_target(wh: Warehouse) -> Path | None:
    """The snapshot file `current.duckdb` points at now, or None when nothing is published."""
    try:
        return Path(os.path.realpath(wh.published_path, strict=True))
    except OSError:
        return None


# Two entries: the snapshot in use and the one just replaced (sessions mid-run keep theirs).
@st.cache_resource(max_entries=2, show_spinner=False)
def _open(target: str) -> duckdb.DuckDBPyConnection:
    # Parquet footers cached per connection: a mart view reads one file per facility, and
    # the files never change.
    con = duckdb.connect(target, read_only=True)
    con.execute("SET parquet_metadata_cache = true")
    return con


def snapshot() -> Snapshot:
    """The newest published snapshot; raises NoSnapshot with a one-line reason."""
    wh = warehouse()
    target = current_target(wh)
    if target is None:
        raise NoSnapshot(
            f"No published warehouse at {wh.published_path} yet: "
            "run `hpt ingest` or `hpt run` to load hospitals."
        )
    try:
        return Snapshot(target, _open(str(target)))
    except duckdb.IOException as error:
        # Pruned between the symlink read and the open: a new publish just landed.
        raise NoSnapshot(
            f"The warehouse is being republished; reload in a moment ({error})"
        ) from None
