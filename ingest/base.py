"""What every reader returns: file metadata, the row-3 header, and raw batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from hpt.findings import FindingLog

Layout = Literal["csv_tall", "csv_wide", "json"]
#: Rows per raw batch: big enough for vectorised work, small enough for bounded memory.
BATCH_ROWS = 200_000


@dataclass
class FileMeta:
    """What a file says about the hospital (CSV rows 1–2, or the JSON root)."""

    hospital_name: str | None = None
    last_updated_on: dt.date | None = None
    last_updated_raw: str | None = None
    version: str | None = None
    locations: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    license_number: str | None = None
    license_state: str | None = None
    npis: list[str] = field(default_factory=list)
    attestation: bool | None = None
    attester_name: str | None = None
    financial_aid_policy: str | None = None
    general_contract_provisions: str | None = None
    #: Names of the general data elements the file has (CSV row 1, JSON root keys), lower
    #: case; empty when the reader does not say (conformance then judges values only).
    elements: list[str] = field(default_factory=list)


@dataclass
class ParsedFile:
    """A file being read: metadata known up front, raw batches streamed on demand.

    `batches` yields raw batches (see `transform.schema.RAW_SCHEMA`) and may record
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
