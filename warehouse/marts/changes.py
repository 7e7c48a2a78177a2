"""What changed: a facility's prices in its new current file against its previous one.

Derived when a publish folds in a file whose facility had another file folded in before,
from the two files' judged marts only (their `price_compare` and `facility_code_prices`
Parquet files, one facility's aggregates each): per service code, setting, price unit,
payer and plan type the two median negotiated dollars (and gross charge and cash price);
the codes one file prices and the other not. Written once per file pair beside the new
file's judged marts (`judged/price_changes-*.parquet`, `judged/code_changes-*.parquet`)
and listed in `mart_change_files`; its biggest moves are kept in the small catalog table
`top_price_changes`, which the national list of the dashboard reads. A facility's first
file has no changes; a held file never becomes current, so it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from warehouse.db import Warehouse
from warehouse.views import typed_parquet_view

#: A move counts (up or down, and in the top moves) only with both medians at least this
#: many dollars and a change of at least a cent: a $0.01 → $0.50 "change" is noise.
MIN_DOLLAR = 1.0
MIN_CHANGE = 0.01
#: The biggest moves (by % change) of each file pair kept in `top_price_changes`.
TOP_PER_FILE = 200

PRICE_CHANGES_COLUMNS = {
    "facility_id": "VARCHAR", "code_type": "VARCHAR", "code": "VARCHAR", "setting": "VARCHAR",
    "price_unit": "VARCHAR", "payer": "VARCHAR", "plan_type": "VARCHAR",
    "old_file_id": "VARCHAR", "new_file_id": "VARCHAR", "old_median": "DOUBLE",
    "new_median": "DOUBLE", "change": "DOUBLE", "change_pct": "DOUBLE", "old_rates": "BIGINT",
    "new_rates": "BIGINT", "old_gross": "DOUBLE", "new_gross": "DOUBLE", "old_cash": "DOUBLE",
    "new_cash": "DOUBLE", "changed_at": "TIMESTAMP",
}  # fmt: skip
CODE_CHANGES_COLUMNS = {
    "facility_id": "VARCHAR", "code_type": "VARCHAR", "code": "VARCHAR", "change": "VARCHAR",
    "description": "VARCHAR", "rates": "BIGINT", "median_dollar": "DOUBLE",
    "old_file_id": "VARCHAR", "new_file_id": "VARCHAR", "changed_at": "TIMESTAMP",
}  # fmt: skip


@dataclass(frozen=True)
class Judged:
    """A folded file's judged marts (paths relative to the warehouse root)."""

    file_id: str
    facility_id: str
    price_compare_path: str
    facility_prices_path: str


def folded(con: duckdb.DuckDBPyConnection) -> dict[str, Judged]:
    """Each facility's file folded into the marts now, by facility."""
    rows = con.execute(
        "SELECT file_id, facility_id, price_compare_path, facility_prices_path FROM mart_files"
    ).fetchall()
    return {r[1]: Judged(*r) for r in rows}


def _quote(path: str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


_KEYS = ("code_type", "code", "setting", "price_unit", "payer", "plan_type")


def derive(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    old: Judged,
    new: Judged,
    built_at: dt.datetime,
    stamp: str,
    place: Callable[[str], str] = str,
) -> None:
    """Compare `new` with `old` (the facility's previous file): write the pair's change
    files beside `new`'s judged marts, list them and keep the pair's top moves. `place`:
    where to read or write a location of the data's storage (`mirror.Mirror.path`)."""
    judged = wh.location(new.price_compare_path).rsplit("/", 1)[0]

    def at(stored: str) -> str:
        return _quote(place(wh.location(stored)))

    on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in _KEYS)
    params = [new.facility_id, old.file_id, new.file_id, built_at]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pair_price_changes AS
        SELECT ?::VARCHAR AS facility_id, n.code_type, n.code, n.setting, n.price_unit,
               n.payer, n.plan_type, ?::VARCHAR AS old_file_id, ?::VARCHAR AS new_file_id,
               o.median_dollar AS old_median, n.median_dollar AS new_median,
               n.median_dollar - o.median_dollar AS change,
               (n.median_dollar - o.median_dollar) / nullif(o.median_dollar, 0) AS change_pct,
               o.comparable_rates AS old_rates, n.comparable_rates AS new_rates,
               o.gross_charge AS old_gross, n.gross_charge AS new_gross,
               o.discounted_cash AS old_cash, n.discounted_cash AS new_cash,
               ?::TIMESTAMP AS changed_at
        FROM read_parquet({at(new.price_compare_path)}) n
        JOIN read_parquet({at(old.price_compare_path)}) o ON {on}
        WHERE n.median_dollar IS NOT NULL AND o.median_dollar IS NOT NULL
        ORDER BY n.code_type, n.code, n.setting, n.price_unit, n.payer, n.plan_type
        """,
        params,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pair_code_changes AS
        WITH o AS (
            SELECT code_type, code, mode(description) AS description,
                   sum(rates)::BIGINT AS rates, median(median_dollar) AS median_dollar
            FROM read_parquet({at(old.facility_prices_path)}) GROUP BY ALL
        ),
        n AS (
            SELECT code_type, code, mode(description) AS description,
                   sum(rates)::BIGINT AS rates, median(median_dollar) AS median_dollar
            FROM read_parquet({at(new.facility_prices_path)}) GROUP BY ALL
        ),
        both_ AS (
            SELECT 'added' AS change, * FROM n ANTI JOIN o USING (code_type, code)
            UNION ALL
            SELECT 'removed' AS change, * FROM o ANTI JOIN n USING (code_type, code)
        )
        SELECT ?::VARCHAR AS facility_id, code_type, code, change, description, rates,
               median_dollar, ?::VARCHAR AS old_file_id, ?::VARCHAR AS new_file_id,
               ?::TIMESTAMP AS changed_at
        FROM both_ ORDER BY change, code_type, code
        """,
        params,
    )
    prices = f"{judged}/price_changes-{stamp}.parquet"
    codes = f"{judged}/code_changes-{stamp}.parquet"
    con.execute(f"COPY pair_price_changes TO {_quote(place(prices))}")
    con.execute(f"COPY pair_code_changes TO {_quote(place(codes))}")
    moving = f"least(old_median, new_median) >= {MIN_DOLLAR} AND abs(change) >= {MIN_CHANGE}"
    con.execute("DELETE FROM mart_change_files WHERE new_file_id = ?", [new.file_id])
    con.execute(
        f"""
        INSERT INTO mart_change_files
        SELECT ?, ?, ?, ?, ?,
               (SELECT count(*) FROM pair_price_changes WHERE {moving} AND change > 0),
               (SELECT count(*) FROM pair_price_changes WHERE {moving} AND change < 0),
               (SELECT count(*) FROM pair_price_changes WHERE NOT ({moving})),
               (SELECT count(*) FROM pair_code_changes WHERE change = 'added'),
               (SELECT count(*) FROM pair_code_changes WHERE change = 'removed'),
               ?
        """,
        [new.file_id, old.file_id, new.facility_id, wh.relative(prices), wh.relative(codes),
         built_at],
    )  # fmt: skip
    con.execute("DELETE FROM top_price_changes WHERE facility_id = ?", [new.facility_id])
    con.execute(
        f"INSERT INTO top_price_changes SELECT * FROM pair_price_changes WHERE {moving} "
        f"ORDER BY abs(change_pct) DESC, code LIMIT {TOP_PER_FILE}"
    )
    for table in ("pair_price_changes", "pair_code_changes"):
        con.execute(f"DROP TABLE {table}")


def forget_gone(con: duckdb.DuckDBPyConnection) -> None:
    """Top moves of files no longer current (their facility's newer file took over)."""
    con.execute(
        "DELETE FROM top_price_changes WHERE new_file_id NOT IN (SELECT file_id FROM mart_files)"
    )


def create_views(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> None:
    """`price_changes` and `code_changes` (of the current files against their facility's
    previous file) and `file_timeline` (every file of every facility)."""
    for view, column, columns in (
        ("price_changes", "price_changes_path", PRICE_CHANGES_COLUMNS),
        ("code_changes", "code_changes_path", CODE_CHANGES_COLUMNS),
    ):
        paths = [
            wh.view_path(r[0])
            for r in con.execute(
                f"SELECT c.{column} FROM mart_change_files c "
                "JOIN mart_files m ON m.file_id = c.new_file_id ORDER BY c.facility_id"
            ).fetchall()
        ]
        typed_parquet_view(con, view, paths, columns)
    con.execute(
        """
        CREATE OR REPLACE VIEW file_timeline AS
        SELECT f.facility_id, f.file_id, f.status, f.loaded_at, f.last_updated_on,
               f.bytes AS size_bytes, f.row_count, c.rates, c.codes,
               f.file_id IN (SELECT file_id FROM mart_files) AS is_current
        FROM files f LEFT JOIN mart_file_counts c USING (file_id)
        ORDER BY f.facility_id, f.loaded_at
        """
    )
