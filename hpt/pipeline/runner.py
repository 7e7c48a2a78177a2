"""One run over the source registry (`hpt run`): per facility acquire (discover +
download), then ingest; then one checked publish. The DAG (`hpt.pipeline.tasks`) runs the
same steps as separate tasks.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from core.outcomes import IngestOutcome, Stage
from hpt.pipeline.acquire import acquire
from hpt.pipeline.read import Progress
from hpt.pipeline.steps import ingest_acquired, publish_checked, retention_policy
from ingest.download import Limits, http_session
from ingest.registry import SourceEntry
from quality.gate import GateResult
from warehouse.db import Warehouse, writer
from warehouse.load import log_attempt
from warehouse.retention import PruneReport, pruning
from warehouse.sources import sync_registry
from warehouse.views import views_deferred

log = logging.getLogger("hpt")


@dataclass
class FacilityRun:
    """One line of the run's final table."""

    facility_id: str
    name: str
    outcome: IngestOutcome
    stage: Stage  # where it ended
    message: str = ""
    rows: int = 0
    findings: int = 0
    downloaded_bytes: int = 0
    seconds: float = 0.0


def run_facility(
    entry: SourceEntry,
    wh: Warehouse,
    *,
    session: requests.Session | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> FacilityRun:
    """Acquire and ingest one facility; never raises (one failure never stops a run)."""
    started = time.monotonic()
    line = FacilityRun(entry.key, entry.name, IngestOutcome.FAILED, Stage.DOWNLOAD)
    try:
        acq = acquire(entry, wh, session=session, force=force)
        line.downloaded_bytes, line.findings = acq.downloaded_bytes, acq.source_findings
        if acq.failed_at is not None:
            line.stage, line.message = acq.failed_at, acq.message
        else:
            line.stage = Stage.INGEST
            result = ingest_acquired(acq, wh, force=force, progress=progress)
            line.outcome, line.rows = result.outcome, result.rows
            line.findings += sum(result.findings.values())
            line.message = result.message
    except Exception as error:  # a bug for one facility must not stop the night's run
        log.exception("facility %s", entry.key)
        line.message = f"internal error: {type(error).__name__}: {error}".splitlines()[0]
        with contextlib.suppress(Exception):  # shown with the other failures if possible
            log_attempt(wh, facility_id=entry.key, source=entry.mrf_url or entry.website,
                        sha256=None, outcome=IngestOutcome.FAILED, message=line.message,
                        file_id=None, seconds=time.monotonic() - started)  # fmt: skip
    line.seconds = round(time.monotonic() - started, 3)
    return line


def run_sources(
    entries: Sequence[SourceEntry],
    wh: Warehouse,
    *,
    on_start: Callable[[SourceEntry], None] | None = None,
    on_done: Callable[[FacilityRun], None] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    on_checked: Callable[[GateResult], None] | None = None,
    on_pruned: Callable[[PruneReport], None] | None = None,
) -> list[FacilityRun]:
    """Run every registry entry once, then publish once, checked (`publish_checked`; the
    warehouse check's result goes to `on_checked`), with retention around the publish
    (`warehouse.retention.pruning`; what it did goes to `on_pruned`)."""
    lines: list[FacilityRun] = []
    limits = Limits.from_settings()
    # The catalog stays open for the run: each step's own brief connection is then a cursor
    # of it instead of opening the file (~70 ms for tens of MB) — most of what an unchanged
    # hospital costs. Another process wanting to write waits for the run. The charge views
    # are rebuilt once, by the publish, not after each load (`views_deferred`).
    with writer(wh), views_deferred(), http_session(limits) as session:
        sync_registry(wh, entries)
        for entry in entries:
            if on_start:
                on_start(entry)
            line = run_facility(entry, wh, session=session, force=force, progress=progress)
            lines.append(line)
            if on_done:
                on_done(line)
    # Publish even when nothing loaded: the snapshot carries the run's attempts and status.
    # Expired data leaves the catalog before it, and is deleted after it.
    with pruning(wh, retention_policy(wh)) as pruned:
        checked = publish_checked(wh).check
    pruned.published = True
    if on_checked:
        on_checked(checked)
    if on_pruned:
        on_pruned(pruned)
    return lines
