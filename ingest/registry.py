"""The source registry: the facilities we track and where their files come from.

A CSV file kept under version control (default `sources.csv`, setting `HPT_SOURCES`).
Lines starting with `#` are comments. Columns:

* `facility_id` — the CMS Certification Number (CCN) where known; else left empty and a
  slug of the name is used. Ingestion files every load of this entry under this id.
* `name`, `state`, `city`, `zip` — who the facility is (the name is also matched against
  `location-name` in a `cms-hpt.txt` listing several locations).
* `website` — the site root whose `/cms-hpt.txt` names the file, or
* `mrf_url` — the file's URL directly (wins over `website` when both are given).
* `location` — optional: the `location-name` to pick in a shared `cms-hpt.txt`.
* `system` — optional: the health system, for grouping.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.errors import UnreadableFile

COLUMNS = (
    "facility_id",
    "name",
    "state",
    "city",
    "zip",
    "website",
    "mrf_url",
    "location",
    "system",
)
HEADER_COMMENT = """\
# Source registry of the hospital price transparency pipeline (format v1).
# One facility per line. Either `website` (its root serves /cms-hpt.txt) or `mrf_url`.
# facility_id: CMS Certification Number (CCN) where known, else empty (a slug of the name).
"""


def slug(text: str) -> str:
    """`St. Luke's Hospital` → `st-luke-s-hospital`: the id of an entry without one."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


@dataclass(frozen=True)
class SourceEntry:
    """One tracked facility: who it is and where its machine-readable file comes from."""

    name: str
    facility_id: str = ""
    state: str = ""
    city: str = ""
    zip: str = ""
    website: str = ""
    mrf_url: str = ""
    location: str = ""
    system: str = ""

    @property
    def key(self) -> str:
        """The facility id ingestion uses: the registry's, else a slug of the name."""
        return self.facility_id or slug(self.name)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> SourceEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _check(entry: SourceEntry, where: str) -> None:
    if not entry.name:
        raise UnreadableFile(f"{where}: `name` is empty")
    if not (entry.website or entry.mrf_url):
        raise UnreadableFile(f"{where}: give a `website` or an `mrf_url` for {entry.name!r}")
    if entry.state and not re.fullmatch(r"[A-Z]{2}", entry.state):
        raise UnreadableFile(f"{where}: state {entry.state!r} is not a two-letter code")


def load_sources(path: Path) -> list[SourceEntry]:
    """The entries of a registry file; raise `UnreadableFile` (one line) if it is malformed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UnreadableFile(f"cannot read source registry {path}: {error.strerror}") from error
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    missing = {"name"} - set(reader.fieldnames or [])
    if missing or not reader.fieldnames:
        raise UnreadableFile(f"{path}: the header must name the columns ({', '.join(COLUMNS)})")
    unknown = set(reader.fieldnames) - set(COLUMNS)
    if unknown:
        raise UnreadableFile(f"{path}: unknown column(s) {', '.join(sorted(unknown))}")
    entries: list[SourceEntry] = []
    seen: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(clean.values()):
            continue
        entry = SourceEntry.from_dict(clean)
        _check(entry, f"{path.name} entry {line_no - 1}")
        if entry.key in seen:
            raise UnreadableFile(
                f"{path.name}: facility {entry.key!r} is listed twice "
                f"(entries {seen[entry.key]} and {line_no - 1})"
            )
        seen[entry.key] = line_no - 1
        entries.append(entry)
    return entries


def write_sources(path: Path, entries: list[SourceEntry]) -> None:
    """Write a registry file (with its explanatory header), atomically."""
    buffer = io.StringIO()
    buffer.write(HEADER_COMMENT)
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        writer.writerow(entry.as_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)


def add_source(path: Path, entry: SourceEntry) -> list[SourceEntry]:
    """Append an entry to a registry file (created if absent); refuse a duplicate id."""
    _check(entry, "new entry")
    entries = load_sources(path) if path.exists() else []
    if any(e.key == entry.key for e in entries):
        raise UnreadableFile(f"facility {entry.key!r} is already in {path}")
    entries.append(entry)
    write_sources(path, entries)
    return entries
