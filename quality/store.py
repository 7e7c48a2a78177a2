"""Validation results and quarantined files in the warehouse catalog, and reading them back."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from quality.validate import Outcome


@dataclass(frozen=True)
class Quarantined:
    """A file that failed a blocking expectation: never loaded, never published."""

    file_id: str
    facility_id: str
    source: str | None
    sha256: str
    data_path: str
    row_count: int
    run_id: str
    reason: str
    summary: dict[str, Any]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_outcomes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    outcomes: list[Outcome],
    *,
    file_id: str | None = None,
    facility_id: str | None = None,
) -> None:
    """Append one validation run's outcomes to `quality_results`."""
    stamp = now()
    con.executemany(
        "INSERT INTO quality_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                stamp,
                run_id,
                o.suite,
                file_id,
                facility_id,
                o.expectation,
                o.column,
                o.severity,
                o.success,
                json.dumps(o.observed_value),
                o.unexpected_count,
                o.unexpected_percent,
                o.why,
                json.dumps(o.kwargs),
            ]
            for o in outcomes
        ],
    )


def record_quarantine(con: duckdb.DuckDBPyConnection, item: Quarantined) -> None:
    """Put a file in quarantine (again: the newest verdict replaces an older one)."""
    con.execute("DELETE FROM quarantine WHERE file_id = ?", [item.file_id])
    con.execute(
        "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.file_id,
            item.facility_id,
            item.source,
            item.sha256,
            item.data_path,
            item.row_count,
            now(),
            item.run_id,
            item.reason,
            json.dumps(item.summary),
        ],
    )


def release_quarantine(con: duckdb.DuckDBPyConnection, file_id: str) -> None:
    """A file that later passes the gate (e.g. after a fix) leaves quarantine."""
    con.execute("DELETE FROM quarantine WHERE file_id = ?", [file_id])


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def quarantined_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Quarantined files, newest first."""
    return _dicts(
        con,
        "SELECT file_id, facility_id, source, row_count, quarantined_at, reason "
        "FROM quarantine ORDER BY quarantined_at DESC",
    )


def held_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Files loaded as `held` (suspicious, not current) that no newer file replaced."""
    return _dicts(
        con,
        "SELECT f.file_id, f.facility_id, f.row_count, f.loaded_at, f.status_reason FROM files f "
        "WHERE f.status = 'held' AND NOT EXISTS (SELECT 1 FROM current_files c "
        "WHERE c.facility_id = f.facility_id AND c.loaded_at > f.loaded_at) "
        "ORDER BY f.loaded_at DESC",
    )


def latest_failures(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Failing expectations of the latest run of each file (and of the warehouse)."""
    return _dicts(
        con,
        """
        WITH latest AS (
            SELECT coalesce(file_id, '') AS key, arg_max(run_id, validated_at) AS run_id
            FROM quality_results GROUP BY 1
        )
        SELECT r.validated_at, r.file_id, r.facility_id, r.suite, r.expectation, r."column",
               r.severity, r.observed_value, r.unexpected_count, r.why
        FROM quality_results r JOIN latest l USING (run_id)
        WHERE NOT r.success
        ORDER BY r.validated_at DESC, r.suite, r.expectation, r."column"
        """,
    )
