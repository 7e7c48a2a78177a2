"""The CMS conformance engine: a file checked against the rules of its template version.

It runs inside the ingest's single streaming pass (and in `hpt validate`): every reader
feeds it the same way, whatever the layout —

    check = Conformance(parsed.meta, parsed.header, parsed.layout, version)
    for raw in parsed.batches:
        canonical, notes = normalise_batch(raw, log, check.foreign_numbers)
        check.check_batch(raw, canonical, log, notes)
    check.finish(log)

Findings go to the file's `FindingLog` (exact counts, capped detail). A file is *valid*
when it has no error-severity finding; alerts are allowed.
"""

from __future__ import annotations

import polars as pl

from core.files import FileMeta, Layout
from core.findings import FindingLog, Severity
from core.schema import conform_raw
from quality.header_rules import check_columns, check_elements, check_version_fit
from quality.row_facts import flags
from quality.row_rules import Check, checks, run_checks
from quality.versions import Version, choose_version
from transform.normalise import BatchNotes


class Conformance:
    """Checks one file: header once, then each batch, then what needs the whole file."""

    def __init__(
        self,
        meta: FileMeta,
        header: list[str],
        layout: Layout,
        version: Version | str | None = None,
    ) -> None:
        self.meta = meta
        self.header = header
        self.layout = layout
        self.version = (
            version
            if isinstance(version, Version)
            else choose_version(meta.version, layout, header, version)
        )
        self.rows = 0
        self._started = False
        self._checks: list[Check] = []
        self._flags = flags(self.version)
        self._estimated_alerted = False

    @property
    def foreign_numbers(self) -> frozenset[str]:
        """Number columns outside the file's template, for `normalise_batch`: a value
        there that is not a number is an alert, not an error."""
        return self.version.foreign_numbers

    def _start(self, log: FindingLog) -> None:
        """The header checks, once, before the first batch (or at the end if none)."""
        self._started = True
        missing: set[str] = set()
        if self.layout != Layout.JSON:
            missing = check_columns(self.header, self.layout, self.version, log)
        check_elements(self.meta, self.layout, self.version, log)
        check_version_fit(self.meta, self.header, self.layout, self.version, log)
        self._checks = checks(self.version, self.layout, missing)

    def check_batch(
        self,
        raw: pl.DataFrame,
        canonical: pl.DataFrame,
        log: FindingLog,
        notes: BatchNotes | None = None,
    ) -> None:
        """Check one raw batch and its canonical form (same rows, same order); `notes`
        from `normalise_batch` spare the checks some work."""
        if not self._started:
            self._start(log)
        self.rows += raw.height
        if raw.height == 0:
            return
        raw = conform_raw(raw)
        run_checks(raw, canonical, self._flags, self._checks, self.layout, log, notes)
        if self.layout == Layout.JSON and self.version.rules == "v3.0":
            self._alert_estimated(raw, log)

    def _alert_estimated(self, frame: pl.DataFrame, log: FindingLog) -> None:
        """JSON has no header: an `estimated_amount` in a v3 file is alerted once, when seen."""
        if self._estimated_alerted:
            return
        seen = frame.filter(pl.col("estimated_amount").is_not_null()).head(1)
        if seen.height:
            self._estimated_alerted = True
            log.add(
                "alert.estimated_amount_v3",
                Severity.ALERT,
                "estimated_amount is a v2.2 field; v3.0 files give median, 10th/90th "
                "percentile and count instead",
                row=seen["row_no"][0],
                column="estimated_amount",
                value=seen["estimated_amount"][0],
            )

    def finish(self, log: FindingLog) -> None:
        """What only the whole file can tell (and the header checks of a file with no rows)."""
        if not self._started:
            self._start(log)
        if self.rows == 0:
            log.add(
                "data.empty",
                Severity.ERROR,
                "the file has no standard charges",
                row=None if self.layout == Layout.JSON else 4,
            )


def is_valid(log: FindingLog) -> bool:
    """Valid = no error-severity finding (alerts allowed)."""
    return log.count(Severity.ERROR) == 0
