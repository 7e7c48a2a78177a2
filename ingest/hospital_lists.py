"""Hospital lists as others publish them, read into rows of the registry's columns: the
onefact/Payless list, `cms-hpt.txt` blocks (or JSON lines of their keys), and our own
registry layout. Values are passed on as found; `ingest.registry_import` judges them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.errors import UnreadableFile
from ingest.discover import normalise_key, parse_cms_hpt
from ingest.registry import COLUMNS


class ListFormat(StrEnum):
    """The layouts `hpt sources import` reads."""

    ONEFACT = "onefact"  # ccn, name, state, city, homepage, cdm_indirect_url, cdm_url
    CMS_HPT = "cms-hpt"  # cms-hpt.txt blocks, or JSON lines of their keys
    CSV = "csv"  # our registry layout


#: Where each registry column comes from, per layout (the registry's header comment).
PROVENANCE = {
    ListFormat.ONEFACT: (
        "ccn, name, state, city: the list's columns (name and city title-cased, the CCN "
        "checked against the state)",
        "facility_id: the CCN in lower case",
        "website: the root of the list's `homepage` (else of `cdm_indirect_url`, reported)",
        "fallback_url: the list's `cdm_url`, the price file found then (mostly stale: tried "
        "only when cms-hpt.txt names no file)",
    ),
    ListFormat.CMS_HPT: (
        "name, location: `location-name`; website: the root of `source-page-url` (else of "
        "`mrf-url`); fallback_url: `mrf-url`",
        "facility_id: the CCN given, else a slug of the name",
    ),
    ListFormat.CSV: ("every column as given in the imported registry file",),
}


@dataclass
class ListRow:
    """One hospital as a list gives it: its row (line) number and registry-column values,
    plus `homepage` and `price_page` where the list has them."""

    row: int
    values: dict[str, str]


_ONEFACT = {"ccn", "name", "state", "city", "homepage"}


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from error


def _onefact(path: Path) -> Iterator[ListRow]:
    reader = csv.DictReader(io.StringIO(_text(path)))
    missing = _ONEFACT - set(reader.fieldnames or [])
    if missing:
        raise UnreadableFile(f"{path}: not the onefact layout (no {', '.join(sorted(missing))})")
    for row in reader:
        get = {k: (v or "").strip() for k, v in row.items() if k}
        yield ListRow(
            reader.line_num,
            {
                "ccn": get.get("ccn", ""),
                "name": get.get("name", ""),
                "state": get.get("state", ""),
                "city": get.get("city", ""),
                "homepage": get.get("homepage", ""),
                "price_page": get.get("cdm_indirect_url", ""),
                "fallback_url": get.get("cdm_url", ""),
            },
        )


def _registry_csv(path: Path) -> Iterator[ListRow]:
    lines = _text(path).splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if not line.lstrip().startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    if "name" not in (reader.fieldnames or []):
        raise UnreadableFile(f"{path}: not the registry layout (no `name` column)")
    unknown = set(reader.fieldnames or []) - set(COLUMNS)
    if unknown:
        raise UnreadableFile(f"{path}: unknown column(s) {', '.join(sorted(unknown))}")
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k}
        if any(values.values()):
            yield ListRow(numbered[reader.line_num - 1][0], values)


def _cms_hpt(path: Path) -> Iterator[ListRow]:
    text = _text(path)
    if text.lstrip().startswith(("{", "[")):
        yield from _json_lines(path, text)
        return
    found = parse_cms_hpt(text.encode("utf-8"), "")
    for block in found.entries:
        yield ListRow(
            block.line_no,
            {
                "name": block.location_name,
                "location": block.location_name,
                "homepage": block.source_page_url or block.mrf_url,
                "fallback_url": block.mrf_url,
            },
        )


def _json_lines(path: Path, text: str) -> Iterator[ListRow]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = [(n, item) for n, item in enumerate(json.loads(stripped), 1)]
        except json.JSONDecodeError as error:
            raise UnreadableFile(f"{path}: not JSON: {error}") from None
    else:
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((n, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise UnreadableFile(f"{path} line {n}: not JSON: {error}") from None
    for n, item in items:
        if not isinstance(item, dict):
            raise UnreadableFile(f"{path} item {n}: not a JSON object")
        spec = {normalise_key(str(k)) or str(k): str(v or "").strip() for k, v in item.items()}
        values = {k: spec[k] for k in COLUMNS if spec.get(k)}
        location = spec.get("location-name", "")
        values.setdefault("name", location)
        if location:
            values.setdefault("location", location)
        values["homepage"] = spec.get("source-page-url") or spec.get("mrf-url", "")
        if spec.get("mrf-url"):
            values["fallback_url"] = spec["mrf-url"]
        yield ListRow(n, values)


def list_rows(path: Path, fmt: ListFormat) -> Iterator[ListRow]:
    """The rows of a hospital list in one of the layouts; `UnreadableFile` if it is not."""
    if fmt == ListFormat.ONEFACT:
        return _onefact(path)
    if fmt == ListFormat.CMS_HPT:
        return _cms_hpt(path)
    return _registry_csv(path)
