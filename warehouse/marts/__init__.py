"""The comparison marts: comparable prices by code, facility, payer and plan type.

`rebuild(con)` runs in the writer's catalog after every publish (before the snapshot copy),
so readers get marts that match the charges they see. The heavy part (every current rate
× code) is skipped when neither the current files nor the rules changed since the last
build; the small marts (code_summary, code_catalog, facility_summary) are always rebuilt,
as facility locations and compliance scores change without a new file. Idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from importlib import resources

import duckdb
import polars as pl

from core import settings
from transform.payers import payer_map

log = logging.getLogger("hpt.marts")
_SQL = ("01_comparable_charges.sql", "02_rate_codes.sql", "03_price_compare.sql")
_PART_SQL = "03_price_compare.sql"
_SMALL_SQL = ("04_code_summary.sql",)
_DATA = ("payers.csv", "payer_aliases.csv", "shoppable_services.csv")


@dataclass(frozen=True)
class BuildReport:
    """What one rebuild did."""

    skipped_heavy: bool
    seconds: float
    price_compare_rows: int


def _sql(name: str) -> str:
    return resources.files("warehouse.marts").joinpath(name).read_text(encoding="utf-8")


def _data(name: str) -> str:
    return resources.files("transform").joinpath("data", name).read_text(encoding="utf-8")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT internal",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def _exists(con: duckdb.DuckDBPyConnection, name: str, kind: str) -> bool:
    catalog = "duckdb_views()" if kind == "view" else "duckdb_tables()"
    col = "view_name" if kind == "view" else "table_name"
    rows = con.execute(
        f"SELECT count(*) FROM {catalog} WHERE {col} = ? AND NOT temporary", [name]
    ).fetchall()
    return bool(rows[0][0])


def _signature(con: duckdb.DuckDBPyConnection) -> str:
    """What the heavy marts depend on: the current files and the rules (data + SQL)."""
    digest = hashlib.sha256()
    for (file_id,) in con.execute(
        "SELECT file_id FROM current_files ORDER BY facility_id"
    ).fetchall():
        digest.update(file_id.encode())
    for name in _DATA:
        digest.update(_data(name).encode())
    for name in _SQL:
        digest.update(_sql(name).encode())
    return digest.hexdigest()


def _load_payer_map(con: duckdb.DuckDBPyConnection) -> None:
    """Canonical payer and plan type for every published payer/plan pair, old files too."""
    pairs = con.sql(
        "SELECT DISTINCT payer_name, plan_name FROM charge_history "
        "WHERE payer_name IS NOT NULL OR plan_name IS NOT NULL"
    ).pl()
    mapping = payer_map(pairs)
    con.register("staged_payer_map", mapping)
    con.execute("CREATE OR REPLACE TABLE payer_map AS SELECT * FROM staged_payer_map")
    con.unregister("staged_payer_map")


def _load_shoppable(con: duckdb.DuckDBPyConnection) -> None:
    frame = pl.read_csv(_data("shoppable_services.csv").encode(), infer_schema=False)
    con.register("staged_shoppable", frame)
    con.execute("CREATE OR REPLACE TABLE shoppable_services AS SELECT * FROM staged_shoppable")
    con.unregister("staged_shoppable")


def _parts(con: duckdb.DuckDBPyConnection, rows_per_part: int) -> list[tuple[str, str]]:
    """Contiguous code ranges of about `rows_per_part` working rows each, in code order."""
    counts = con.execute("SELECT code, count(*) FROM rate_codes GROUP BY code ORDER BY code")
    parts: list[tuple[str, str]] = []
    first: str | None = None
    last = ""
    size = 0
    for last, n in counts.fetchall():
        first = last if first is None else first
        size += n
        if size >= rows_per_part:
            parts.append((first, last))
            first, size = None, 0
    if first is not None:
        parts.append((first, last))
    return parts


def _heavy(con: duckdb.DuckDBPyConnection) -> None:
    """The working set of every rate × code, then the big marts filled part by part."""
    _load_payer_map(con)
    for name in _SQL:
        if name != _PART_SQL:
            con.execute(_sql(name))
    part_sql = _sql(_PART_SQL)
    for low, high in _parts(con, settings.current().mart_part_rows):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rate_codes_part AS "
            "SELECT * FROM rate_codes WHERE code BETWEEN ? AND ?",
            [low, high],
        )
        con.execute(part_sql)
    con.execute("DROP TABLE IF EXISTS rate_codes_part")
    con.execute("DROP TABLE rate_codes")


def _facility_locations(con: duckdb.DuckDBPyConnection) -> None:
    """State, city and ZIP of each facility: registry columns when present, else the license."""
    cols = _columns(con, "facilities")

    def pick(*names: str) -> str:
        present = [n for n in names if n in cols]
        return f"coalesce({', '.join(present)})" if present else "NULL::VARCHAR"

    con.execute(
        f"""
        CREATE OR REPLACE VIEW facility_locations AS
        SELECT facility_id, hospital_name,
               upper({pick("state", "license_state")}) AS state,
               {pick("city")} AS city,
               {pick("zip", "zip_code")} AS zip
        FROM facilities
        """
    )


def _facility_summary(con: duckdb.DuckDBPyConnection, built_at: dt.datetime) -> None:
    """Per facility: current file, rates, codes, share comparable, compliance, freshness."""
    compliance, join = "NULL::DOUBLE", ""
    if _exists(con, "facility_compliance", "view") or _exists(con, "facility_compliance", "table"):
        score = next(
            (c for c in ("compliance_score", "score") if c in _columns(con, "facility_compliance")),
            None,
        )
        if score:
            compliance = f"q.{score}"
            join = "LEFT JOIN facility_compliance q USING (facility_id)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE facility_summary AS
        WITH rates AS (
            SELECT facility_id,
                   count(*) FILTER (payer_name IS NOT NULL OR plan_name IS NOT NULL) AS rates,
                   count(*) FILTER ((payer_name IS NOT NULL OR plan_name IS NOT NULL)
                                    AND exclusion_reason IS NULL) AS comparable_rates,
                   count(*) FILTER (payer_matched) AS mapped_rates
            FROM comparable_charges GROUP BY facility_id
        ),
        codes AS (
            SELECT facility_id, count(DISTINCT (code_type, code)) AS codes
            FROM facility_code_prices GROUP BY facility_id
        )
        SELECT f.facility_id, l.hospital_name, l.state, l.city, l.zip,
               f.file_id AS current_file_id, f.version, f.layout, f.row_count,
               coalesce(r.rates, 0) AS rates,
               coalesce(c.codes, 0) AS codes,
               r.comparable_rates / nullif(r.rates, 0) AS share_comparable,
               r.mapped_rates / nullif(r.rates, 0) AS share_payer_mapped,
               {compliance} AS compliance_score,
               f.last_updated_on, f.loaded_at,
               date_diff('day', f.last_updated_on, ?::DATE) AS days_since_update,
               ?::TIMESTAMP AS built_at
        FROM current_files f
        LEFT JOIN facility_locations l USING (facility_id)
        LEFT JOIN rates r USING (facility_id)
        LEFT JOIN codes c USING (facility_id)
        {join}
        ORDER BY f.facility_id
        """,
        [built_at.date(), built_at],
    )


def rebuild(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> BuildReport:
    """(Re)build the comparison marts in the writer's catalog; one transaction."""
    started = time.monotonic()
    built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # Medians per group hold their values in memory: cap what the build may take (it spills
    # to disk beyond that) so a big rebuild never starves the machine.
    con.execute("SET memory_limit = ?", [settings.current().mart_memory_limit])
    con.execute("BEGIN")
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS mart_builds "
            "(built_at TIMESTAMP, signature VARCHAR, seconds DOUBLE, heavy BOOLEAN)"
        )
        signature = _signature(con)
        last = con.execute(
            "SELECT signature FROM mart_builds WHERE heavy ORDER BY built_at DESC LIMIT 1"
        ).fetchall()
        heavy = (
            force
            or not last
            or last[0][0] != signature
            or not _exists(con, "price_compare", "table")
        )
        _facility_locations(con)
        _load_shoppable(con)
        if heavy:
            _heavy(con)
        for name in _SMALL_SQL:
            con.execute(_sql(name))
        _facility_summary(con, built_at)
        seconds = time.monotonic() - started
        con.execute(
            "INSERT INTO mart_builds VALUES (?, ?, ?, ?)", [built_at, signature, seconds, heavy]
        )
        rows = con.execute("SELECT count(*) FROM price_compare").fetchall()[0][0]
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("RESET memory_limit")
    log.info("marts rebuilt in %.1f s (heavy part %s)", seconds, "run" if heavy else "skipped")
    return BuildReport(skipped_heavy=not heavy, seconds=seconds, price_compare_rows=rows)
