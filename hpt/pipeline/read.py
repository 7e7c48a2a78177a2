"""The one pass over a file — parse, normalise, check against the CMS rules and, when
ingesting, write its Parquet parts — and `hpt validate`, which is that pass alone."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from core import settings
from core.errors import CannotStore, UnreadableFile
from core.files import Layout
from core.findings import FindingLog, Severity
from core.schema import CHARGE_ROW_GROUP, STORED_SCHEMA
from ingest.base import ParsedFile
from ingest.detect import open_file
from ingest.encoding import prepare
from quality.conformance import Conformance, is_valid
from quality.json_schema import JsonSchemaCheck, schema_version
from quality.suites import gate_facts
from transform.local_aliases import read as read_local_aliases
from transform.normalise import BatchNotes, normalise_batch
from warehouse.marts import stage_file

#: Charge parts are written with LZ4: 15% less CPU than Polars' default zstd, for parts
#: about twice the size (~115 MB per GB of tall CSV); DuckDB reads either as fast.
PARQUET_COMPRESSION: Final = "lz4"
Progress = Callable[[int], None]


@dataclass
class CheckedBatches:
    """The canonical batches of a file, each checked as it goes by (CMS conformance), so a
    multi-GB file is read once; iterate once. `rows` counts the batches' rows so far.

    With `max_errors` > 0 the pass stops once that many errors are found (`stopped_after`
    says how many); otherwise, at the end, the checks that need the whole file run.
    """

    parsed: ParsedFile
    check: Conformance | None
    max_errors: int = 0
    progress: Progress | None = None
    rows: int = 0
    stopped_after: int | None = None

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, BatchNotes]]:
        log = self.parsed.log
        foreign = self.check.foreign_numbers if self.check is not None else frozenset()
        schema = self._json_schema()
        try:
            for raw in self.parsed.batches:
                canonical, notes = normalise_batch(raw, log, foreign)
                if self.check is not None:
                    self.check.check_batch(raw, canonical, log, notes)
                self.rows += canonical.height
                yield canonical, notes
                if self.progress:
                    self.progress(canonical.height)
                errors = log.count(Severity.ERROR) + (schema.errors if schema else 0)
                if self.max_errors and errors >= self.max_errors:
                    self.stopped_after = errors
                    return
            if schema is not None:
                schema.wait()
            if self.check is not None:
                self.check.finish(log)
        finally:
            # Stopped early (`max_errors`, a failure downstream): the reader's threads stop
            # now, not whenever the garbage collector gets to them.
            close = getattr(self.parsed.batches, "close", None)
            if close is not None:
                close()
            if schema is not None:
                schema.close(log)

    def _json_schema(self) -> JsonSchemaCheck | None:
        """A JSON file's check against the CMS JSON schema of its version, started (its
        items are checked beside this pass, in a thread or a process of their own); None
        for CSV, or with the checks off."""
        layout = self.parsed.json_layout
        if self.check is None or layout is None or not settings.current().validate_json_schema:
            return None
        template = self.check.version.template_version
        version = schema_version(template, self.parsed.meta.version)
        check = JsonSchemaCheck(layout, version, self.parsed.log.cap_per_rule)
        check.start()
        return check


def write_charges(
    batches: Iterable[tuple[pl.DataFrame, BatchNotes]],
    path: Path,
    file_id: str,
    facility_id: str,
    local_aliases: Path | None = None,
    state: str | None = None,
) -> None:
    """Write canonical batches as a folder of Parquet parts, with the gate's facts.

    Parts are written to `<path>.part/` and the folder is renamed to `path` at the end, so
    a load that dies midway leaves no charge data behind (Polars writes a part ~2.5x
    faster than an incremental single-file writer). A write the file system refuses (disk
    full, no access) raises `CannotStore`, after the parts written so far are deleted.
    """
    tmp = path.with_name(path.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def write(batch: pl.DataFrame, notes: BatchNotes, part: Path) -> None:
        stored = batch.select(
            pl.lit(file_id).alias("file_id"), pl.lit(facility_id).alias("facility_id"), pl.all()
        ).cast(STORED_SCHEMA)
        stored = stored.with_columns(gate_facts(batch, notes.clean_code_types))
        stored.write_parquet(part, compression=PARQUET_COMPRESSION, row_group_size=CHARGE_ROW_GROUP)

    # Parquet encoding runs outside the GIL: one writer thread encodes batch n while this
    # thread normalises and checks batch n+1 (1 GB tall: 11.7 s → 9.8 s). At most one
    # batch waits, so memory stays bounded.
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="hpt-parquet") as writer_thread:
            for number, (canonical, notes) in enumerate(batches):
                if pending is not None:
                    pending.result()
                part = tmp / f"part-{number:05d}.parquet"
                pending = writer_thread.submit(write, canonical, notes, part)
            if pending is not None:
                pending.result()
        if pending is None:  # no rows: one empty part keeps the schema
            empty = pl.DataFrame(schema=STORED_SCHEMA)
            empty.with_columns(gate_facts(empty)).write_parquet(
                tmp / "part-00000.parquet", compression=PARQUET_COMPRESSION
            )
        # The file's share of the comparison marts, derived here in the worker so a
        # publish only folds it in (warehouse.marts), with its warehouse's own payer aliases.
        stage_file(tmp, read_local_aliases(local_aliases), state)
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    except Exception as error:
        refused = _refused_write(error)
        if refused is None:
            raise
        raise CannotStore(f"cannot write the charges to {path.parent}: {refused}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refused_write(error: Exception) -> str | None:
    """Why the file system refused a write (`No space left on device (os error 28)`), or
    None for any other failure. Polars reports its own writes' I/O errors as a
    `ComputeError` that quotes the OS error."""
    if isinstance(error, OSError) and error.errno is not None:
        return f"{error.strerror} (os error {error.errno})"
    if isinstance(error, pl.exceptions.ComputeError):
        found = re.search(r"IO error: (.+?\(os error \d+\))", str(error))
        return found.group(1) if found else None
    if isinstance(error, duckdb.IOException):  # the file's marts data (warehouse.marts)
        found = re.search(r"No space left on device|Disk quota exceeded|File too large", str(error))
        return found.group(0) if found else None
    return None


@contextlib.contextmanager
def local_file(source: str) -> Iterator[Path]:
    """The file to read for `source` while the block runs: a local path, or an http(s) URL
    downloaded to the landing area first (a local copy of it when that is an object store);
    `UnreadableFile` when there is none."""
    if "://" in source:
        from ingest.download import fetched

        with fetched(source) as path:
            yield path
        return
    path = Path(source)
    if not path.is_file():
        raise UnreadableFile("no such file")
    yield path


@dataclass
class Validation:
    """The verdict of `hpt validate` on one file, with its findings."""

    source: str
    log: FindingLog = field(default_factory=FindingLog)
    layout: str | None = None
    version_claimed: str | None = None
    rule_set: str | None = None
    version_reason: str | None = None
    template: str | None = None  # the CMS version validated against (2.0.0 … 3.0.0)
    rows: int = 0
    seconds: float = 0.0
    unreadable: str | None = None  # one-line reason when the file could not be read
    stopped_after: int | None = None  # set when --max-errors cut the check short

    @property
    def valid(self) -> bool:
        return self.unreadable is None and is_valid(self.log)

    def findings(self) -> pl.DataFrame:
        """The stored findings, each with `path`: where it is in a JSON file (null in CSV,
        where `row_no` and `column` say where)."""
        frame = self.log.frame()
        return frame.with_columns(
            (json_path() if self.layout == Layout.JSON else pl.lit(None, pl.String)).alias("path")
        ).select("rule", "severity", "row_no", "column", "path", "value", "message")

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "valid": self.valid,
            "layout": self.layout,
            "version": self.version_claimed,
            "validated_against": self.template,
            "rule_set": self.rule_set,
            "version_reason": self.version_reason,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "unreadable": self.unreadable,
            "stopped_after_errors": self.stopped_after,
            "errors": self.log.count(Severity.ERROR),
            "alerts": self.log.count(Severity.ALERT),
            "counts": {
                rule: {"severity": self.log.severities[rule], "count": n}
                for rule, n in self.log.by_rule().items()
            },
            "findings": self.findings().to_dicts(),
        }


def json_path() -> pl.Expr:
    """A finding's JSON pointer in a JSON file: the schema checks put it in `column`; the
    rules give the item's index in `row_no` (and the field in `column`) or, for the root,
    the key in `column` (`license_information.state` → `/license_information/state`)."""
    column, row = pl.col("column"), pl.col("row_no")
    return (
        pl.when(column.str.starts_with("/"))
        .then(column)
        .when(row.is_not_null())
        .then(pl.format("/standard_charge_information/{}", row))
        .when(column.is_not_null())
        .then(pl.lit("/") + column.str.replace_all(".", "/", literal=True))
    )


def validate_path(
    path: Path, *, version: str | None = None, max_errors: int = 0, source: str | None = None
) -> Validation:
    """Check a local file without touching the warehouse: the ingest's pass, minus the
    Parquet writing and loading. `max_errors` > 0 stops once that many errors are found."""
    started = time.monotonic()
    now = settings.current()
    result = Validation(source=source or str(path), log=FindingLog(cap_per_rule=now.findings_cap))
    prepared = None
    try:
        prepared = prepare(path, now.work_dir)
        parsed = open_file(prepared, result.log)
        check = Conformance(parsed.meta, parsed.header, parsed.layout, version)
        result.layout, result.version_claimed = parsed.layout, parsed.meta.version
        result.rule_set, result.version_reason = check.version.rules, check.version.reason
        result.template = check.version.template_version
        batches = CheckedBatches(parsed, check, max_errors=max_errors)
        for _ in batches:
            pass
        result.rows, result.stopped_after = batches.rows, batches.stopped_after
    except UnreadableFile as error:
        result.unreadable = str(error)
    finally:
        if prepared is not None:
            prepared.cleanup()
    result.seconds = time.monotonic() - started
    return result


def validate_source(source: str, *, version: str | None = None, max_errors: int = 0) -> Validation:
    """Check a local path or an http(s) URL (downloaded to the landing area first)."""
    try:
        with local_file(source) as path:
            return validate_path(path, version=version, max_errors=max_errors, source=source)
    except UnreadableFile as error:
        return Validation(source=source, unreadable=str(error))
