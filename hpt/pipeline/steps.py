"""The pipeline's steps after acquisition: ingest a file (read it, gate it, load it), and
publish (with the warehouse check); `hpt` commands, `hpt run` and the DAG call these.

Quality (`quality.gate`) only judges; here its verdicts are recorded (`warehouse.quality_log`)
and acted on: a file is loaded, held or quarantined, a snapshot published.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import settings
from core.errors import CannotStore, UnreadableFile
from core.files import FileMeta, StagedFile
from core.findings import FindingLog, Severity
from core.ids import InvalidId, slug_facility_id, valid_facility_id, valid_file_id
from core.outcomes import AcquireOutcome, CheckOutcome, IngestOutcome
from hpt.pipeline.acquire import AcquireResult
from hpt.pipeline.read import CheckedBatches, Progress, local_file, write_charges
from ingest.detect import open_file
from ingest.download import download
from ingest.encoding import prepare
from ingest.landing import local_copy
from quality.conformance import Conformance, is_valid
from quality.gate import (
    GateResult,
    build_docs,
    could_not_run,
    enabled,
    unchanged,
    validate_batch,
    validate_warehouse,
    warehouse_state,
    warm_up,
)
from warehouse.db import Warehouse, published_snapshot, unpublished
from warehouse.load import current_file, known_file, load_staged, log_attempt, previous_rows
from warehouse.marts import folded_in_last_build
from warehouse.publish import publish
from warehouse.quality_log import (
    accept_held,
    collect_results,
    last_pass,
    record_gate,
    record_warehouse_check,
    send_results,
)
from warehouse.retention import Policy, PruneReport, plan, pruning
from warehouse.sources import record_acquisition
from warehouse.sweep import needs_publish

log = logging.getLogger("hpt")


@dataclass
class IngestResult:
    """What one ingest did: a small, JSON-friendly summary."""

    source: str
    outcome: IngestOutcome
    message: str = ""
    facility_id: str | None = None
    file_id: str | None = None
    hospital_name: str | None = None
    layout: str | None = None
    version: str | None = None
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    findings: dict[str, int] = field(default_factory=dict)
    #: The CMS verdict of the file read (no error finding), as `hpt validate` gives it;
    #: None when the checks did not run (not read, or HPT_VALIDATE=0).
    valid: bool | None = None
    errors: int = 0
    #: Loaded as history, not current: this file of the facility, which another process
    #: loaded while this one was read, stays current (see `warehouse.load.load_staged`).
    superseded_by: str | None = None

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "mb_per_s": round(self.mb_per_s, 1)}


def facility_id_for(meta: FileMeta) -> str:
    """The facility id a file implies: license state + number, else first type-2 NPI,
    else a slug of the hospital name; always a valid id (`core.ids`), since the header is
    the hospital's text."""
    if meta.license_number and meta.license_state:
        number = re.sub(r"[^A-Za-z0-9-]+", "", meta.license_number)
        state = re.sub(r"[^a-z0-9]+", "", meta.license_state.lower())
        if number.strip("-") and state:
            return slug_facility_id(f"{state}-{number}")
    for npi in meta.npis:
        digits = re.sub(r"\D", "", npi)
        if len(digits) == 10 and digits != "0" * 10:
            return f"npi-{digits}"
    try:
        return slug_facility_id(meta.hospital_name or "")
    except InvalidId:
        raise UnreadableFile(
            "cannot derive a facility id: no license, NPI or hospital name in letters or "
            "digits; give one with --facility-id"
        ) from None


def docs_dir(wh: Warehouse) -> Path:
    """Where Data Docs are built: HPT_QUALITY_DOCS, else `<db stem>-quality` beside the db."""
    configured = settings.current().quality_docs
    return configured if configured else wh.root / f"{wh.db_path.stem}-quality"


def superseded(other: str) -> str:
    """The one line an ingest says when another process loaded a file of its facility
    while it read its own (that file stays current)."""
    return (
        f"superseded: another process loaded {other} of this facility while this file was "
        f"read; {other} stays current, this file is kept as history"
    )


def store(wh: Warehouse, staged: StagedFile) -> None:
    """Put a file's data, written in a local staging folder, on the warehouse's object store.

    Every object is written before the catalog row naming the folder commits; readers
    only see folders a published snapshot lists, so the commit is the atomic switch (an
    object store cannot rename a folder). Leftovers of an earlier attempt at the same file
    are deleted first. Local storage: the data was written in place; nothing to do."""
    if not wh.storage.remote or staged.data_path.startswith("s3://"):
        return
    target = wh.charges_location(staged.facility_id, staged.file_id)
    try:
        wh.storage.remove(target)
        wh.storage.upload(Path(staged.data_path), target)
    except OSError as error:
        raise CannotStore(f"cannot store {staged.file_id} at {target}: {error}") from error
    staged.data_path = target


def gated_load(
    wh: Warehouse, staged: StagedFile, current_at_start: str | None
) -> tuple[GateResult, str | None]:
    """The data-quality gate on a staged file, its verdict recorded, then the load: a
    quarantined file is not loaded, a truncated-looking one is loaded as `held` (the
    previous file stays current). Also returns the file that superseded this one (loaded
    by another process since `current_at_start`, the facility's current file when the
    ingest began, read), if any."""
    if enabled():
        previous = previous_rows(wh, staged.facility_id, staged.file_id)
        verdict = validate_batch(staged, previous, docs_dir(wh))
        if wh.catalog:  # a worker keeps no results: the warehouse host renders them
            send_results(wh, docs_dir(wh))
        store(wh, staged)
        record_gate(wh, staged, verdict)
    else:
        verdict = GateResult(CheckOutcome.SKIPPED, "gate is off", staged.file_id)
        store(wh, staged)
    if verdict.status is not None:
        staged.status = verdict.status
        staged.status_reason = verdict.message if verdict.status == IngestOutcome.HELD else None
        return verdict, load_staged(wh, staged, current_at_start=current_at_start)
    return verdict, None


def ingest_file(
    path: Path,
    wh: Warehouse,
    *,
    source: str | None = None,
    facility_id: str | None = None,
    publish_after: bool = True,
    progress: Progress | None = None,
) -> IngestResult:
    """Read, normalise, check and load one local file; never raises for a bad file."""
    started = time.monotonic()
    source = source or str(path)
    result = IngestResult(source=source, outcome=IngestOutcome.FAILED)
    now = settings.current()
    prepared = None
    staging: Path | None = None
    try:
        if facility_id is not None:
            result.facility_id = valid_facility_id(facility_id, "--facility-id")
        prepared = prepare(path, now.work_dir)
        result.bytes = prepared.bytes
        findings = FindingLog(cap_per_rule=now.findings_cap)
        parsed = open_file(prepared, findings)
        meta = parsed.meta
        result.facility_id = facility_id = facility_id or facility_id_for(meta)
        result.hospital_name, result.layout, result.version = (
            meta.hospital_name,
            parsed.layout,
            meta.version,
        )
        file_id = f"{facility_id}-{prepared.sha256[:12]}"
        known = known_file(wh, facility_id, prepared.sha256)
        if known:
            result.outcome, result.file_id = IngestOutcome.UNCHANGED, known
            result.message = "same content as the file already loaded; nothing to do"
        else:
            current_at_start = current_file(wh, facility_id)
            # The gate's imports (2.5 s of CPU) load in a thread while the file is parsed,
            # and only for a file that is new: an unchanged one needs no gate.
            warm_up()
            target = wh.charges_location(facility_id, file_id)
            if wh.storage.remote:  # written here, put on the store after the gate (`store`)
                now.work_dir.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".hpt-store-", dir=now.work_dir))
                data_path = staging / file_id
            else:
                data_path = Path(target)
            check = Conformance(meta, parsed.header, parsed.layout) if now.validate_files else None
            batches = CheckedBatches(parsed, check, progress=progress)
            write_charges(
                batches, data_path, file_id, facility_id, wh.local_aliases, meta.license_state
            )
            result.rows = batches.rows
            result.seconds = time.monotonic() - started
            staged = StagedFile(
                facility_id=facility_id,
                file_id=file_id,
                source=source,
                sha256=prepared.sha256,
                bytes=prepared.bytes,
                layout=parsed.layout,
                encoding=prepared.encoding,
                meta=meta,
                data_path=str(data_path),
                row_count=result.rows,
                item_count=parsed.item_count,
                findings=findings.frame(),
                finding_counts={r: (findings.severities[r], n) for r, n in findings.counts.items()},
                seconds=result.seconds,
            )
            verdict, result.superseded_by = gated_load(wh, staged, current_at_start)
            result.file_id, result.message = file_id, verdict.message
            if result.superseded_by:
                result.message = "; ".join(
                    filter(None, [superseded(result.superseded_by), verdict.message])
                )
            result.outcome = verdict.status or IngestOutcome.QUARANTINED
            result.findings = findings.by_rule()
            result.errors = findings.count(Severity.ERROR)
            result.valid = is_valid(findings) if check is not None else None
    except (UnreadableFile, InvalidId, CannotStore) as error:
        result.message = str(error)
    finally:
        if prepared is not None:
            prepared.cleanup()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    result.seconds = time.monotonic() - started
    log_attempt(
        wh,
        facility_id=result.facility_id,
        source=source,
        sha256=prepared.sha256 if prepared else None,
        outcome=result.outcome,
        message=result.message or None,
        file_id=result.file_id,
        seconds=result.seconds,
    )
    if publish_after:  # also after a failure: operators see the attempt, data is unchanged
        _publish(wh)
    log.info("%s %s: %s %s", result.outcome, source, result.facility_id or "-", result.message)
    return result


def ingest_source(
    source: str,
    wh: Warehouse,
    *,
    facility_id: str | None = None,
    publish_after: bool = True,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest a local path or an http(s) URL (downloaded to the landing area first)."""
    try:
        if facility_id is not None:
            valid_facility_id(facility_id, "--facility-id")
    except InvalidId as error:  # refused before anything is fetched
        return IngestResult(source, IngestOutcome.FAILED, str(error))
    if "://" in source:
        return _ingest_url(source, wh, facility_id, publish_after, progress)
    try:
        with local_file(source) as path:
            return ingest_file(
                path,
                wh,
                source=source,
                facility_id=facility_id,
                publish_after=publish_after,
                progress=progress,
            )
    except UnreadableFile as error:  # a typo is not an attempt operators need to see
        return IngestResult(source, IngestOutcome.FAILED, str(error), facility_id)


def _ingest_url(
    url: str,
    wh: Warehouse,
    facility_id: str | None,
    publish_after: bool,
    progress: Progress | None,
) -> IngestResult:
    """Download `url` (unless not modified) and ingest it; the download attempt is recorded
    in `download_attempts` as `hpt run`'s are, under the facility id the ingest used."""
    got = download(url)
    if got.path is None:
        result = IngestResult(url, IngestOutcome.FAILED, f"download failed: {got.message}",
                              facility_id)  # fmt: skip
        record_acquisition(wh, facility_id, got.as_dict())
        log_attempt(
            wh, facility_id=facility_id, source=url, sha256=None,
            outcome=result.outcome, message=result.message, file_id=None, seconds=got.seconds,
        )  # fmt: skip
        return result
    result = _ingest_landed(got.path, got.sha256, wh, source=url, facility_id=facility_id,
                            progress=progress)  # fmt: skip
    record_acquisition(wh, result.facility_id or facility_id, got.as_dict())
    if publish_after:  # also after a failure: operators see the attempt, data is unchanged
        _publish(wh)
    return result


def ingest_acquired(
    acquired: AcquireResult | dict[str, Any],
    wh: Warehouse,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest what `acquire` landed, under the registry's facility id; not published.

    `force` re-reads a file not modified upstream (after a reader was improved, say)."""
    acq = acquired if isinstance(acquired, AcquireResult) else AcquireResult.from_dict(acquired)
    source = acq.url or acq.name
    if acq.outcome == AcquireOutcome.FAILED or acq.path is None:
        return IngestResult(source, IngestOutcome.FAILED, acq.message, acq.facility_id)
    if acq.previous and not force:
        # Unchanged upstream and ingested before: not even hashed or parsed again.
        outcome, message, file_id = acq.previous
        return IngestResult(source, IngestOutcome(str(outcome)), str(message), acq.facility_id,
                            file_id)  # fmt: skip
    return _ingest_landed(acq.path, acq.sha256, wh, source=source,
                          facility_id=acq.facility_id, progress=progress)  # fmt: skip


def _ingest_landed(
    location: str,
    sha256: str | None,
    wh: Warehouse,
    *,
    source: str,
    facility_id: str | None,
    progress: Progress | None,
) -> IngestResult:
    """`ingest_file` of a landed file, not published: a local one where it is, an object
    fetched into this worker's scratch folder first (checked against the hash it landed
    with, deleted after). A landed file that cannot be read is a failed ingest, recorded:
    the facility's data stays as it was."""
    started = time.monotonic()
    try:
        with local_copy(location, sha256, settings.current().work_dir) as path:
            return ingest_file(path, wh, source=source, facility_id=facility_id,
                               publish_after=False, progress=progress)  # fmt: skip
    except UnreadableFile as error:  # a landed object, before ingest_file had it
        whose = f"facility {facility_id}" if facility_id else source
        result = IngestResult(source, IngestOutcome.FAILED, f"{whose}: {error}", facility_id,
                              seconds=time.monotonic() - started)  # fmt: skip
        log_attempt(
            wh, facility_id=facility_id, source=source, sha256=None,
            outcome=result.outcome, message=result.message, file_id=None,
            seconds=result.seconds,
        )  # fmt: skip
        log.warning("%s %s: %s", result.outcome, source, result.message)
        return result


def _publish(wh: Warehouse, inspect: Callable[[Path], None] | None = None) -> Path:
    """Publish a snapshot (`inspect` sees it before readers do), then render the Data Docs
    pages of the validations stored since the last publish."""
    started = time.monotonic()
    snapshot = publish(wh, inspect)
    render_docs(wh, index=False)
    log.info("published %s in %.2f s", snapshot.name, time.monotonic() - started)
    return snapshot


def render_docs(wh: Warehouse, *, index: bool = True) -> Path:
    """Render the Data Docs pages of the validations stored since the last render (with
    `HPT_CATALOG`, those workers left for the warehouse host too: `collect_results`); the
    Data Docs folder."""
    docs = docs_dir(wh)
    if wh.catalog:
        collect_results(wh, docs)
    build_docs(docs, index=index)
    return docs


def _check(wh: Warehouse, snapshot: Path, today: dt.date | None, *, new: bool) -> GateResult:
    """Validate a snapshot with the warehouse suites and record the results in the catalog.

    A `new` snapshot (about to be published) gets the results too, and is not validated
    when it is in the same state as at the last check, which passed: `unchanged`."""
    max_age = settings.current().quality_max_age_days
    # A new snapshot's charge data is checked for the files it made current; `hpt quality
    # check` reads all of it.
    files = folded_in_last_build(snapshot) if new else None
    queries, state = warehouse_state(snapshot, today or dt.date.today(), max_age, files)
    if new and (last := last_pass(wh, state)):
        return unchanged(*last)
    result = validate_warehouse(snapshot, queries, max_age, docs_dir(wh))
    record_warehouse_check(wh, result, state, snapshot if new else None)
    return result


@dataclass
class Published:
    """A publish: the new snapshot and the warehouse check it carries."""

    snapshot: Path
    check: GateResult


def publish_checked(wh: Warehouse, today: dt.date | None = None) -> Published:
    """Publish once, checked: the new snapshot is validated with the warehouse suites
    before readers are switched to it, and carries the results (the catalog keeps them too).

    `today` is the run's logical date (freshness is measured from it). The check is
    `unchanged` (not run again) when nothing it reads changed since a check that passed,
    `skipped` with the gate off (HPT_QUALITY_GATE). It never raises: a check that cannot
    run is a `failed` result with a one-line reason, logged, and the snapshot is published.
    """
    if not enabled():
        return Published(_publish(wh), GateResult(CheckOutcome.SKIPPED, "gate is off"))
    checks: list[GateResult] = []

    def check(snapshot: Path) -> None:
        started = time.monotonic()
        try:
            result = _check(wh, snapshot, today, new=True)
        except Exception as error:  # the data gets published; say why it is unchecked
            log.exception("warehouse check")
            result = could_not_run(error)
        result.seconds = time.monotonic() - started
        checks.append(result)

    snapshot = _publish(wh, check)
    [result] = checks
    failed = result.outcome == CheckOutcome.FAILED
    level = logging.WARNING if failed or result.message else logging.INFO
    log.log(level, "warehouse check %s: %s", result.outcome, result.message or "all passed")
    return Published(snapshot, result)


def check_warehouse(wh: Warehouse, today: dt.date | None = None) -> GateResult:
    """`hpt quality check`: validate what readers see now (the published snapshot), record
    the results and publish them.

    `today` is the day freshness is measured from (default: today)."""
    started = time.monotonic()
    snapshot = published_snapshot(wh)
    if snapshot is None:
        raise FileNotFoundError(f"no published warehouse {unpublished(wh)}")
    result = _check(wh, snapshot, today, new=False)
    _publish(wh)
    result.seconds = time.monotonic() - started
    return result


def accept(wh: Warehouse, file_id: str) -> str:
    """An operator accepts a held file: it becomes loaded (current if newest), published.

    Raises ValueError when there is no such held file (`InvalidId` for no file id)."""
    facility_id = accept_held(wh, valid_file_id(file_id, "hpt accept"))
    _publish(wh)
    return f"accepted {file_id}: loaded and published for {facility_id}"


def retention_policy(wh: Warehouse) -> Policy:
    """What retention keeps (settings `HPT_RETENTION_*`), with this warehouse's Data Docs."""
    return Policy.from_settings(docs_dir(wh))


def prune(wh: Warehouse, *, dry_run: bool = False, now: dt.datetime | None = None) -> PruneReport:
    """`hpt prune`: expire what retention no longer keeps, publish without it (when readers'
    snapshot still lists it), then delete what no kept snapshot lists; a dry run only says
    what would go. `now` (naive UTC) is what the days are counted back from."""
    if dry_run:
        return plan(wh, retention_policy(wh), now=now)
    with pruning(wh, retention_policy(wh), now=now) as report:
        if not report.error and needs_publish(wh):
            _publish(wh)
            report.published = True
    return report
