"""A hospital list merged into a registry file, and the import's report (`hpt sources
import`). The rows are judged by `ingest.registry_import`.

Merge rules, in order:

1. An entry is the same facility as one already in the registry when its facility id is
   (for a CCN: the same CCN), else — for a row without a CCN — when it names the same
   website and the same location name.
2. The registry's own values win, field by field; the import fills only the fields it
   lacks (a hand-corrected website stays corrected). A value that differs is reported
   (`merge.conflict`). ZIP and coordinates go together: they are filled only when the
   registry has no coordinates and no other ZIP.
3. A later row of the same import for the same facility is merged into the first one the
   same way, and reported (`duplicate`).
4. A row without a CCN whose name slug is taken by another facility gets `-2`, `-3`, …
5. Entries sharing a website (a `cms-hpt.txt` listing several hospitals) without a
   `system` get the site as their system.

New entries follow the registry's, by state and facility id.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import fields, replace
from pathlib import Path

from ingest.hospital_lists import PROVENANCE, ListFormat, ListRow, list_rows
from ingest.registry import (
    HEADER_COMMENT,
    SourceEntry,
    header_comment,
    load_sources,
    write_sources,
)
from ingest.registry_import import DOUBTFUL, MERGED, Imported, Issue, judged, placed

_GEO = ("zip", "latitude", "longitude", "geo_precision")
_COMPARED = ("name", "state", "city", "website", "mrf_url", "location", "ccn", "system")
REPORT_COLUMNS = ("source_row", "verdict", "reason", "facility_id", "ccn", "name", "state",
                  "detail")  # fmt: skip


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _same(column: str, a: str, b: str) -> bool:
    if column in ("website", "mrf_url", "fallback_url"):
        return a.lower().rstrip("/") == b.lower().rstrip("/")
    return _norm(a) == _norm(b)


def _fill(old: SourceEntry, new: SourceEntry) -> tuple[SourceEntry, list[str]]:
    """`old` with its empty fields taken from `new`, and the fields where they differ."""
    values = old.as_dict()
    conflicts = []
    for f in fields(SourceEntry):
        mine, theirs = values[f.name], getattr(new, f.name)
        if f.name in _GEO or not theirs:
            continue
        if not mine:
            values[f.name] = theirs
        elif f.name in _COMPARED and not _same(f.name, mine, theirs):
            conflicts.append(f"{f.name}: {mine!r} kept, not {theirs!r}")
    if not old.latitude and new.latitude and old.zip in ("", new.zip):
        values.update({k: getattr(new, k) for k in _GEO})
    return SourceEntry(**values), conflicts


def _site_label(website: str) -> str:
    """`https://www.mercy.net/` → `mercy.net`: a shared website as a system's name."""
    text = re.sub(r"^[a-z]+://", "", website.lower()).rstrip("/")
    return text.removeprefix("www.")


def merge(base: list[SourceEntry], rows: Iterable[ListRow], fmt: ListFormat) -> Imported:
    """The registry `base` with the rows of a list merged in (the rules above)."""
    imported = Imported(entries=[])
    merged = {e.key: e for e in base}
    origin: dict[str, int] = {}  # facility id → the import row that added it
    by_site = {(e.website, _norm(e.location or e.name)): e.key for e in base if e.website}
    changed: set[str] = set()
    for item in rows:
        imported.rows += 1
        entry = judged(item, fmt, imported)
        if entry is None:
            continue
        key = entry.key
        site_key = (entry.website, _norm(entry.location or entry.name))
        if not entry.ccn and not entry.facility_id:
            key = by_site.get(site_key, key)
            if key in merged and by_site.get(site_key) != key:  # a namesake elsewhere
                n = 2
                while f"{key}-{n}" in merged:
                    n += 1
                entry = replace(entry, facility_id=f"{key}-{n}")
                imported.issues.append(Issue(item.row, DOUBTFUL, "id.suffixed",
                    f"another facility is {key!r}: this one is {entry.key!r}",
                    entry.key, "", entry.name, entry.state))  # fmt: skip
                key = entry.key
        if key not in merged:
            merged[key], origin[key] = entry, item.row
            by_site.setdefault(site_key, key)
            continue
        new, conflicts = _fill(merged[key], entry)
        if key in origin:
            detail = f"same facility as row {origin[key]}: merged into it"
            detail += "; " + "; ".join(conflicts) if conflicts else ""
            imported.issues.append(Issue(item.row, MERGED, "duplicate", detail, key,
                                         entry.ccn, entry.name, entry.state))  # fmt: skip
        else:
            for conflict in conflicts:
                imported.issues.append(Issue(item.row, DOUBTFUL, "merge.conflict",
                    f"the registry's value wins: {conflict}", key, entry.ccn, entry.name,
                    entry.state))  # fmt: skip
            if new != merged[key]:
                changed.add(key)
        merged[key] = new
    shared = Counter(e.website for e in merged.values() if e.website and not e.mrf_url)
    for key, e in merged.items():
        grown = e
        if not e.system and shared[e.website] > 1:
            grown = replace(grown, system=_site_label(e.website))
        grown = placed(grown)[0]
        if grown != e:
            merged[key] = grown
            if key not in origin:
                changed.add(key)
    kept = [merged[e.key] for e in base]
    added = sorted((merged[k] for k in origin), key=lambda e: (e.state, e.key))
    imported.entries = kept + added
    imported.added, imported.updated = len(added), len(changed)
    imported.unchanged = len(base) - len(changed)
    return imported


def provenance(
    existing: str, source: Path, fmt: ListFormat, imported: Imported, note: str, today: dt.date
) -> str:
    """The registry's header comment: the existing one (or the default) with this import's
    block — where the rows and each column came from, and when — replacing an earlier
    import of the same file."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    first = f"# Imported {today.isoformat()} from {source.name} ({fmt}, sha256 {digest}…)"
    kept, skipping = [], False
    for line in (existing or HEADER_COMMENT).splitlines():
        if line.startswith("# Imported ") and f" from {source.name} (" in line:
            skipping = True
            continue
        if skipping and line.startswith("#   "):
            continue
        skipping = False
        kept.append(line)
    block = [first]
    if note:
        block.append(f"#   source: {note}")
    block.append(f"#   {imported.rows:,} rows: {imported.added:,} added, {imported.updated:,} "
                 f"entries updated, {imported.rejected:,} rejected, {imported.doubtful:,} "
                 "doubtful (see the import report)")  # fmt: skip
    block += [f"#   {line}" for line in PROVENANCE[fmt]]
    block.append("#   zip, latitude, longitude, geo_precision: the ZIP's centre (`zip`), else "
                 "the city's from city + state (`city`), offline ZIP data of the `zipcodes` "
                 "package")  # fmt: skip
    block.append("#   system: the website, when hospitals share it")
    return "\n".join(kept + block) + "\n"


def write_report(path: Path, issues: list[Issue]) -> None:
    """The import's report: one line per rejected, doubtful or merged row and reason."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for i in sorted(issues, key=lambda i: (i.verdict != "rejected", i.row, i.reason)):
        writer.writerow([i.row, i.verdict, i.reason, i.facility_id, i.ccn, i.name, i.state,
                         i.detail])  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def report_path(registry: Path) -> Path:
    """Where the report of an import into `registry` goes by default: beside it."""
    return registry.with_name(f"{registry.stem}-import-report.csv")


def import_list(
    source: Path,
    fmt: ListFormat,
    registry: Path,
    *,
    report: Path | None = None,
    note: str = "",
    replace_all: bool = False,
    today: dt.date | None = None,
) -> Imported:
    """Merge the hospital list `source` into the registry file (created if absent, started
    afresh with `replace_all`), write it and the report; what was done."""
    keep = registry.exists() and not replace_all
    base = load_sources(registry) if keep else []
    imported = merge(base, list_rows(source, fmt), fmt)
    header = provenance(header_comment(registry) if keep else "", source, fmt, imported,
                        note, today or dt.datetime.now(dt.UTC).date())  # fmt: skip
    write_sources(registry, imported.entries, header)
    write_report(report or report_path(registry), imported.issues)
    return imported
