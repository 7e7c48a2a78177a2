"""The analyst views over the Parquet charge files, rebuilt whenever the current set changes.

`standard_charges` reads the current file of each facility; `charge_history` every loaded
file; `standard_charge_codes` has one row per (standard charge, code), keyed by the code's
service type (`warehouse.service_codes`) with the published type beside it. The list of
Parquet files is written into the view, so a reader needs no listing of the charge folder;
the paths are relative to the warehouse root, as the catalog stores them
(`Warehouse.relative`), or full paths or `s3://` URLs when the data lives elsewhere
(`Warehouse.view_path`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import duckdb

from warehouse.db import Warehouse
from warehouse.service_codes import create_macros

CHARGE_COLUMNS = """
    file_id, facility_id, row_no, description, setting, billing_class, modifiers,
    drug_unit, drug_unit_type, gross_charge, discounted_cash, deidentified_min,
    deidentified_max, payer_name, plan_name, methodology, negotiated_dollar,
    negotiated_percentage, negotiated_algorithm, median_allowed, p10_allowed, p90_allowed,
    allowed_count, estimated_amount, notes, payer_notes, codes
"""


def parquet_source(paths: list[str], empty: str) -> str:
    """A SQL list of Parquet paths (or globs) for `read_parquet`; `[empty]` when none."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in (paths or [empty])) + "]"


def typed_parquet_view(
    con: duckdb.DuckDBPyConnection, name: str, paths: list[str], columns: dict[str, str]
) -> None:
    """(Re)create view `name` with `columns` (name → SQL type) over the Parquet files
    `paths`; an empty view of those columns when there are none."""
    names = ", ".join(columns)
    source = (
        f"SELECT {names} FROM read_parquet({parquet_source(paths, '')})"
        if paths
        else "SELECT " + ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items()) + " LIMIT 0"
    )
    con.execute(f"CREATE OR REPLACE VIEW {name} AS {source}")


def _parquet_view(name: str, folders: list[str], empty: str) -> str:
    source = parquet_source([f"{folder}/*.parquet" for folder in folders], empty)
    return (
        f"CREATE OR REPLACE VIEW {name} AS SELECT {CHARGE_COLUMNS} "
        # Columns are matched by name; every charge file has the stored schema, so the
        # view is bound from the first file alone (union_by_name would read every
        # file's footer at each refresh, and at every snapshot a publish writes).
        f"FROM read_parquet({source})"
    )


_deferred: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "hpt_views_deferred", default=False
)


@contextlib.contextmanager
def views_deferred() -> Iterator[None]:
    """Within the block, a load leaves the charge views as they are; whoever opened the
    block publishes after it, which refreshes them once. Creating the views reads every
    listed Parquet file's footer, a cost that grows with the warehouse: per file of a batch
    of hundreds it would dominate."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


def refresh_after_load(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> None:
    """`refresh_charge_views` after a load, unless inside `views_deferred()`."""
    if not _deferred.get():
        refresh_charge_views(con, wh)


def refresh_charge_views(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> None:
    """(Re)create the charge views from the catalog's current and loaded files."""
    current = [
        wh.view_path(r[0])
        for r in con.execute("SELECT data_path FROM current_files ORDER BY facility_id").fetchall()
    ]
    loaded = [
        wh.view_path(r[0])
        for r in con.execute(
            "SELECT data_path FROM files WHERE status = 'loaded' ORDER BY loaded_at"
        ).fetchall()
    ]
    empty = wh.relative(wh.empty_charges)
    con.execute(_parquet_view("standard_charges", current, empty))
    con.execute(_parquet_view("charge_history", loaded, empty))
    create_macros(con)
    con.execute(
        """
        CREATE OR REPLACE VIEW standard_charge_codes AS
        SELECT c.* EXCLUDE (codes),
               service_code_type(u.code.type, u.code.code) AS code_type,
               u.code.code AS code,
               u.code.type AS published_code_type
        FROM standard_charges c, UNNEST(c.codes) AS u(code)
        """
    )
