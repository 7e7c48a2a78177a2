"""What a file says about itself and the layout it comes in: shared by every stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Layout = Literal["csv_tall", "csv_wide", "json"]


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
