"""One run over the source registry: per facility acquire (discover + download), then
ingest; publish once at the end. The Airflow DAG calls the same two steps per facility,
passing `AcquireResult.as_dict()` between them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import requests

from core import settings
from hpt.pipeline import IngestResult, ingest_file
from ingest.discover import SourceFinding, cms_hpt_url, fetch_cms_hpt, pick_mrf_url
from ingest.download import Limits, download, http_session, using_session
from ingest.registry import SourceEntry
from quality.gate import GateResult, after_publish
from warehouse.db import Warehouse, writer
from warehouse.load import log_attempt
from warehouse.publish import publish
from warehouse.sources import record_acquisition, sync_registry

log = logging.getLogger("hpt")


@dataclass
class AcquireResult:
    """Where a facility's file is now: small and JSON-friendly (what XCom carries)."""

    facility_id: str
    name: str
    outcome: str  # "downloaded", "not_modified" or "failed"
    message: str = ""
    url: str | None = None  # the MRF URL
    path: str | None = None  # the landed file
    sha256: str | None = None
    bytes: int = 0
    downloaded_bytes: int = 0  # MRF bytes received in this run
    source_findings: int = 0
    seconds: float = 0.0
    # Not modified upstream and ingested before: [outcome, message, file_id] of then.
    previous: list[str | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcquireResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class FacilityRun:
    """One line of the run's final table."""

    facility_id: str
    name: str
    outcome: str  # "loaded", "unchanged", "held" or "failed"
    stage: str  # where it ended: "discover", "download" or "ingest"
    message: str = ""
    rows: int = 0
    findings: int = 0
    downloaded_bytes: int = 0
    seconds: float = 0.0


@dataclass
class Located:
    """Where an entry's file is said to be, and what discovery found on the way."""

    url: str  # "" when none could be found
    message: str = ""
    txt_url: str | None = None
    status: int | None = None
    findings: list[SourceFinding] = field(default_factory=list)


def locate(entry: SourceEntry, session: requests.Session, limits: Limits) -> Located:
    """The MRF URL of an entry: given directly, or read from its site's `cms-hpt.txt`."""
    if entry.mrf_url:
        return Located(entry.mrf_url)
    txt = cms_hpt_url(entry.website)
    found, status = fetch_cms_hpt(txt, session, limits.timeout)
    url, how = pick_mrf_url(found, entry.name, entry.location)
    errors = [f.message for f in found.findings if f.severity == "error"]
    message = "" if url else (errors[0] if errors else f"cms-hpt.txt: {how}")
    return Located(url, message, txt, status or None, found.findings)


def acquire(
    entry: SourceEntry,
    wh: Warehouse,
    *,
    session: requests.Session | None = None,
    force: bool = False,
) -> AcquireResult:
    """Discover (if needed) and download one facility's file; every attempt is recorded.

    A file not modified upstream whose bytes were ingested before gets `previous` (that
    ingest's outcome, logged again), so the ingest step has nothing to do — unless `force`."""
    started = time.monotonic()
    limits = Limits.from_settings()
    with using_session(session, limits) as http:
        where = locate(entry, http, limits)
        result = AcquireResult(entry.key, entry.name, "failed", where.message, where.url or None)
        result.source_findings = len(where.findings)
        attempt: dict[str, Any] = {"url": where.txt_url, "status": where.status,
                                   "outcome": "failed", "message": where.message}  # fmt: skip
        if where.url:
            landing = settings.current().landing
            got = download(where.url, landing, limits=limits, session=http)
            attempt = got.as_dict()
            result.outcome, result.message, result.path = got.outcome, got.message, got.path
            result.sha256, result.bytes = got.sha256, got.bytes
            result.downloaded_bytes = got.downloaded_bytes
    unchanged = result.outcome == "not_modified" and result.sha256 and not force
    repeat = (str(result.sha256), str(result.url)) if unchanged else None
    previous = record_acquisition(
        wh, entry.key, attempt, where.txt_url, where.findings, repeat_of=repeat
    )
    result.previous = list(previous) if previous else None
    result.seconds = round(time.monotonic() - started, 3)
    return result


def ingest_acquired(
    acquired: AcquireResult | dict[str, Any],
    wh: Warehouse,
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest what `acquire` landed, under the registry's facility id; not published.

    `force` re-reads a file not modified upstream (after a reader was improved, say)."""
    acq = acquired if isinstance(acquired, AcquireResult) else AcquireResult.from_dict(acquired)
    source = acq.url or acq.name
    if acq.outcome == "failed" or acq.path is None:
        return IngestResult(source, "failed", acq.message, facility_id=acq.facility_id)
    if acq.previous and not force:
        # Unchanged upstream and ingested before: not even hashed or parsed again.
        outcome, message, file_id = acq.previous
        return IngestResult(source, str(outcome), str(message), acq.facility_id, file_id)
    return ingest_file(
        Path(acq.path),
        wh,
        source=source,
        facility_id=acq.facility_id,
        publish_after=False,
        progress=progress,
    )


def run_facility(
    entry: SourceEntry,
    wh: Warehouse,
    *,
    session: requests.Session | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> FacilityRun:
    """Acquire and ingest one facility; never raises (one failure never stops a run)."""
    started = time.monotonic()
    line = FacilityRun(entry.key, entry.name, "failed", "download")
    try:
        acq = acquire(entry, wh, session=session, force=force)
        line.downloaded_bytes, line.findings = acq.downloaded_bytes, acq.source_findings
        if acq.outcome == "failed" and acq.path is None:
            line.stage = "discover" if acq.url is None else "download"
            line.message = acq.message
        else:
            line.stage = "ingest"
            result = ingest_acquired(acq, wh, force=force, progress=progress)
            line.outcome, line.rows = result.outcome, result.rows
            line.findings += sum(result.findings.values())
            line.message = result.message
    except Exception as error:  # a bug for one facility must not stop the night's run
        log.exception("facility %s", entry.key)
        line.message = f"internal error: {type(error).__name__}: {error}".splitlines()[0]
        with contextlib.suppress(Exception):  # shown with the other failures if possible
            log_attempt(wh, facility_id=entry.key, source=entry.mrf_url or entry.website,
                        sha256=None, outcome="failed", message=line.message, file_id=None,
                        seconds=time.monotonic() - started)  # fmt: skip
    line.seconds = round(time.monotonic() - started, 3)
    return line


def run_sources(
    entries: Sequence[SourceEntry],
    wh: Warehouse,
    *,
    on_start: Callable[[SourceEntry], None] | None = None,
    on_done: Callable[[FacilityRun], None] | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    on_checked: Callable[[GateResult], None] | None = None,
) -> list[FacilityRun]:
    """Run every registry entry once, publish once, then check the published warehouse
    (`quality.gate.after_publish`; its result goes to `on_checked`)."""
    lines: list[FacilityRun] = []
    limits = Limits.from_settings()
    # The catalog stays open for the run: each step's own brief connection then joins the
    # open database (~10 ms) instead of opening it (~70 ms for tens of MB) — most of what
    # an unchanged hospital costs. Another process wanting to write waits for the run.
    with writer(wh), http_session(limits) as session:
        sync_registry(wh, entries)
        for entry in entries:
            if on_start:
                on_start(entry)
            line = run_facility(entry, wh, session=session, force=force, progress=progress)
            lines.append(line)
            if on_done:
                on_done(line)
    # Publish even when nothing loaded: the snapshot carries the run's attempts and status.
    publish(wh)
    checked = after_publish(wh)
    if on_checked:
        on_checked(checked)
    return lines
