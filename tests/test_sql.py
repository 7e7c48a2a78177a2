"""`hpt sql` runs one read on the published snapshot and nothing else: no file outside the
warehouse is read or written, no setting changed, a slow query stopped, a long result cut."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpt.cli import app
from warehouse.db import Warehouse
from warehouse.sandbox import RefusedQuery, read_only_statement, run_query, sandboxed

runner = CliRunner()
SLOW = "SELECT sum(hash(a.range * b.range)) FROM range(1000000) a, range(1000000) b"


def sql(wh: Warehouse, query: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sql", query, "--db", str(wh.db_path), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def refused(wh: Warehouse, query: str) -> str:
    code, out = sql(wh, query)
    assert code == 1, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    assert out.startswith("error: hpt sql: "), out
    return out


def test_reads_the_views(known_wh: Warehouse) -> None:
    """The views read Parquet files by path: they still work with file access off."""
    code, out = sql(known_wh, "SELECT facility_id, count(*) AS n FROM standard_charges "
                              "GROUP BY ALL ORDER BY 1")  # fmt: skip
    assert code == 0, out
    assert "tx-a" in out and "facility_id" in out
    reads = ["DESCRIBE standard_charges", "SHOW TABLES", "EXPLAIN SELECT 1",
             "WITH t AS (SELECT 1 AS one) SELECT * FROM t",
             "FROM price_compare LIMIT 1"]  # fmt: skip
    for query in reads:
        code, out = sql(known_wh, query)
        assert code == 0, (query, out)


def test_copy_writes_nothing_anywhere(known_wh: Warehouse, tmp_path: Path) -> None:
    for target in (tmp_path / "out.csv", known_wh.charges_dir / "out.csv"):
        out = refused(known_wh, f"COPY (SELECT * FROM standard_charges) TO '{target}'")
        assert "not COPY" in out
        out = refused(known_wh, f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'")
        assert not target.exists()


def test_no_file_outside_the_warehouse_is_read(known_wh: Warehouse, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    for query in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM read_parquet('{known_wh.charges_dir}/../../../../etc/passwd')",
        f"SELECT * FROM glob('{tmp_path}/*')",
    ):
        out = refused(known_wh, query)
        assert "hunter2" not in out and "root:" not in out


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("ATTACH '/tmp/other.duckdb' AS other", "not ATTACH"),
        ("INSTALL httpfs", "not LOAD"),
        ("LOAD httpfs", "not LOAD"),
        ("SET enable_external_access = true", "not SET"),
        ("RESET lock_configuration", "not"),
        ("PRAGMA version", "not PRAGMA"),
        ("CALL pragma_version()", "not CALL"),
        ("CREATE TABLE t AS SELECT 1", "not CREATE"),
        ("EXPORT DATABASE '/tmp/dump'", "not EXPORT"),
        ("SELECT 1; SELECT 2", "exactly one statement (got 2)"),
        ("SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'", "exactly one statement"),
        ("", "exactly one statement (got 0)"),
        ("SELEC 1", "syntax error"),
    ],
)
def test_anything_but_one_read_is_refused(known_wh: Warehouse, query: str, why: str) -> None:
    assert why in refused(known_wh, query)


def test_the_configuration_is_locked(known_wh: Warehouse) -> None:
    """Even past the statement check, the connection itself refuses to loosen up."""
    con = sandboxed(known_wh)
    try:
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")
    finally:
        con.close()


def test_a_slow_query_is_stopped(known_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_SQL_TIMEOUT_SECONDS", "0.5")
    started = time.monotonic()
    out = refused(known_wh, SLOW)
    assert "stopped after 0.5 s" in out
    assert time.monotonic() - started < 30


def test_rows_are_capped(known_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_SQL_MAX_ROWS", "5")
    code, out = sql(known_wh, "SELECT range AS n FROM range(1000000)")
    assert code == 0 and "more than 5 rows (HPT_SQL_MAX_ROWS)" in out
    con = sandboxed(known_wh)
    try:
        result = run_query(con, "SELECT range AS n FROM range(1000000)", timeout=10, max_rows=5)
        assert result.truncated and result.frame["n"].to_list() == [0, 1, 2, 3, 4]
        exact = run_query(con, "SELECT range AS n FROM range(5)", timeout=10, max_rows=5)
        assert not exact.truncated and exact.frame.height == 5
    finally:
        con.close()


def test_the_statement_check_uses_duckdbs_parser() -> None:
    assert read_only_statement("  select 1 -- a comment; copy") == "  select 1 -- a comment; copy"
    assert read_only_statement("SUMMARIZE SELECT 1")
    with pytest.raises(RefusedQuery, match="EXPLAIN of a SELECT"):
        read_only_statement("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'")
    with pytest.raises(RefusedQuery, match="not COPY"):
        read_only_statement("/* SELECT */ COPY (SELECT 1) TO 'x.csv'")


def test_nothing_published_is_one_line(wh: Warehouse) -> None:
    code, out = sql(wh, "SELECT 1")
    assert code == 1 and "no published warehouse" in out and len(out.strip().splitlines()) <= 2
