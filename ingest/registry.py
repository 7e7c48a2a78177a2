"""The source registry: the facilities we track and where their files come from.

A CSV file kept under version control (default `sources.csv`, setting `HPT_SOURCES`).
Lines starting with `#` are comments. Columns:

* `facility_id` — the CMS Certification Number (CCN) where known; else left empty and a
  slug of the name is used. Ingestion files every load of this entry under this id, so it
  must be a valid id (`core.ids`: lowercase letters, digits and `-`); anything else is
  refused.
* `name`, `state`, `city`, `zip` — who the facility is (the name is also matched against
  `location-name` in a `cms-hpt.txt` listing several locations).
* `website` — the site root whose `/cms-hpt.txt` names the file, or
* `mrf_url` — the file's URL directly (wins over `website` when both are given).
* `location` — optional: the `location-name` to pick in a shared `cms-hpt.txt`.
* `system` — optional: the health system, for grouping.
* `ccn` — optional: the CMS Certification Number as CMS writes it (`24002F`); the
  facility id of an entry with a CCN is the CCN in lower case (`24002f`).
* `fallback_url` — optional: a file URL known from an older list, tried only when
  discovery through `cms-hpt.txt` finds no file.
* `latitude`, `longitude`, `geo_precision` — optional: where the facility is, and how
  precisely: `zip` (the centre of its ZIP) or `city` (the centre of its city; the ZIP is
  then the city's ZIP nearest it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.errors import UnreadableFile
from core.ids import InvalidId, slug_facility_id, valid_facility_id

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
    "ccn",
    "fallback_url",
    "latitude",
    "longitude",
    "geo_precision",
)
HEADER_COMMENT = """\
# Source registry of the hospital price transparency pipeline (format v1).
# One facility per line. Either `website` (its root serves /cms-hpt.txt) or `mrf_url`.
# facility_id: CMS Certification Number (CCN) where known, else empty (a slug of the name).
"""


def slug(text: str) -> str:
    """`St. Luke's Hospital` → `st-luke-s-hospital`: the id of an entry without one ("" for
    a name with no ASCII letter or digit)."""
    try:
        return slug_facility_id(text)
    except InvalidId:
        return ""


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
    ccn: str = ""
    fallback_url: str = ""
    latitude: str = ""
    longitude: str = ""
    geo_precision: str = ""

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
    if not entry.key:
        raise UnreadableFile(f"{where}: give a `facility_id`: {entry.name!r} has no letter or "
                             "digit to make one of")  # fmt: skip
    try:
        valid_facility_id(entry.key, f"{where}: facility_id")
    except InvalidId as error:
        raise UnreadableFile(str(error)) from None


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


#: Columns written even when no entry uses them (the others only when one does).
BASE_COLUMNS = COLUMNS[: COLUMNS.index("system") + 1]


def write_sources(path: Path, entries: list[SourceEntry], header: str = HEADER_COMMENT) -> None:
    """Write a registry file (with its explanatory header comment), atomically."""
    buffer = io.StringIO()
    buffer.write(header)
    used = {name for entry in entries for name, value in entry.as_dict().items() if value}
    columns = [c for c in COLUMNS if c in BASE_COLUMNS or c in used]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = entry.as_dict()
        writer.writerow({c: row[c] for c in columns})
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


def header_comment(path: Path) -> str:
    """The comment lines at the top of a registry file ("" if it has none or is absent)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    except OSError:
        return ""
    top = []
    for line in lines:
        if not line.lstrip().startswith("#"):
            break
        top.append(line if line.endswith("\n") else line + "\n")
    return "".join(top)


def select_sources(
    entries: list[SourceEntry], states: Iterable[str] = (), limit: int = 0
) -> list[SourceEntry]:
    """The slice of the registry a run takes: the entries of these states (all when none
    are given), then the first `limit` of them in file order (all when 0)."""
    wanted = {s.strip().upper() for s in states if s.strip()}
    chosen = [e for e in entries if not wanted or e.state in wanted]
    return chosen[:limit] if limit > 0 else chosen


def states_option(text: str) -> list[str]:
    """`MN, wi` → `["MN", "WI"]`: states given as one comma-separated text (a setting)."""
    return [s.strip().upper() for s in text.split(",") if s.strip()]
