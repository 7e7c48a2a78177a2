"""Which reader a file needs: JSON, CSV tall, CSV wide, or not a CMS file at all."""

from __future__ import annotations

from pathlib import Path

from hpt.findings import FindingLog
from ingest import csv_tall
from ingest.base import ParsedFile
from ingest.csv_header import read_head
from ingest.encoding import PreparedFile
from ingest.errors import UnreadableFile

_SIGNATURES: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "a ZIP or XLSX archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "a legacy Excel/Office document"),
]


def sniff(path: Path) -> str:
    """A short description of what the first bytes look like (`csv` if nothing else)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        return "empty"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text[:512]:
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "json"
    return "csv"


def open_file(prepared: PreparedFile, log: FindingLog) -> ParsedFile:
    """Open a prepared file with the reader for its layout, or raise `UnreadableFile`."""
    kind = sniff(prepared.path)
    if kind == "empty":
        raise UnreadableFile("empty file: nothing to read")
    if kind == "json":
        raise UnreadableFile("JSON files are not supported yet (found: a JSON document)")
    if kind != "csv":
        raise UnreadableFile(f"not a CMS machine-readable file (found: {kind})")
    head = read_head(prepared.path)
    if csv_tall.is_tall(head.header):
        return csv_tall.read(prepared, log, head)
    raise UnreadableFile(
        "not a CMS CSV file: row 3 has neither `payer_name`/`plan_name` (tall) nor "
        "`standard_charge|<payer>|<plan>|…` columns (wide)"
    )
