"""A warehouse's own payer aliases: spellings its files publish that the shipped registry
doesn't know, each mapped by hand to a canonical payer of the registry (`hpt payers map`).

The file is a CSV kept beside the warehouse's catalog (`Warehouse.local_aliases`), never in
the shipped data: `alias,payer,added_at`, one row per change, appended, never rewritten. The
latest row for an alias (normalised as the registry's aliases are) wins, so the file is its
own history; a row with an empty payer withdraws the alias. `transform.payers.rules(local)`
merges the aliases in force over the shipped ones; docs/payers.md ("Review queue").
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

from transform.payers import LocalAliases, normalise, rules

log = logging.getLogger("hpt.payers")

COLUMNS = ("alias", "payer", "added_at")


def key(alias: str | None) -> str:
    """What an alias is matched on: its normalised words, spaces removed ('' = nothing)."""
    return "".join(normalise(alias))


def read(path: Path | None) -> LocalAliases:
    """The local aliases in force, (alias, payer) sorted: per normalised alias the latest
    row. A row naming a payer the registry doesn't have (the registry changed since) is
    skipped with a warning rather than stopping every ingest and publish."""
    if path is None or not path.is_file():
        return ()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    payers = rules().payers
    latest: dict[str, tuple[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        alias, payer = (row.get("alias") or "").strip(), (row.get("payer") or "").strip()
        if not key(alias):
            continue
        if payer and payer not in payers:
            log.warning("%s row %d: %r is no payer of the registry; row skipped", path, number,
                        payer)  # fmt: skip
            continue
        latest[key(alias)] = (alias, payer)
    return tuple(sorted(pair for pair in latest.values() if pair[1]))


def digest(local: LocalAliases) -> str | None:
    """A fingerprint of the aliases in force (None when there are none)."""
    if not local:
        return None
    return hashlib.sha256(json.dumps(local).encode()).hexdigest()


def append(path: Path, alias: str, payer: str, at: dt.datetime) -> None:
    """Add one row (`payer` '' withdraws the alias); the CSV module quotes whatever the
    spelling holds (commas, quotes, line breaks)."""
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        if new:
            out.writerow(COLUMNS)
        out.writerow([alias, payer, at.isoformat(timespec="seconds")])
