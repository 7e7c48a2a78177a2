"""`hpt validate`: check one file against the CMS rules without touching the warehouse.

The same pass as an ingest (prepare → reader → normaliser → conformance engine), minus
the Parquet writing and loading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from core import settings
from core.errors import UnreadableFile
from core.findings import FindingLog
from ingest.detect import open_file
from ingest.encoding import prepare
from quality.conformance import Conformance, is_valid
from transform.normalise import normalise_batch


@dataclass
class Validation:
    """The verdict on one file, with its findings."""

    source: str
    log: FindingLog = field(default_factory=FindingLog)
    layout: str | None = None
    version_claimed: str | None = None
    rule_set: str | None = None
    version_reason: str | None = None
    rows: int = 0
    seconds: float = 0.0
    unreadable: str | None = None  # one-line reason when the file could not be read
    stopped_after: int | None = None  # set when --max-errors cut the check short

    @property
    def valid(self) -> bool:
        return self.unreadable is None and is_valid(self.log)

    def as_dict(self) -> dict[str, object]:
        frame = self.log.frame()
        return {
            "source": self.source,
            "valid": self.valid,
            "layout": self.layout,
            "version": self.version_claimed,
            "rule_set": self.rule_set,
            "version_reason": self.version_reason,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "unreadable": self.unreadable,
            "stopped_after_errors": self.stopped_after,
            "errors": self.log.count("error"),
            "alerts": self.log.count("alert"),
            "counts": {
                rule: {"severity": self.log.severities[rule], "count": n}
                for rule, n in self.log.by_rule().items()
            },
            "findings": frame.to_dicts(),
        }


def validate_path(
    path: Path, *, version: str | None = None, max_errors: int = 0, source: str | None = None
) -> Validation:
    """Check a local file; `max_errors` > 0 stops reading once that many errors are found."""
    started = time.monotonic()
    result = Validation(
        source=source or str(path),
        log=FindingLog(cap_per_rule=settings.current().findings_cap),
    )
    log = result.log
    work = settings.current().work_dir
    prepared = None
    try:
        prepared = prepare(path, work)
        parsed = open_file(prepared, log)
        check = Conformance(parsed.meta, parsed.header, parsed.layout, version)
        result.layout, result.version_claimed = parsed.layout, parsed.meta.version
        result.rule_set, result.version_reason = check.version.rules, check.version.reason
        for raw in parsed.batches:
            canonical, notes = normalise_batch(raw, log)
            check.check_batch(raw, canonical, log, notes)
            if max_errors and log.count("error") >= max_errors:
                result.stopped_after = log.count("error")
                break
        else:
            check.finish(log)
        result.rows = check.rows
    except UnreadableFile as error:
        result.unreadable = str(error)
    finally:
        if prepared is not None:
            prepared.cleanup()
    result.seconds = time.monotonic() - started
    return result


def validate_source(source: str, *, version: str | None = None, max_errors: int = 0) -> Validation:
    """Check a local path or an http(s) URL (downloaded to the landing area first)."""
    if "://" in source:
        from ingest.download import fetch

        try:
            path = fetch(source, settings.current().landing)
        except UnreadableFile as error:
            return Validation(source=source, unreadable=str(error))
    else:
        path = Path(source)
        if not path.is_file():
            return Validation(source=source, unreadable="no such file")
    return validate_path(path, version=version, max_errors=max_errors, source=source)
