"""Untrusted SQL (`hpt sql`) on the published snapshot: reads only, within the warehouse.

A read-only DuckDB connection still reads and writes files: `COPY (…) TO '/any/path'`,
`read_csv('/etc/passwd')`, `ATTACH`, `INSTALL`. Here a query runs on a connection where

* file access is off except for the charge folder and the marts' runs folder the
  snapshot's views read (`allowed_directories`, then `enable_external_access = false`;
  extensions are neither installed nor loaded). DuckDB checks a path as written, before
  looking for it: the views' relative paths (`hpt-charges/…`, `hpt-marts/…`, found in the
  warehouse folder through `file_search_path`, which `reader` sets) are allowed as such.
  A relative path is also looked for in the working directory first, so `hpt sql` run
  elsewhere than the warehouse folder can read a `hpt-charges/` folder there too — a
  folder of that name only,
* the configuration is locked (`lock_configuration = true`): no `SET` undoes the above,
* only one statement is accepted, and only a read — a `SELECT` (which includes `WITH`,
  `FROM …`, `DESCRIBE`, `SHOW`, `SUMMARIZE`) or an `EXPLAIN` of one; DuckDB's own parser
  says which (`duckdb.extract_statements`). A `COPY` into the charge folder would pass the
  file checks, so the statement check is not optional,
* a timer interrupts it after a time limit, and at most a given number of rows is fetched.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import duckdb
import polars as pl

from warehouse.db import Warehouse, reader
from warehouse.marts import runs

_READS = {duckdb.StatementType.SELECT}
# `EXPLAIN ANALYZE COPY …` runs the COPY: an EXPLAIN passes only when what it explains does.
_EXPLAIN = re.compile(r"\s*explain\s+(?:analy[sz]e\s+)?", re.IGNORECASE)


class RefusedQuery(ValueError):
    """A query `hpt sql` does not run; the message is one line saying why."""


@dataclass
class QueryResult:
    """The first rows of a query's result, and whether there were more."""

    frame: pl.DataFrame
    truncated: bool


def read_only_statement(sql: str) -> str:
    """The one read statement in `sql`, or raise `RefusedQuery` (DuckDB's parse errors too)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise RefusedQuery(str(error).splitlines()[0]) from None
    if len(statements) != 1:
        raise RefusedQuery(f"give exactly one statement (got {len(statements)})")
    [statement] = statements
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        explained = _EXPLAIN.match(statement.query)
        try:
            read_only_statement(statement.query[explained.end() :] if explained else "")
        except RefusedQuery:
            raise RefusedQuery("only an EXPLAIN of a SELECT is run") from None
    elif kind not in _READS:
        raise RefusedQuery(
            f"only reads are run (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN), not {kind.name}"
        )
    return sql


def sandboxed(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """The published snapshot, read-only, reading no file but the warehouse's charges, its
    configuration locked. Raises FileNotFoundError when nothing is published yet."""
    con = reader(wh)
    try:
        # A trailing separator: `…/hpt-charges-other` is not inside `…/hpt-charges`.
        allowed = [
            entry
            for folder in (wh.charges_dir, runs.local_folder(wh))
            for entry in (f"{folder.resolve()}/", f"{wh.relative(folder)}/")
        ]
        con.execute("SET allowed_directories = ?", [allowed])
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, *, timeout: float, max_rows: int
) -> QueryResult:
    """Run one read statement (`read_only_statement`) on `con` (made by `sandboxed`): at
    most `max_rows` rows, interrupted after `timeout` seconds (`RefusedQuery` then)."""
    relation = None
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = con.sql(read_only_statement(sql))
        if relation is None:  # not a query after all: nothing to show
            return QueryResult(pl.DataFrame(), truncated=False)
        frame = relation.limit(max_rows + 1).pl()
    except duckdb.InterruptException:
        raise RefusedQuery(f"stopped after {timeout:g} s (the time limit)") from None
    finally:
        timer.cancel()
    return QueryResult(frame.head(max_rows), truncated=frame.height > max_rows)
