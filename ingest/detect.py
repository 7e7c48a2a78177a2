"""Which reader a file needs: JSON, CSV tall, CSV wide, or not a CMS file at all.

Decided by content, never by file name (downloads often have none): magic bytes first
(archives were already unpacked by `encoding.prepare`), then the first characters (`{` is
JSON, `<` is HTML/XML), then for CSV the row-3 header (`payer_name`/`plan_name` → tall,
`standard_charge|<payer>|<plan>|…` → wide, both or neither → refused).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UnreadableFile
from core.files import Layout
from core.findings import FindingLog, Severity
from ingest import csv_tall, csv_wide, json_reader
from ingest.archive import GZIP_MAGIC, ZIP_MAGIC, is_xlsx
from ingest.base import ParsedFile
from ingest.csv_header import header_name, read_head
from ingest.encoding import PreparedFile

_SIGNATURES: list[tuple[bytes, str]] = [
    (GZIP_MAGIC, "a gzip archive"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "a legacy Excel/Office document"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "an SQLite database"),
]
#: Row-1 names that every CMS CSV template version has.
_CMS_ROW1 = {"hospital_name", "last_updated_on", "version"}


def sniff(path: Path) -> str:
    """A short description of what the first bytes look like (`json`/`csv` for candidates)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        return "empty"
    if head.startswith(ZIP_MAGIC):
        return "an XLSX workbook" if is_xlsx(path) else "a ZIP archive"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:512]:
        return "an HTML page"
    if text.startswith(b"<"):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "json"
    if head.count(b"\x00") > len(head) // 20:  # a stray NUL in a cell is not binary
        return "a binary file"
    first_line = text.split(b"\n", 1)[0]
    if first_line.count(b"|") > first_line.count(b",") and first_line.count(b"|") >= 3:
        return "a pipe-delimited text file"
    if first_line.count(b"\t") > first_line.count(b",") and first_line.count(b"\t") >= 3:
        return "a tab-delimited text file"
    return "csv"


def csv_layout(header: list[str], row1: list[str]) -> Layout:
    """`csv_tall` or `csv_wide` from rows 1 and 3, or `UnreadableFile` saying what was found."""
    tall, wide = csv_tall.is_tall(header), csv_wide.is_wide(header)
    if tall and wide:
        raise UnreadableFile(
            "ambiguous CSV: row 3 has both `payer_name`/`plan_name` (tall) and "
            "`standard_charge|<payer>|<plan>|…` columns (wide)"
        )
    if tall:
        return Layout.CSV_TALL
    if wide:
        return Layout.CSV_WIDE
    names = {header_name(cell) for cell in row1}
    if not _CMS_ROW1 & names:
        raise UnreadableFile(
            "not a CMS machine-readable file (found: a CSV without the CMS rows 1–3 — "
            "a legacy chargemaster or another table)"
        )
    raise UnreadableFile(
        "not a CMS CSV file: row 3 has neither `payer_name`/`plan_name` (tall) nor "
        "`standard_charge|<payer>|<plan>|…` columns (wide)"
    )


def open_file(prepared: PreparedFile, log: FindingLog) -> ParsedFile:
    """Open a prepared file with the reader for its layout, or raise `UnreadableFile`."""
    if prepared.invalid_bytes:
        log.add(
            "encoding.cp1252_bytes",
            Severity.ALERT,
            f"{prepared.invalid_bytes} byte(s) were not UTF-8; read as Windows-1252",
        )
    kind = sniff(prepared.path)
    if kind == "empty":
        raise UnreadableFile("empty file: nothing to read")
    if kind == "json":
        return json_reader.read(prepared, log)
    if kind != "csv":
        raise UnreadableFile(f"not a CMS machine-readable file (found: {kind})")
    head = read_head(prepared.path)
    if csv_layout(head.header, head.names) is Layout.CSV_TALL:
        return csv_tall.read(prepared, log, head)
    return csv_wide.read(prepared, log, head)
