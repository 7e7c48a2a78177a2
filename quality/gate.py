"""The data-quality gate between transform and publish, and the warehouse check after it.

`gate(wh, staged)` validates one file's normalised batch (its Parquet data) before it is
loaded: a blocking failure quarantines it, a sharp drop in rows holds it back, warnings are
recorded. `check_warehouse(wh)` validates the published warehouse. The `hpt` CLI and the
Airflow DAG call these same functions. Great Expectations is imported only inside them:
it is slow to import and a DAG file is parsed often.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

from core import settings
from quality import suites
from quality.store import (
    Quarantined,
    now,
    record_outcomes,
    record_quarantine,
    release_quarantine,
)
from quality.validate import Outcome
from warehouse.db import Warehouse, writer
from warehouse.load import StagedFile, log_attempt
from warehouse.publish import publish
from warehouse.views import refresh_charge_views

log = logging.getLogger("hpt")


@dataclass
class GateResult:
    """The verdict on one batch (or on the warehouse): JSON-friendly via `as_dict()`.

    `outcome` is `passed`, `held`, `quarantined` or `skipped` (gate switched off); for the
    warehouse check `passed`, `failed` or `unchanged` (not validated again).
    """

    outcome: str
    message: str = ""
    file_id: str | None = None
    facility_id: str | None = None
    run_id: str = ""
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        """The `files.status` to load the batch with; None when it must not be loaded."""
        return {"passed": "loaded", "skipped": "loaded", "held": "held"}.get(self.outcome)

    def failed(self, *severities: str) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity in severities]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "message": self.message,
            "file_id": self.file_id,
            "facility_id": self.facility_id,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "evaluated": len(self.outcomes),
            "failed": [o.as_dict() for o in self.outcomes if not o.success],
        }


def _enabled() -> bool:
    return settings.current().quality_gate


def _import_gx() -> None:
    try:
        from quality import gx_duckdb

        gx_duckdb.enable_duckdb()  # imports great_expectations
    except Exception:  # the gate imports again and reports a real failure
        pass


def warm_up() -> threading.Thread | None:
    """Import Great Expectations in a background thread while a file is parsed.

    The import takes seconds (tens on a busy machine); parsing a large file takes longer
    and runs mostly outside the GIL, so the gate then starts without waiting for it.
    """
    if not _enabled() or "great_expectations.execution_engine" in sys.modules:
        return None
    thread = threading.Thread(target=_import_gx, name="hpt-gx-import", daemon=True)
    thread.start()
    return thread


def docs_dir(wh: Warehouse) -> Path:
    """Where Data Docs are built: HPT_QUALITY_DOCS, else `<db stem>-quality` beside the db."""
    configured = settings.current().quality_docs
    return configured if configured else wh.root / f"{wh.db_path.stem}-quality"


#: The newest validation time whose Data Docs page is rendered (in the site folder).
_RENDERED = ".rendered-until"


def build_docs(wh: Warehouse) -> int:
    """Render the Data Docs pages of the validations stored since the last build, and the
    index; return how many pages were rendered (0: nothing new, nothing done).

    Validations only store their results: pages are rendered once per publish (`hpt
    ingest`, `hpt run`, the DAG's publish task, `hpt quality check`) and by `hpt quality
    docs`, not after each validation — the index reads every stored result, so rendering
    it per file cost 0.25 s and more as the store grows.
    """
    docs = docs_dir(wh)
    if not _enabled() or not (docs / "results").is_dir():
        return 0
    marker = docs / "site" / _RENDERED
    if marker.exists() and (docs / "site" / "index.html").exists():
        since = marker.stat().st_mtime
        if all(p.stat().st_mtime < since for p in (docs / "results").rglob("*.json")):
            return 0  # decided without importing GX (2.5 s)
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

    from quality import gx_duckdb

    ctx = gx_duckdb.context(docs)
    rendered = marker.read_text().strip() if marker.exists() else ""
    keys = [
        key
        for key in ctx.validation_results_store.list_keys()
        if isinstance(key, ValidationResultIdentifier) and _run_time(key) > rendered
    ]
    if keys or not (docs / "site" / "index.html").exists():
        ctx.build_data_docs(resource_identifiers=keys)
    # Written every time, so that its file time serves the quick check above next time.
    marker.write_text(max([rendered, *(_run_time(key) for key in keys)]))
    return len(keys)


def _run_time(key: Any) -> str:
    """A stored result's validation time, as sortable ISO text."""
    run_time = key.run_id.run_time
    return run_time.isoformat() if isinstance(run_time, dt.datetime) else str(run_time)


def _previous_rows(wh: Warehouse, facility_id: str, file_id: str) -> int | None:
    """Row count of the facility's current file (None for a first file)."""
    if not wh.db_path.exists():
        return None
    with writer(wh) as con:
        row = con.execute(
            "SELECT row_count FROM current_files WHERE facility_id = ? AND file_id <> ?",
            [facility_id, file_id],
        ).fetchone()
    return None if row is None else int(row[0])


def _verdict(result: GateResult, previous: int | None, fraction: float, rows: int) -> None:
    blocking = result.failed("blocking")
    if blocking:
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        result.outcome = "quarantined"
        result.message = f"quarantined: {blocking[0].line()}{more}; see `hpt quality`"
    elif result.failed("hold"):
        result.outcome = "held"
        share = rows / previous if previous else 0.0
        result.message = (
            f"held as suspicious: {rows:,} rows is {share:.0%} of the previous file's "
            f"{previous:,} (at most {fraction:.0%}); `hpt accept {result.file_id}` publishes it"
        )
    else:
        warnings = result.failed("warning")
        result.outcome = "passed"
        if warnings:
            result.message = f"{len(warnings)} data-quality warning(s): {warnings[0].line()}"


def validate_batch(
    staged: StagedFile, previous_rows: int | None, docs: Path | None = None
) -> GateResult:
    """Run the batch suites over a staged file's Parquet data; decide, store nothing."""
    from quality import gx_duckdb
    from quality.validate import run_suite

    started = time.monotonic()
    fraction = settings.current().quality_truncation
    # Held at or below the fraction: a file with exactly half the rows is suspicious too.
    min_rows = math.floor(previous_rows * fraction) + 1 if previous_rows else 0
    result = GateResult(
        outcome="passed",
        file_id=staged.file_id,
        facility_id=staged.facility_id,
        run_id=uuid.uuid4().hex,
    )
    ctx = gx_duckdb.context(docs)
    source = gx_duckdb.duckdb_source(ctx, staged.file_id)
    try:
        ceiling = settings.current().quality_price_ceiling
        params = {"reader_rows": staged.row_count, "min_rows": min_rows}
        query, suite = suites.charges_query(staged.data_path), suites.charges_suite(ceiling)
        result.outcomes += run_suite(ctx, source, query, suite, params)
    finally:
        gx_duckdb.close(source)
    _verdict(result, previous_rows, fraction, staged.row_count)
    result.seconds = time.monotonic() - started
    return result


def gate(wh: Warehouse, staged: StagedFile) -> GateResult:
    """Validate a staged file before it is loaded; record the results (and a quarantine).

    The caller loads the file with `result.status` (`loaded` or `held`), or not at all
    when it is None (quarantined).
    """
    if not _enabled():
        return GateResult(outcome="skipped", file_id=staged.file_id, message="gate is off")
    previous = _previous_rows(wh, staged.facility_id, staged.file_id)
    result = validate_batch(staged, previous, docs_dir(wh))
    with writer(wh) as con:
        con.execute("BEGIN")
        record_outcomes(
            con, result.run_id, result.outcomes,
            file_id=staged.file_id, facility_id=staged.facility_id,
        )  # fmt: skip
        if result.outcome == "quarantined":
            record_quarantine(
                con,
                Quarantined(
                    file_id=staged.file_id,
                    facility_id=staged.facility_id,
                    source=staged.source,
                    sha256=staged.sha256,
                    data_path=staged.data_path,
                    row_count=staged.row_count,
                    run_id=result.run_id,
                    reason=result.message,
                    summary=result.as_dict(),
                ),
            )
        else:
            release_quarantine(con, staged.file_id)
        con.execute("COMMIT")
    return result


def accept(wh: Warehouse, file_id: str) -> str:
    """An operator accepts a held file: it becomes loaded (current if newest), published."""
    with writer(wh) as con:
        row = con.execute(
            "SELECT facility_id, status, source, sha256 FROM files WHERE file_id = ?", [file_id]
        ).fetchone()
        if row is None:
            raise ValueError(f"no file {file_id} in the warehouse (see `hpt quality`)")
        facility_id, status, source, sha256 = row
        if status != "held":
            raise ValueError(f"file {file_id} is {status}, not held: nothing to accept")
        con.execute("BEGIN")
        con.execute(
            "UPDATE files SET status = 'loaded', status_reason = ? WHERE file_id = ?",
            [f"accepted by an operator on {dt.date.today().isoformat()}", file_id],
        )
        refresh_charge_views(con, wh)
        con.execute("COMMIT")
    log_attempt(
        wh, facility_id=facility_id, source=source, sha256=sha256, outcome="loaded",
        message="held file accepted by an operator", file_id=file_id, seconds=0.0,
    )  # fmt: skip
    publish(wh)
    return f"accepted {file_id}: loaded and published for {facility_id}"


def _queries_and_state(
    database: Path, day: dt.date, max_age_days: int
) -> tuple[dict[str, str], str]:
    """The warehouse suites' queries over a published snapshot, and a digest of all they
    read from it.

    Equal digests mean equal results: the current files (their Parquet data is immutable)
    and the view definitions that expose them, the registry query's own result, the
    queries (with the day freshness is measured from), the suites and the GX version.
    """
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        registered = con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'facilities' AND column_name = 'registered'"
        ).fetchall()[0][0]
        queries = suites.warehouse_queries(
            f"DATE '{day.isoformat()}'",
            has_registry=bool(registered),
            has_downloads="download_attempts" in tables,
        )
        digest = hashlib.sha256()
        for sql in (
            "SELECT facility_id, file_id, last_updated_on FROM current_files ORDER BY ALL",
            # The views the suites read (DuckDB renders some others, with EXCLUDE lists,
            # in a different order each time).
            "SELECT view_name, sql FROM duckdb_views() WHERE view_name IN "
            "('standard_charges', 'standard_charge_codes', 'current_files') ORDER BY 1",
            f"SELECT * FROM ({queries[suites.WAREHOUSE_REGISTRY]}) ORDER BY ALL",
        ):
            digest.update(repr(con.execute(sql).fetchall()).encode())
    finally:
        con.close()
    for text in (*sorted(queries.values()), str(max_age_days), version("great_expectations")):
        digest.update(text.encode())
    digest.update(Path(suites.__file__).read_bytes())
    return queries, digest.hexdigest()


def _last_pass(wh: Warehouse, state: str) -> tuple[str, dt.datetime] | None:
    """The run id and time of the newest check, if it passed on this same state."""
    with writer(wh) as con:
        rows = con.execute(
            "SELECT run_id, checked_at, state, outcome FROM warehouse_checks "
            "ORDER BY checked_at DESC LIMIT 1"
        ).fetchall()
    if rows and rows[0][2] == state and rows[0][3] == "passed":
        return rows[0][0], rows[0][1]
    return None


def check_warehouse(
    wh: Warehouse, today: dt.date | None = None, *, only_if_changed: bool = False
) -> GateResult:
    """Validate the published warehouse, record the results and publish them.

    `today` is the run's logical date (freshness is measured from it). With
    `only_if_changed`, a warehouse in the same state as at the last check, which passed,
    is not validated again: the outcome is `unchanged`, nothing is recorded. Either way
    the Data Docs pages of the results stored since the last build are rendered.
    """
    started = time.monotonic()
    if not wh.published_path.exists():
        raise FileNotFoundError(f"no published warehouse at {wh.published_path}")
    snapshot = wh.published_path.resolve()
    max_age = settings.current().quality_max_age_days
    queries, state = _queries_and_state(snapshot, today or dt.date.today(), max_age)
    if only_if_changed and (last := _last_pass(wh, state)):
        run_id, checked_at = last
        build_docs(wh)  # the file validations since the last publish, if any
        return GateResult(
            outcome="unchanged",
            message=(
                f"same warehouse as at the check of {checked_at:%Y-%m-%d %H:%M} UTC, which "
                f"passed (run {run_id[:8]}); not validated again"
            ),
            run_id=run_id,
            seconds=time.monotonic() - started,
        )

    from quality import gx_duckdb
    from quality.validate import run_suite

    result = GateResult(outcome="passed", run_id=uuid.uuid4().hex)
    docs = docs_dir(wh)
    ctx = gx_duckdb.context(docs)  # before the suites: GX binds a new suite to a context
    source = gx_duckdb.duckdb_source(ctx, "warehouse", snapshot)
    try:
        for name, suite in suites.warehouse_suites(max_age).items():
            result.outcomes += run_suite(ctx, source, queries[name], suite)
    finally:
        gx_duckdb.close(source)
    errors = result.failed("error")
    if errors:
        result.outcome = "failed"
        result.message = f"warehouse check failed: {errors[0].line()}"
    elif result.failed("warning"):
        result.message = f"warehouse warning: {result.failed('warning')[0].line()}"
    with writer(wh) as con:
        con.execute("BEGIN")
        record_outcomes(con, result.run_id, result.outcomes)
        con.execute(
            "INSERT INTO warehouse_checks VALUES (?, ?, ?, ?)",
            [now(), result.run_id, state, result.outcome],
        )
        con.execute("COMMIT")
    publish(wh)
    build_docs(wh)
    result.seconds = time.monotonic() - started
    return result


def after_publish(wh: Warehouse, today: dt.date | None = None) -> GateResult:
    """The warehouse check a run makes after its publish (`hpt run`, the nightly DAG);
    `unchanged` (not validated again) when nothing it reads changed since a passing check.

    Never raises: a check that cannot run is itself a `failed` result with a one-line
    reason, logged. `skipped` when the gate is off (HPT_QUALITY_GATE).
    """
    if not _enabled():
        return GateResult(outcome="skipped", message="gate is off")
    started = time.monotonic()
    try:
        result = check_warehouse(wh, today, only_if_changed=True)
    except Exception as error:  # the run's data is published; say why it is unchecked
        log.exception("warehouse check")
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return GateResult(
            outcome="failed",
            message=f"warehouse check could not run: {type(error).__name__}: {first}",
            seconds=time.monotonic() - started,
        )
    level = logging.WARNING if result.outcome == "failed" or result.message else logging.INFO
    log.log(level, "warehouse check %s: %s", result.outcome, result.message or "all passed")
    return result
