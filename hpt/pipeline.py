"""The pipeline's step functions, shared by the `hpt` CLI and the Airflow DAG."""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from core import settings
from core.errors import UnreadableFile
from core.files import FileMeta
from core.findings import FindingLog
from core.schema import STORED_SCHEMA
from ingest.base import ParsedFile
from ingest.detect import open_file
from ingest.encoding import prepare
from quality.conformance import Conformance
from quality.gate import build_docs, gate, warm_up
from quality.suites import gate_facts
from transform.normalise import BatchNotes, normalise_batch
from warehouse.db import Warehouse
from warehouse.load import StagedFile, known_file, load_staged, log_attempt
from warehouse.publish import publish

log = logging.getLogger("hpt")
#: Charge parts are written with LZ4: 15% less CPU than Polars' default zstd, for parts
#: about twice the size (~115 MB per GB of tall CSV); DuckDB reads either as fast.
PARQUET_COMPRESSION: Final = "lz4"
Progress = Callable[[int], None]


@dataclass
class IngestResult:
    """What one ingest did: a small, JSON-friendly summary."""

    source: str
    outcome: str  # "loaded", "unchanged", "held", "quarantined" or "failed"
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

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "mb_per_s": round(self.mb_per_s, 1)}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def facility_id_for(meta: FileMeta) -> str:
    """The facility id a file implies: license state + number, else first type-2 NPI,
    else a slug of the hospital name."""
    if meta.license_number and meta.license_state:
        number = re.sub(r"[^A-Za-z0-9-]+", "", meta.license_number)
        if number:
            return f"{meta.license_state.lower()}-{number.lower()}"
    for npi in meta.npis:
        digits = re.sub(r"\D", "", npi)
        if len(digits) == 10 and digits != "0" * 10:
            return f"npi-{digits}"
    if meta.hospital_name:
        return slug(meta.hospital_name)
    raise UnreadableFile("cannot derive a facility id: no license, NPI or hospital name")


def _write_charges(
    parsed: ParsedFile,
    path: Path,
    file_id: str,
    facility_id: str,
    progress: Progress | None,
    check: Conformance | None = None,
) -> int:
    """Normalise every raw batch into a folder of Parquet parts; return the row count.

    Parts are written to `<path>.part/` and the folder is renamed to `path` at the end, so
    a load that dies midway leaves no charge data behind (Polars writes a part ~2.5x
    faster than an incremental single-file writer). `check` sees every batch in the same
    pass (CMS conformance), so a multi-GB file is read once.
    """
    rows = 0
    tmp = path.with_name(path.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def write(batch: pl.DataFrame, notes: BatchNotes, part: Path) -> None:
        stored = batch.select(
            pl.lit(file_id).alias("file_id"), pl.lit(facility_id).alias("facility_id"), pl.all()
        ).cast(STORED_SCHEMA)
        stored = stored.with_columns(gate_facts(batch, notes.clean_code_types))
        stored.write_parquet(part, compression=PARQUET_COMPRESSION)

    # Parquet encoding runs outside the GIL: one writer thread encodes batch n while this
    # thread normalises and checks batch n+1 (1 GB tall: 11.7 s → 9.8 s). At most one
    # batch waits, so memory stays bounded.
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="hpt-parquet") as writer_thread:
            for number, raw in enumerate(parsed.batches):
                canonical, notes = normalise_batch(raw, parsed.log)
                if check is not None:
                    check.check_batch(raw, canonical, parsed.log, notes)
                if pending is not None:
                    pending.result()
                part = tmp / f"part-{number:05d}.parquet"
                pending = writer_thread.submit(write, canonical, notes, part)
                rows += canonical.height
                if progress:
                    progress(canonical.height)
            if pending is not None:
                pending.result()
        if check is not None:
            check.finish(parsed.log)
        if rows == 0:
            empty = pl.DataFrame(schema=STORED_SCHEMA)
            empty.with_columns(gate_facts(empty)).write_parquet(
                tmp / "part-00000.parquet", compression=PARQUET_COMPRESSION
            )
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


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
    result = IngestResult(source=source, outcome="failed", facility_id=facility_id)
    work = settings.current().work_dir
    prepared = None
    try:
        prepared = prepare(path, work)
        result.bytes = prepared.bytes
        findings = FindingLog(cap_per_rule=settings.current().findings_cap)
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
            result.outcome, result.file_id = "unchanged", known
            result.message = "same content as the file already loaded; nothing to do"
        else:
            # The gate's imports (2.5 s of CPU) load in a thread while the file is parsed,
            # and only for a file that is new: an unchanged one needs no gate.
            warm_up()
            data_path = wh.charges_path(facility_id, file_id)
            check = (
                Conformance(meta, parsed.header, parsed.layout)
                if settings.current().validate_files
                else None
            )
            result.rows = _write_charges(parsed, data_path, file_id, facility_id, progress, check)
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
            # The data-quality gate: quarantined batches are not loaded, truncated-looking
            # ones are loaded as 'held' (the previous file stays current).
            verdict = gate(wh, staged)
            result.file_id, result.message = file_id, verdict.message
            if verdict.status is None:
                result.outcome = "quarantined"
            else:
                staged.status = verdict.status
                staged.status_reason = verdict.message if verdict.status == "held" else None
                load_staged(wh, staged)
                result.outcome = verdict.status
            result.findings = findings.by_rule()
    except UnreadableFile as error:
        result.message = str(error)
    finally:
        if prepared is not None:
            prepared.cleanup()
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
        publish(wh)
        build_docs(wh)
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
    if "://" in source:
        from ingest.download import fetch

        try:
            path = fetch(source, settings.current().landing)
        except UnreadableFile as error:
            result = IngestResult(source=source, outcome="failed", message=str(error))
            log_attempt(
                wh,
                facility_id=facility_id,
                source=source,
                sha256=None,
                outcome="failed",
                message=result.message,
                file_id=None,
                seconds=0.0,
            )
            return result
    else:
        path = Path(source)
        if not path.is_file():
            return IngestResult(source=source, outcome="failed", message="no such file")
    return ingest_file(
        path,
        wh,
        source=source,
        facility_id=facility_id,
        publish_after=publish_after,
        progress=progress,
    )
