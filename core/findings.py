"""Findings: problems found in a file, as values the user sees (rule, row, column, value).

Counts per rule are always exact; stored detail is capped per rule so that a broken
multi-GB file cannot flood the warehouse.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl


class Severity(StrEnum):
    """How bad a finding is; the value is what tables, JSON and the CLI show."""

    ERROR = "error"  # breaks a CMS rule: the file is not valid
    ALERT = "alert"  # allowed, but worth a look (a 999999999 placeholder, a bad byte)
    WARNING = "warning"
    INFO = "info"


FINDINGS_SCHEMA = pl.Schema(
    {
        "rule": pl.String(),
        "severity": pl.String(),
        "row_no": pl.Int64(),
        "column": pl.String(),
        "value": pl.String(),
        "message": pl.String(),
    }
)

DEFAULT_CAP_PER_RULE = 1000


@dataclass
class FindingLog:
    """Collects findings for one file: exact counts, detail capped per rule."""

    cap_per_rule: int = DEFAULT_CAP_PER_RULE
    counts: Counter[str] = field(default_factory=Counter)
    severities: dict[str, Severity] = field(default_factory=dict)
    _rows: list[dict[str, object]] = field(default_factory=list)
    _frames: list[pl.DataFrame] = field(default_factory=list)

    def add(
        self,
        rule: str,
        severity: Severity,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        """Record one finding."""
        self.severities.setdefault(rule, severity)
        if self.counts[rule] < self.cap_per_rule:
            self._rows.append(
                {
                    "rule": rule,
                    "severity": severity.value,
                    "row_no": row,
                    "column": column,
                    "value": None if value is None else str(value)[:500],
                    "message": message,
                }
            )
        self.counts[rule] += 1

    def add_frame(
        self, rule: str, severity: Severity, message: str, hits: pl.DataFrame, column: str
    ) -> None:
        """Record one finding per row of `hits` (columns `row_no`, `value`), vectorised.

        `hits` may carry its own `column` (e.g. a payer-specific wide column); `column`
        is used where it has none.
        """
        if hits.height == 0:
            return
        self.severities.setdefault(rule, severity)
        room = self.cap_per_rule - self.counts[rule]
        if room > 0:
            where = (
                pl.col("column").cast(pl.String).fill_null(column)
                if "column" in hits.columns
                else pl.lit(column)
            )
            kept = hits.head(room).select(
                pl.lit(rule).alias("rule"),
                pl.lit(severity.value).alias("severity"),
                pl.col("row_no").cast(pl.Int64),
                where.alias("column"),
                pl.col("value").cast(pl.String).str.slice(0, 500),
                pl.lit(message).alias("message"),
            )
            self._frames.append(kept)
        self.counts[rule] += hits.height

    def merge(self, other: FindingLog) -> None:
        """Add the findings of `other` (e.g. collected in another thread): counts summed,
        detail kept up to this log's cap per rule."""
        stored = other.frame()
        for rule, count in other.counts.items():
            self.severities.setdefault(rule, other.severities[rule])
            room = self.cap_per_rule - self.counts[rule]
            if room > 0:
                kept = stored.filter(pl.col("rule") == rule).head(room)
                if kept.height:
                    self._frames.append(kept)
            self.counts[rule] += count

    def _all_frames(self) -> list[pl.DataFrame]:
        frames = list(self._frames)
        if self._rows:
            frames.append(pl.DataFrame(self._rows, schema=FINDINGS_SCHEMA))
        return frames

    def frame(self) -> pl.DataFrame:
        """The stored (capped) findings, in the order found."""
        frames = self._all_frames()
        if not frames:
            return pl.DataFrame(schema=FINDINGS_SCHEMA)
        return pl.concat(frames, how="vertical")

    def count(self, severity: Severity | None = None) -> int:
        """Exact number of findings, optionally of one severity."""
        return sum(
            n
            for rule, n in self.counts.items()
            if severity is None or self.severities.get(rule) == severity
        )

    def by_rule(self) -> dict[str, int]:
        """Exact counts per rule, most frequent first."""
        return dict(self.counts.most_common())
