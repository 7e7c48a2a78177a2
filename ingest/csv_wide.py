"""Reader for CMS CSV "wide" files (v2.0 through v3.0): one row per item, payers as columns.

Row 3 carries item columns (as in the tall layout) and, per payer/plan group `P|p`, the
columns `standard_charge|P|p|negotiated_dollar` … `additional_payer_notes|P|p` (nine in
v3, six in v2.2, five in v2.1). A group is recognised by the known field names at the ends
of a header — never by splitting on `|` — so a payer or plan containing `|`, `_` or spaces
still parses; payer and plan are split at the last `|` of the middle part.

Each data row is unpivoted (vectorised, group by group) into one standard-charge row per
group that has any value, or one payer-less row when no group has a value. Batches are
sized by cells, so memory does not grow with the number of columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from core.errors import UnreadableFile
from core.files import Layout
from core.findings import FindingLog
from ingest.base import BATCH_ROWS, ParsedFile
from ingest.csv_header import CsvHead, file_meta, read_head
from ingest.csv_rows import data_rows, data_width
from ingest.csv_tall import (
    ITEM_COLUMNS,
    PAYER_PREFIXES,
    PAYER_SUFFIXES,
    check_not_truncated,
    codes_expr,
    column_plan,
    duplicate_column,
    unknown_column,
)
from ingest.encoding import PreparedFile
from ingest.prefetch import prefetched

_PIPE = re.compile(r"\s*\|\s*")
#: Cells (rows × columns) read per batch: bounds memory whatever the width.
BATCH_CELLS = 8_000_000
#: Bytes Polars parses at a time, for a wide file (see `csv_tall.CSV_CHUNK_BYTES`): ~1,000
#: rows of a 120-group file.
CSV_CHUNK_BYTES = 4 << 20


@dataclass
class Group:
    """One payer/plan group of a wide header: raw column → position."""

    payer: str
    plan: str | None
    columns: dict[str, int] = field(default_factory=dict)


def group_column(cell: str) -> tuple[str, str] | None:
    """(group key `P|p` as published, raw column) for a payer-specific header, else None."""
    text = _PIPE.sub("|", cell.strip())
    lower = text.lower()
    if lower.startswith("standard_charge|"):
        for suffix, raw in PAYER_SUFFIXES.items():
            if lower.endswith("|" + suffix):
                middle = text[len("standard_charge|") : len(text) - len(suffix) - 1]
                return (middle, raw) if middle.strip("|") else None
        return None
    for prefix, raw in PAYER_PREFIXES.items():
        if lower.startswith(prefix + "|"):
            middle = text[len(prefix) + 1 :]
            return (middle, raw) if middle.strip("|") else None
    return None


def is_wide(header: list[str]) -> bool:
    """Row 3 of a wide file has payer-specific `standard_charge|P|p|…` columns."""
    return any(group_column(cell) is not None for cell in header)


def groups(header: list[str], positions: list[int], log: FindingLog) -> list[Group]:
    """Payer/plan groups among the header `positions`; the rest recorded as unknown."""
    found: dict[str, Group] = {}
    for position in positions:
        cell = header[position]
        parsed = group_column(cell)
        if parsed is None:
            unknown_column(log, cell)
            continue
        key, raw = parsed
        payer, _, plan = key.rpartition("|")
        if not payer:
            payer, plan = plan, ""
        group = found.setdefault(key.lower(), Group(payer.strip(), plan.strip() or None))
        if raw in group.columns:
            duplicate_column(log, cell)
            continue
        group.columns[raw] = position
    # A group missing one of its columns (read as empty) is a conformance finding,
    # checked against the file's template version in quality.header_rules.
    return list(found.values())


def _unpivot(frame: pl.DataFrame, item: list[str], plan: list[Group]) -> Iterator[pl.DataFrame]:
    """One row per (row × group with a value), group by group, in batches of about
    `BATCH_ROWS`; then one payer-less row per row without any group value.

    Lazy on purpose: every eager operation on a 1,000-column frame pays for the width
    (its schema), and two per group made this 11x slower (1 GB wide file: 1.4 → 0.13 µs
    per standard charge). Each group's rows are filtered, its few columns selected, and a
    batch of groups collected at once, in parallel.
    """
    payer_columns = list(dict.fromkeys(raw for group in plan for raw in group.columns))
    # An empty cell is null (quoted or not: `csv_rows`).
    has_value = [
        pl.any_horizontal([pl.col(f"c{pos}").is_not_null() for pos in group.columns.values()])
        for group in plan
    ]
    counts = frame.select(has.sum().alias(f"g{i}") for i, has in enumerate(has_value)).row(0)
    lazy = frame.lazy()
    pending: list[pl.LazyFrame] = []
    size = 0
    for group, has, count in zip(plan, has_value, counts, strict=True):
        if not count:
            continue
        cols = [
            (
                pl.col(f"c{group.columns[raw]}")
                if raw in group.columns
                else pl.lit(None, pl.String)
            ).alias(raw)
            for raw in payer_columns
        ]
        pending.append(
            lazy.filter(has).select(
                *item,
                pl.lit(group.payer).alias("payer_name"),
                pl.lit(group.plan, dtype=pl.String).alias("plan_name"),
                *cols,
            )
        )
        size += count
        if size >= BATCH_ROWS:
            yield pl.concat(pending).collect()
            pending, size = [], 0
    if pending:
        yield pl.concat(pending).collect()
    alone = lazy.filter(~pl.any_horizontal(has_value)).select(item).collect()
    if alone.height:
        yield alone


def batches(
    prepared: PreparedFile,
    header: list[str],
    item: list[pl.Expr],
    plan: list[Group],
    log: FindingLog,
) -> Iterator[pl.DataFrame]:
    """Raw batches of a wide file: rows read in cell-bounded chunks, then unpivoted."""
    chunk = max(1_000, BATCH_CELLS // max(len(header), 1))
    names = [expr.meta.output_name() for expr in item]
    rows = data_rows(prepared.path, header, log, chunk_rows=chunk, block_bytes=CSV_CHUNK_BYTES)
    for frame in rows:
        yield from _unpivot(frame.with_columns(item), names, plan)


def read(prepared: PreparedFile, log: FindingLog, head: CsvHead | None = None) -> ParsedFile:
    """Open a wide CSV file: metadata and header now, unpivoted raw batches later."""
    head = head or read_head(prepared.path)
    meta = file_meta(head, log)
    columns, codes, unknown = column_plan(head.header, ITEM_COLUMNS, log)
    plan = groups(head.header, unknown, log)
    if not plan:
        raise UnreadableFile("not a CMS wide CSV file: row 3 has no payer/plan columns")
    check_not_truncated(prepared, data_width(head.header))
    item = [pl.col("row_no")]
    item += [pl.col(f"c{position}").alias(raw) for raw, position in columns.items()]
    item.append(codes_expr(codes))
    return ParsedFile(
        layout=Layout.CSV_WIDE,
        meta=meta,
        header=head.header,
        batches=prefetched(batches(prepared, head.header, item, plan, log)),
        log=log,
        encoding=prepared.encoding,
    )
