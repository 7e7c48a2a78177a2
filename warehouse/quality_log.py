"""The quality verdicts in the catalog: validation results, quarantined and held files,
the warehouse checks — written after the gate or the check decided, and read back for
`hpt quality`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from core.files import StagedFile
from core.outcomes import CheckOutcome, IngestOutcome
from quality.gate import GateResult
from quality.validate import Outcome
from warehouse import catalog
from warehouse.db import Warehouse, writer
from warehouse.load import log_attempt
from warehouse.views import refresh_charge_views


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


#: `quality_results` as a frame: rows go in as one insert of a registered frame, ~3x
#: faster than `executemany` (which runs one statement per row) for a suite's ~30 rows.
_RESULTS_SCHEMA = pl.Schema(
    {
        "validated_at": pl.Datetime("us"),
        "run_id": pl.String(),
        "suite": pl.String(),
        "file_id": pl.String(),
        "facility_id": pl.String(),
        "expectation": pl.String(),
        "column": pl.String(),
        "severity": pl.String(),
        "success": pl.Boolean(),
        "observed_value": pl.String(),
        "unexpected_count": pl.Int64(),
        "unexpected_percent": pl.Float64(),
        "why": pl.String(),
        "kwargs": pl.String(),
    }
)


def _record_outcomes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    outcomes: list[Outcome],
    *,
    file_id: str | None = None,
    facility_id: str | None = None,
) -> None:
    """Append one validation run's outcomes to `quality_results`."""
    _insert_outcomes(con, _outcomes(run_id, outcomes, file_id=file_id, facility_id=facility_id))


def _insert_outcomes(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    con.register("hpt_outcomes", frame)
    try:
        con.execute("INSERT INTO quality_results SELECT * FROM hpt_outcomes")
    finally:
        con.unregister("hpt_outcomes")


def _outcomes(
    run_id: str,
    outcomes: list[Outcome],
    *,
    file_id: str | None = None,
    facility_id: str | None = None,
) -> pl.DataFrame:
    """One validation run's outcomes as `quality_results` rows."""
    stamp = _now()
    rows = [
        [
            stamp,
            run_id,
            o.suite,
            file_id,
            facility_id,
            o.expectation,
            o.column,
            str(o.severity),
            o.success,
            json.dumps(o.observed_value),
            None if o.unexpected_count is None else int(o.unexpected_count),
            None if o.unexpected_percent is None else float(o.unexpected_percent),
            o.why,
            json.dumps(o.kwargs),
        ]
        for o in outcomes
    ]
    return pl.DataFrame(rows, schema=_RESULTS_SCHEMA, orient="row")


def record_gate(wh: Warehouse, staged: StagedFile, result: GateResult) -> None:
    """Store the gate's results on a staged file; a quarantined file is put in (again: the
    newest verdict replaces an older one), a file that passes leaves quarantine."""
    outcomes = _outcomes(
        result.run_id, result.outcomes, file_id=staged.file_id, facility_id=staged.facility_id
    )
    quarantined = [
        [
            staged.file_id,
            staged.facility_id,
            staged.source,
            staged.sha256,
            wh.relative(staged.data_path),
            staged.row_count,
            _now(),
            result.run_id,
            result.message,
            json.dumps(result.as_dict()),
        ]
    ]
    if result.outcome != CheckOutcome.QUARANTINED:
        quarantined = []
    if wh.catalog:
        entry = catalog.Entry("gate", staged.facility_id, staged.file_id)
        entry.insert("quality_results", outcomes).delete("quarantine", staged.file_id)
        catalog.commit(wh.catalog, entry.insert("quarantine", quarantined))
        return
    with writer(wh) as con:
        con.execute("BEGIN")
        _insert_outcomes(con, outcomes)
        con.execute("DELETE FROM quarantine WHERE file_id = ?", [staged.file_id])
        if quarantined:
            con.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        quarantined[0])  # fmt: skip
        con.execute("COMMIT")


def accept_held(wh: Warehouse, file_id: str) -> str:
    """An operator accepts a held file: it becomes loaded (current if newest); its facility.

    Raises ValueError naming the problem when there is no such file or it is not held."""
    with writer(wh) as con:
        row = con.execute(
            "SELECT facility_id, status, source, sha256 FROM files WHERE file_id = ?", [file_id]
        ).fetchone()
        if row is None:
            raise ValueError(f"no file {file_id} in the warehouse (see `hpt quality`)")
        facility_id, status, source, sha256 = row
        if status != IngestOutcome.HELD:
            raise ValueError(f"file {file_id} is {status}, not held: nothing to accept")
        con.execute("BEGIN")
        con.execute(
            "UPDATE files SET status = ?, status_reason = ? WHERE file_id = ?",
            [
                IngestOutcome.LOADED,
                f"accepted by an operator on {dt.date.today().isoformat()}",
                file_id,
            ],
        )
        refresh_charge_views(con, wh)
        con.execute("COMMIT")
    if wh.catalog:
        catalog.set_status(wh.catalog, [file_id], IngestOutcome.LOADED)
    log_attempt(
        wh, facility_id=facility_id, source=source, sha256=sha256, outcome=IngestOutcome.LOADED,
        message="held file accepted by an operator", file_id=file_id, seconds=0.0,
    )  # fmt: skip
    return str(facility_id)


def last_pass(wh: Warehouse, state: str) -> tuple[str, dt.datetime] | None:
    """The run id and time of the newest warehouse check, if it passed on this same state."""
    with writer(wh) as con:
        rows = con.execute(
            "SELECT run_id, checked_at, state, outcome FROM warehouse_checks "
            "ORDER BY checked_at DESC LIMIT 1"
        ).fetchall()
    if rows and rows[0][2] == state and rows[0][3] == CheckOutcome.PASSED:
        return rows[0][0], rows[0][1]
    return None


def record_warehouse_check(
    wh: Warehouse, result: GateResult, state: str, snapshot: Path | None = None
) -> None:
    """Store a warehouse check (its outcomes and the `state` digest it judged) in the
    catalog, and in `snapshot` too when given: a snapshot not yet published then carries
    its own check to readers."""
    with writer(wh) as con:
        con.execute("BEGIN")
        _record_outcomes(con, result.run_id, result.outcomes)
        con.execute(
            "INSERT INTO warehouse_checks VALUES (?, ?, ?, ?)",
            [_now(), result.run_id, state, result.outcome],
        )
        con.execute("COMMIT")
        if snapshot is not None:
            con.execute("ATTACH ? AS snapshot", [str(snapshot)])
            try:
                for table in ("quality_results", "warehouse_checks"):
                    con.execute(
                        f"INSERT INTO snapshot.{table} SELECT * FROM {table} WHERE run_id = ?",
                        [result.run_id],
                    )
            finally:
                con.execute("DETACH snapshot")


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


def _inbox(wh: Warehouse) -> str:
    """Where workers leave their validation results for the warehouse host (with
    `HPT_CATALOG`): a prefix of the data's storage the host empties at each publish."""
    return wh.storage.location(f"{wh.db_path.stem}-quality/inbox")


def send_results(wh: Warehouse, docs: Path) -> int:
    """With a shared catalog: move the validation results stored in `docs` (the gate's
    JSON files, under `results/`) to the inbox on the data's storage, where the warehouse
    host collects them for its Data Docs (`collect_results`); a worker keeps none. How many."""
    results = docs / "results"
    moved = 0
    for file in sorted(p for p in results.rglob("*.json") if p.is_file()):
        wh.storage.put(file, f"{_inbox(wh)}/{file.relative_to(results).as_posix()}")
        file.unlink()
        moved += 1
    return moved


def collect_results(wh: Warehouse, docs: Path) -> int:
    """The warehouse host takes the results workers left in the inbox into its own
    `docs/results/` (then deletes them there): its Data Docs show every file's
    validation. Costs what came since the last publish. How many."""
    inbox = _inbox(wh)
    taken = 0
    for path, _, _ in list(wh.storage.files(inbox)):
        name = path[len(inbox) + 1 :]
        parts = name.split("/")
        if not name.endswith(".json") or any(p in ("", ".", "..") for p in parts):
            continue  # not a result a worker put there
        target = docs / "results" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        wh.storage.filesystem.get_file(path, str(target))
        wh.storage.filesystem.rm(path)
        taken += 1
    return taken
