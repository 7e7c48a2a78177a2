"""What a file says about itself, the layout it comes in, and a file read and staged for
loading: shared by every stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

from core.findings import Severity
from core.outcomes import IngestOutcome


class Layout(StrEnum):
    """How a file lays out its charges; the value is what the warehouse and CLI show."""

    CSV_TALL = "csv_tall"  # one row per item and payer/plan
    CSV_WIDE = "csv_wide"  # one row per item, a column group per payer/plan
    JSON = "json"


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
class StagedFile:
    """A file parsed and written to its Parquet path, not yet visible in the warehouse."""

    facility_id: str
    file_id: str
    source: str
    sha256: str
    bytes: int
    layout: Layout
    encoding: str
    meta: FileMeta
    #: The folder of its Parquet parts, absolute (the catalog stores it relative to the
    #: warehouse root: `warehouse.db.Warehouse.relative`).
    data_path: str
    row_count: int
    item_count: int | None
    findings: pl.DataFrame
    finding_counts: dict[str, tuple[Severity, int]]  # rule -> (severity, exact count)
    seconds: float
    status: IngestOutcome = IngestOutcome.LOADED  # or held (see `files.status`)
    status_reason: str | None = None
