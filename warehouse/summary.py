"""A one-screen summary of a published warehouse, for people and for `make run`."""

from __future__ import annotations

import duckdb
import polars as pl


def facility_overview(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per facility with a current file: name, layout, version, rows, findings."""
    return con.sql(
        """
        SELECT f.facility_id, coalesce(c.hospital_name, f.hospital_name) AS hospital_name,
               c.layout, c.version, c.last_updated_on, c.row_count AS rows,
               c.error_count AS errors, c.alert_count AS alerts
        FROM current_files c JOIN facilities f USING (facility_id)
        ORDER BY f.facility_id
        """
    ).pl()


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts across the warehouse: facilities, current files, standard charges, codes."""
    row = con.sql(
        """
        SELECT (SELECT count(*) FROM current_files),
               (SELECT count(*) FROM files),
               (SELECT coalesce(sum(row_count), 0) FROM current_files),
               (SELECT count(*) FROM (SELECT DISTINCT code_type, code FROM standard_charge_codes)),
               (SELECT count(*) FROM ingest_log WHERE outcome = 'failed')
        """
    ).fetchall()[0]
    keys = ["facilities", "files", "standard_charges", "distinct_codes", "failed_attempts"]
    return dict(zip(keys, (int(v) for v in row), strict=True))
