"""Acquiring a facility's file: discovery (where its file is) and download (unless not
modified), every attempt recorded. The first step of `hpt run` and of the DAG."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import requests

from core.findings import Severity
from core.outcomes import AcquireOutcome, Stage
from ingest.discover import SourceFinding, cms_hpt_url, fetch_cms_hpt, pick_mrf_url
from ingest.download import Limits, download, using_session
from ingest.registry import SourceEntry
from warehouse.db import Warehouse
from warehouse.sources import record_acquisition


@dataclass
class AcquireResult:
    """Where a facility's file is now: small and JSON-friendly (what XCom carries)."""

    facility_id: str
    name: str
    outcome: AcquireOutcome
    message: str = ""
    #: A failure another try later could cure (see `ingest.download.Download.transient`).
    transient: bool = False
    url: str | None = None  # the MRF URL
    path: str | None = None  # the landed file: a local path or an object's URL
    sha256: str | None = None
    bytes: int = 0
    downloaded_bytes: int = 0  # MRF bytes received in this run
    source_findings: int = 0
    seconds: float = 0.0
    # Not modified upstream and ingested before: [outcome, message, file_id] of then.
    previous: list[str | None] | None = None

    @property
    def failed_at(self) -> Stage | None:
        """Where acquisition stopped without a file (discover or download); None if one is
        at hand."""
        if self.outcome != AcquireOutcome.FAILED or self.path is not None:
            return None
        return Stage.DISCOVER if self.url is None else Stage.DOWNLOAD

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcquireResult:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**{**known, "outcome": AcquireOutcome(data["outcome"])})


@dataclass
class Located:
    """Where an entry's file is said to be, and what discovery found on the way."""

    url: str  # "" when none could be found
    message: str = ""
    txt_url: str | None = None
    status: int | None = None
    findings: list[SourceFinding] = field(default_factory=list)
    transient: bool = False  # no URL, for now: cms-hpt.txt unreachable, 5xx, …


def locate(entry: SourceEntry, session: requests.Session, limits: Limits) -> Located:
    """The MRF URL of an entry: given directly, or read from its site's `cms-hpt.txt` — or,
    when that names no file for good (not for now: a 503 is tried again later), the
    registry's `fallback_url`."""
    if entry.mrf_url:
        return Located(entry.mrf_url)
    txt = cms_hpt_url(entry.website)
    found, status = fetch_cms_hpt(txt, session, limits.timeout)
    url, how = pick_mrf_url(found, entry.name, entry.location)
    errors = [f.message for f in found.findings if f.severity == Severity.ERROR]
    message = "" if url else (errors[0] if errors else f"cms-hpt.txt: {how}")
    findings = list(found.findings)
    if not url and entry.fallback_url and not found.transient:
        url = entry.fallback_url
        findings.append(SourceFinding("hpt.fallback_url", Severity.WARNING,
                                      f"{message}; trying the registry's fallback_url",
                                      value=url))  # fmt: skip
        message = f"{message}; fallback_url"
    return Located(url, message, txt, status or None, findings, found.transient)


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
        result = AcquireResult(
            entry.key, entry.name, AcquireOutcome.FAILED, where.message,
            where.transient, where.url or None,
        )  # fmt: skip
        result.source_findings = len(where.findings)
        attempt: dict[str, Any] = {"url": where.txt_url, "status": where.status,
                                   "outcome": AcquireOutcome.FAILED,
                                   "message": where.message}  # fmt: skip
        if where.url:
            got = download(where.url, limits=limits, session=http)
            attempt = got.as_dict()
            result.outcome, result.message, result.path = got.outcome, got.message, got.path
            result.transient, result.sha256, result.bytes = got.transient, got.sha256, got.bytes
            result.downloaded_bytes = got.downloaded_bytes
            if where.message and got.outcome == AcquireOutcome.FAILED:  # the fallback failed too
                result.message = attempt["message"] = f"{where.message}: {got.message}"
    unchanged = result.outcome == AcquireOutcome.NOT_MODIFIED and result.sha256 and not force
    repeat = (str(result.sha256), str(result.url)) if unchanged else None
    previous = record_acquisition(
        wh, entry.key, attempt, where.txt_url, where.findings, repeat_of=repeat
    )
    result.previous = list(previous) if previous else None
    result.seconds = round(time.monotonic() - started, 3)
    return result
