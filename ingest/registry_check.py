"""The offline check of a registry file (`hpt sources check`): everything that can be known
without the network — schema, ids, URLs, states, CCNs, ZIPs and coordinates.

Errors make the registry unfit for a run (a bad id, a URL no downloader fetches); warnings
are worth a look (a CCN issued in another state, a ZIP of another state).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import UnreadableFile
from core.findings import Severity
from core.ids import FACILITY_ID
from ingest import places
from ingest.ccn import ccn_state, normalise_ccn, valid_ccn
from ingest.registry import COLUMNS, SourceEntry

PRECISIONS = ("zip", "city")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registry line (line 0: the file)."""

    line: int
    facility_id: str
    severity: Severity
    rule: str
    message: str


@dataclass
class RegistryCheck:
    """What the check found: entries read and the problems, in file order."""

    entries: int
    problems: list[Problem]

    @property
    def errors(self) -> int:
        return sum(p.severity == Severity.ERROR for p in self.problems)

    def by_rule(self) -> Counter[tuple[str, str]]:
        """(severity, rule) → count."""
        return Counter((str(p.severity), p.rule) for p in self.problems)


def _url_problem(value: str) -> tuple[str, str] | None:
    """(rule, message) for a URL a downloader cannot use; None for a good one. A URL
    without a scheme means https (as discovery reads it)."""
    text = value if "://" in value else "https://" + value
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as error:
        return "url.syntax", f"{value!r} is not a URL ({error})"
    if parts.scheme.lower() not in ("http", "https"):
        return "url.scheme", f"{value!r}: only http and https are fetched"
    host = parts.hostname or ""
    if not re.fullmatch(r"[a-z0-9.-]+", host) or not host.strip("."):
        return "url.syntax", f"{value!r} has no valid host name"
    if any(c.isspace() for c in value):
        return "url.syntax", f"{value!r} contains spaces"
    return None


def _coordinates(e: SourceEntry, note: list[tuple[Severity, str, str]]) -> None:
    if not (e.latitude or e.longitude or e.geo_precision):
        return
    try:
        lat, lon = float(e.latitude), float(e.longitude)
    except ValueError:
        what = f"latitude {e.latitude!r} / longitude {e.longitude!r} are not numbers"
        note.append((Severity.ERROR, "geo.number", what))
        return
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        note.append((Severity.ERROR, "geo.range", f"({lat}, {lon}) is not on Earth"))
    elif e.state and places.inside_state(lat, lon, e.state) is False:
        note.append((Severity.ERROR, "geo.outside_state", f"({lat}, {lon}) is outside {e.state}"))
    if e.geo_precision not in PRECISIONS:
        what = f"geo_precision {e.geo_precision!r} is not one of {', '.join(PRECISIONS)}"
        note.append((Severity.ERROR, "geo.precision", what))


def _entry_problems(
    e: SourceEntry, seen: dict[str, int], line: int
) -> list[tuple[Severity, str, str]]:
    note: list[tuple[Severity, str, str]] = []
    error, warning = Severity.ERROR, Severity.WARNING
    if not e.name:
        note.append((error, "entry.name", "`name` is empty"))
    if not FACILITY_ID.fullmatch(e.key):
        note.append((error, "id.invalid", f"facility id {e.key!r} is not a valid id"))
    elif e.key in seen:
        note.append((error, "id.duplicate", f"{e.key!r} is also the id of line {seen[e.key]}"))
    seen.setdefault(e.key, line)
    if not (e.website or e.mrf_url):
        note.append((error, "entry.source", "neither `website` nor `mrf_url`"))
    for column in ("website", "mrf_url", "fallback_url"):
        value = getattr(e, column)
        problem = _url_problem(value) if value else None
        if problem:
            note.append((error, problem[0], f"{column} {problem[1]}"))
    if e.state and e.state not in places.STATES:
        note.append((error, "state.unknown", f"state {e.state!r} is not a US state or territory"))
    if e.ccn:
        ccn = normalise_ccn(e.ccn)[0]
        if ccn != e.ccn or not valid_ccn(ccn):
            note.append((error, "ccn.invalid", f"CCN {e.ccn!r} is not a hospital's CCN"))
        elif e.state and ccn_state(ccn) != e.state:
            note.append((warning, "ccn.state", f"CCN {ccn} was issued in {ccn_state(ccn)}, "
                         f"not {e.state}"))  # fmt: skip
    if e.zip:
        place = places.zip_table().get(e.zip[:5])
        if not re.fullmatch(r"\d{5}(-\d{4})?", e.zip) or place is None:
            note.append((warning, "zip.unknown", f"ZIP {e.zip!r} is not a known US ZIP"))
        elif e.state and place.state != e.state:
            note.append((warning, "zip.state", f"ZIP {e.zip} is in {place.state}, not {e.state}"))
    _coordinates(e, note)
    return note


def check_registry(path: Path) -> RegistryCheck:
    """Check a registry file line by line; `UnreadableFile` only if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableFile(f"cannot read source registry {path}: {error}") from error
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if not line.lstrip().startswith("#")]  # fmt: skip
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in numbered)))
    header = reader.fieldnames or []
    problems: list[Problem] = []
    unknown = [c for c in header if c not in COLUMNS]
    if "name" not in header or unknown:
        what = f"unknown column(s) {', '.join(unknown)}" if unknown else "no `name` column"
        problems.append(Problem(0, "", Severity.ERROR, "schema.columns", what))
        return RegistryCheck(0, problems)
    seen: dict[str, int] = {}
    count = 0
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k in COLUMNS}
        if not any(values.values()):
            continue
        count += 1
        line = numbered[reader.line_num - 1][0]
        if None in row:
            problems.append(Problem(line, values.get("facility_id", ""), Severity.ERROR,
                                    "schema.fields", "more fields than columns"))  # fmt: skip
        entry = SourceEntry.from_dict(values)
        for severity, rule, message in _entry_problems(entry, seen, line):
            problems.append(Problem(line, entry.key, severity, rule, message))
    return RegistryCheck(count, problems)
