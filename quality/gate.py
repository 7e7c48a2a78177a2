"""The data-quality gate between transform and load, and the check of a warehouse snapshot.

`validate_batch(staged, previous_rows, docs)` judges one file's normalised batch (its
Parquet data) before it is loaded: a blocking failure quarantines it, a sharp drop in rows
holds it back, warnings are passed on. `validate_warehouse(snapshot, …)` judges a warehouse
snapshot. Both return verdicts and store nothing in the warehouse: the pipeline
(`hpt.pipeline`) records them and acts on them. Great Expectations is imported only inside
them: it is slow to import and a DAG file is parsed often.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from core import settings
from core.files import StagedFile
from core.outcomes import CheckOutcome, IngestOutcome
from core.warehouse_files import open_snapshot, snapshot_root
from quality import suites
from quality.validate import Outcome


@dataclass
class GateResult:
    """The verdict on one batch (or on the warehouse): JSON-friendly via `as_dict()`.

    `outcome` is `passed`, `held`, `quarantined` or `skipped` (gate switched off); for the
    warehouse check `passed`, `failed`, `unchanged` (not validated again) or `skipped`.
    """

    outcome: CheckOutcome
    message: str = ""
    file_id: str | None = None
    facility_id: str | None = None
    run_id: str = ""
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def status(self) -> IngestOutcome | None:
        """The `files.status` to load the batch with; None when it must not be loaded."""
        return _STATUS.get(self.outcome)

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


_STATUS = {
    CheckOutcome.PASSED: IngestOutcome.LOADED,
    CheckOutcome.SKIPPED: IngestOutcome.LOADED,
    CheckOutcome.HELD: IngestOutcome.HELD,
}


def enabled() -> bool:
    """Whether the gate and the warehouse check run (setting HPT_QUALITY_GATE)."""
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
    if not enabled() or "great_expectations.execution_engine" in sys.modules:
        return None
    thread = threading.Thread(target=_import_gx, name="hpt-gx-import", daemon=True)
    thread.start()
    return thread


#: The newest validation time whose Data Docs page is rendered (in the site folder).
_RENDERED = ".rendered-until"
_INDEXED = ".index-rendered"
_UNINDEXED = ".pages-not-in-index"


def build_docs(docs: Path, *, index: bool = True) -> int:
    """Render the Data Docs pages of the validations stored in `docs` since the last build,
    and the index; return how many pages were rendered (0: nothing new, nothing done).

    With `index=False` (a publish) the index, whose cost grows with every result stored, is
    rendered only when older than `HPT_QUALITY_DOCS_INDEX_MINUTES`.

    Validations only store their results: pages are rendered once per publish (`hpt
    ingest`, `hpt run`, the DAG's publish task, `hpt quality check`) and by `hpt quality
    docs`, not after each validation — the index reads every stored result, so rendering
    it per file cost 0.25 s and more as the store grows.
    """
    if not enabled() or not (docs / "results").is_dir():
        return 0
    site = docs / "site"
    marker, page, stamp, pending = (
        site / _RENDERED,
        site / "index.html",
        site / _INDEXED,
        site / _UNINDEXED,
    )
    minutes = settings.current().quality_docs_index_minutes
    due = (
        index
        or not page.exists()
        or not stamp.exists()
        or time.time() - stamp.stat().st_mtime >= 60 * minutes
    )
    stale = pending.exists()  # pages rendered since the index was
    if marker.exists() and page.exists() and not (stale and due):
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
    if keys or not page.exists() or (stale and due):
        ctx.build_data_docs(resource_identifiers=_Keys(keys), build_index=due)
        if due:
            stamp.touch()
            pending.unlink(missing_ok=True)
        else:
            pending.touch()
    # Written every time, so that its file time serves the quick check above next time.
    marker.write_text(max([rendered, *(_run_time(key) for key in keys)]))
    return len(keys)


class _Keys(list[Any]):
    """The results to render, as a list whose membership test is a set lookup: each
    section builder asks it of every stored result (a list: stored × new comparisons)."""

    def __init__(self, keys: list[Any]) -> None:
        super().__init__(keys)
        self._set = set(keys)

    def __contains__(self, key: object) -> bool:
        return key in self._set


def _run_time(key: Any) -> str:
    """A stored result's validation time, as sortable ISO text."""
    run_time = key.run_id.run_time
    return run_time.isoformat() if isinstance(run_time, dt.datetime) else str(run_time)


def _verdict(result: GateResult, previous: int | None, fraction: float, rows: int) -> None:
    blocking = result.failed("blocking")
    if blocking:
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        result.outcome = CheckOutcome.QUARANTINED
        result.message = f"quarantined: {blocking[0].line()}{more}; see `hpt quality`"
    elif result.failed("hold"):
        result.outcome = CheckOutcome.HELD
        share = rows / previous if previous else 0.0
        result.message = (
            f"held as suspicious: {rows:,} rows is {share:.0%} of the previous file's "
            f"{previous:,} (at most {fraction:.0%}); `hpt accept {result.file_id}` publishes it"
        )
    else:
        warnings = result.failed("warning")
        result.outcome = CheckOutcome.PASSED
        if warnings:
            result.message = f"{len(warnings)} data-quality warning(s): {warnings[0].line()}"


def validate_batch(
    staged: StagedFile, previous_rows: int | None, docs: Path | None = None
) -> GateResult:
    """Run the batch suites over a staged file's Parquet data; decide, store nothing.

    The GX context, data source and suite are the process's (`quality.gx_session`): built
    for the first file, reused for the next ones."""
    from quality import gx_session

    started = time.monotonic()
    now = settings.current()
    fraction = now.quality_truncation
    # Held at or below the fraction: a file with exactly half the rows is suspicious too.
    min_rows = math.floor(previous_rows * fraction) + 1 if previous_rows else 0
    result = GateResult(
        outcome=CheckOutcome.PASSED,
        file_id=staged.file_id,
        facility_id=staged.facility_id,
        run_id=uuid.uuid4().hex,
    )
    params = {"reader_rows": staged.row_count, "min_rows": min_rows}
    gate = gx_session.charges_gate(docs, now.quality_price_ceiling)
    try:
        result.outcomes += gate.validate(
            staged.file_id, staged.data_path, params, rows=staged.row_count
        )
    except BaseException:
        gx_session.drop()  # the next file starts from a fresh context
        raise
    _verdict(result, previous_rows, fraction, staged.row_count)
    result.seconds = time.monotonic() - started
    return result


def warehouse_state(
    snapshot: Path, day: dt.date, max_age_days: int, files: list[str] | None = None
) -> tuple[dict[str, str], str]:
    """The warehouse suites' queries over a snapshot, and a digest of all they read from it.

    `files`: the ids of the files whose charge data the suites read (None: all current).

    Equal digests mean equal results: the current files (their Parquet data is immutable)
    and the view definitions that expose them, the registry query's own result, the
    queries (with the day freshness is measured from), the suites and the GX version.
    """
    con = open_snapshot(snapshot)
    try:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        registered = con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'facilities' AND column_name = 'registered'"
        ).fetchall()[0][0]
        shape = (f"DATE '{day.isoformat()}'", bool(registered), "download_attempts" in tables)
        facility_of = None
        if files is not None:  # the facilities of the files to read
            facility_of = dict(
                con.execute(
                    "SELECT file_id, facility_id FROM files "
                    "WHERE file_id IN (SELECT unnest(?::VARCHAR[]))",
                    [files],
                ).fetchall()
            )
        queries = suites.warehouse_queries(*shape, files=facility_of)
        # The state is that of the whole warehouse: the files a publish made current are
        # only what needs reading again when it differs from a check that passed.
        whole = suites.warehouse_queries(*shape)
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
    for text in (*sorted(whole.values()), str(max_age_days), version("great_expectations")):
        digest.update(text.encode())
    digest.update(Path(suites.__file__).read_bytes())
    return queries, digest.hexdigest()


def unchanged(run_id: str, checked_at: dt.datetime) -> GateResult:
    """The verdict on a warehouse in the same state as at a check that passed."""
    return GateResult(
        outcome=CheckOutcome.UNCHANGED,
        message=(
            f"same warehouse as at the check of {checked_at:%Y-%m-%d %H:%M} UTC, which "
            f"passed (run {run_id[:8]}); not validated again"
        ),
        run_id=run_id,
    )


def could_not_run(error: Exception) -> GateResult:
    """The verdict when the warehouse check itself failed: one line saying why."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return GateResult(
        outcome=CheckOutcome.FAILED,
        message=f"warehouse check could not run: {type(error).__name__}: {first}",
    )


def validate_warehouse(
    snapshot: Path, queries: dict[str, str], max_age_days: int, docs: Path
) -> GateResult:
    """Run the warehouse suites over a snapshot (`queries` from `warehouse_state`); decide,
    store nothing but the GX results under `docs`."""
    from quality import gx_duckdb
    from quality.validate import run_suite

    started = time.monotonic()
    result = GateResult(outcome=CheckOutcome.PASSED, run_id=uuid.uuid4().hex)
    ctx = gx_duckdb.context(docs)  # before the suites: GX binds a new suite to a context
    source = gx_duckdb.duckdb_source(ctx, "warehouse", snapshot, root=snapshot_root(snapshot))
    try:
        for name, suite in suites.warehouse_suites(max_age_days).items():
            result.outcomes += run_suite(ctx, source, queries[name], suite)
    finally:
        gx_duckdb.close(source)
    errors = result.failed("error")
    if errors:
        result.outcome = CheckOutcome.FAILED
        result.message = f"warehouse check failed: {errors[0].line()}"
    elif result.failed("warning"):
        result.message = f"warehouse warning: {result.failed('warning')[0].line()}"
    result.seconds = time.monotonic() - started
    return result
