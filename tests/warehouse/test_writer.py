"""The writer's catalog held open for a batch: nested blocks share it, and it is released."""

from __future__ import annotations

import subprocess
import sys
import threading

import duckdb
import pytest

from warehouse.db import Warehouse, writer

OPEN_ELSEWHERE = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"


def other_process_can_open(wh: Warehouse) -> bool:
    done = subprocess.run([sys.executable, "-c", OPEN_ELSEWHERE, str(wh.db_path)],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0


def test_nested_blocks_get_their_own_connection_to_the_held_catalog(wh: Warehouse) -> None:
    with writer(wh) as outer:
        outer.execute("CREATE TABLE t (n INTEGER)")
        with writer(wh) as inner:
            assert inner is not outer
            inner.execute("BEGIN")
            inner.execute("INSERT INTO t VALUES (1)")
            # A transaction of its own: the outer connection does not see it yet.
            assert outer.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
            inner.execute("COMMIT")
        assert outer.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
        assert not other_process_can_open(wh)  # held for the whole block
    assert other_process_can_open(wh)  # and released after it
    with writer(wh) as again:
        assert again.execute("SELECT count(*) FROM t").fetchall() == [(1,)]


def test_a_failed_block_releases_the_catalog(wh: Warehouse) -> None:
    with pytest.raises(duckdb.CatalogException), writer(wh) as con:
        con.execute("SELECT * FROM no_such_table")
    assert other_process_can_open(wh)


def test_another_thread_opens_its_own_connection(wh: Warehouse) -> None:
    """A thread's block is not a cursor of another thread's: it outlives that block."""
    opened, closed = threading.Event(), threading.Event()
    seen: list[object] = []

    def work() -> None:
        with writer(wh) as con:
            opened.set()
            closed.wait(10)
            seen.append(con.execute("SELECT 1").fetchall())

    with writer(wh):
        thread = threading.Thread(target=work)
        thread.start()
        assert opened.wait(10)
    closed.set()
    thread.join(10)
    assert seen == [[(1,)]]
