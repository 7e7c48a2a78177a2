"""What every reader returns: file metadata, the row-3 header, and raw batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from core.files import FileMeta, Layout
from core.findings import FindingLog
from ingest.json_locate import JsonLayout

#: Rows per raw batch: big enough for vectorised work, small enough for bounded memory.
BATCH_ROWS = 200_000


@dataclass
class ParsedFile:
    """A file being read: metadata known up front, raw batches streamed on demand.

    `batches` yields raw batches (see `core.schema.RAW_SCHEMA`) and may record
    findings in `log` as it goes. Rows with the same `row_no` come from one item (a JSON
    item, a CSV row) and share its item fields (description, codes, …). It raises
    `UnreadableFile` if the file turns out to be broken midway (e.g. truncated), in
    which case nothing must be loaded.
    """

    layout: Layout
    meta: FileMeta
    header: list[str]
    batches: Iterator[pl.DataFrame]
    log: FindingLog
    encoding: str = "utf-8"
    #: Items read (JSON: entries of `standard_charge_information[]`), set once `batches`
    #: is exhausted; None for layouts where items are not counted.
    item_count: int | None = None
    #: JSON: the root metadata and where the item array lies, for checks that read the
    #: items their own way (the JSON schema checks); None for CSV.
    json_layout: JsonLayout | None = None
