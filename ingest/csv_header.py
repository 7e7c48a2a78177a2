"""CSV rows 1–3: the general data elements (rows 1–2) and the data column headers (row 3)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnreadableFile
from core.files import FileMeta
from core.findings import FindingLog, Severity
from ingest.values import parse_bool, parse_date

_PIPE = re.compile(r"\s*\|\s*")
_STATEMENT = "to the best of its knowledge and belief"
#: Rows 1–3 of a CMS CSV file fit in this many characters (a header of 50,000 columns does).
HEAD_MAX_CHARS = 16 << 20
csv.field_size_limit(2**31 - 1)


def header_name(cell: str) -> str:
    """A header cell as compared: lower case, trimmed, no spaces around pipes."""
    return _PIPE.sub("|", cell.strip().lower())


def split_pipes(value: str | None) -> list[str]:
    """`a | b|c` → [a, b, c]; blank parts dropped."""
    if not value:
        return []
    return [part.strip() for part in value.split("|") if part.strip()]


@dataclass
class CsvHead:
    """The first three records of a CMS CSV file."""

    names: list[str]  # row 1 as published
    values: list[str]  # row 2
    header: list[str]  # row 3 as published


def read_head(path: Path) -> CsvHead:
    """Rows 1–3 of a CSV file (quoted line breaks allowed), or a clear `UnreadableFile`.

    Only the first `HEAD_MAX_CHARS` characters are read: header rows are short, and a file
    of one endless line must be refused, not read into memory."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        text = handle.read(HEAD_MAX_CHARS + 1)
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) == 3:
                break
    except csv.Error as error:
        raise UnreadableFile(f"not a readable CSV file: {error}") from error
    if len(text) > HEAD_MAX_CHARS and (len(rows) < 3 or buffer.tell() >= HEAD_MAX_CHARS):
        raise UnreadableFile(
            f"rows 1–3 are not complete within the first {HEAD_MAX_CHARS:,} characters: "
            "not a CMS CSV file (one endless line?)"
        )
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise UnreadableFile("empty file: no header rows")
    if len(rows) < 3:
        raise UnreadableFile(
            f"only {len(rows)} row(s): a CMS CSV needs rows 1–2 (hospital data) "
            "and row 3 (column headers)"
        )
    return CsvHead(rows[0], rows[1], rows[2])


def file_meta(head: CsvHead, log: FindingLog) -> FileMeta:
    """The hospital metadata of rows 1–2, tolerant of case, spaces and column order."""
    meta = FileMeta()
    for position, raw_name in enumerate(head.names):
        name = header_name(raw_name)
        value = head.values[position].strip() if position < len(head.values) else ""
        if not name:
            continue
        meta.elements.append(name)
        if name == "hospital_name":
            meta.hospital_name = value or None
        elif name == "last_updated_on":
            meta.last_updated_raw = value or None
            meta.last_updated_on = parse_date(value)
            if value and meta.last_updated_on is None:
                log.add(
                    "header.bad_date",
                    Severity.ERROR,
                    "last_updated_on is not a date",
                    row=2,
                    column=raw_name,
                    value=value,
                )
        elif name == "version":
            meta.version = value or None
        elif name in {"location_name", "hospital_location"}:
            meta.locations = split_pipes(value)
        elif name == "hospital_address":
            meta.addresses = split_pipes(value)
        elif name.startswith("license_number"):
            meta.license_number = value or None
            state = name.partition("|")[2].strip().upper()
            meta.license_state = state or None
        elif name == "type_2_npi":
            meta.npis = split_pipes(value)
        elif name.startswith(_STATEMENT):
            meta.attestation = parse_bool(value)
        elif name == "attester_name":
            meta.attester_name = value or None
        elif name == "financial_aid_policy":
            meta.financial_aid_policy = value or None
        elif name == "general_contract_provisions":
            meta.general_contract_provisions = value or None
    return meta
