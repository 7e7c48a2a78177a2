"""The items of a JSON file checked against the CMS JSON schema of its version, piece by
piece: the part of the JSON schema checks that reads the item array, which can be many GB.

The array is read ~1 MB at a time (`ingest.json_locate.item_chunks`, cut before an item as
the reader cuts it), and msgspec decodes each piece into the version's structs
(`quality.json_schema_fast`). A piece that decodes and breaks no conditional rule is valid;
otherwise its items are decoded plainly, and each one that does not pass goes through the
exact validator, which reports every error with its JSON path
(`quality.json_schema_model`). Counts are exact, detail kept up to `cap` per rule.

It runs in a thread for a small array and, for a big one, in a process of its own —
`python -m quality.json_schema_items PATH START END VERSION CAP CHUNK_BYTES`, which prints
its findings as it goes, one JSON line each (`F`), the exact counts per rule after each
piece that found any (`C`), and the items checked at the end (`I`). msgspec holds the
GIL while it decodes: in a thread for seconds, it would make every other thread of the pass
wait for the GIL each time it comes back from Polars or DuckDB. This module and those it
imports stay light (no Polars, DuckDB or Arrow), so the process starts in a fraction of a
second.
"""

from __future__ import annotations

import gc
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from ingest.json_locate import item_chunks
from quality.json_schema_fast import decoder, passes, suspects
from quality.json_schema_model import MIN_ITEMS, SchemaError
from quality.json_schema_versions import ARRAY_KEY, schema

#: A piece of the item array that is not JSON even joined with the next (the reader, which
#: parses the same bytes, refuses such a file; this is for what it would let through).
MALFORMED = "schema.malformed"
#: One stored finding: rule id, item index (None at the root), JSON path, value, message.
Stored = tuple[str, int | None, str, str | None, str]


class ItemFindings(msgspec.Struct):
    """What the check of an item array found: items checked, exact counts per rule, and
    the first findings of each rule."""

    items: int = 0
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    stored: list[Stored] = msgspec.field(default_factory=list)


def shown(value: Any) -> str | None:
    """A value as a finding shows it: text as is, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)[:500]


def _plain(data: bytes | memoryview) -> list[Any] | None:
    """A piece decoded without types, or None if it is not JSON (a cut inside an item).

    Python's `json` reads what msgspec refuses but the schema allows (`1e400`, a number
    beyond a double: JSON Schema sees a number).
    """
    try:
        return msgspec.json.decode(data)  # type: ignore[no-any-return]
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(bytes(data))  # type: ignore[no-any-return]
    except ValueError:
        return None


class ItemCheck:
    """Checks the items of one array against one version's schema; `progress(check)` is
    called after each piece that found errors, and at the end."""

    def __init__(
        self, version: str, cap: int, progress: Callable[[ItemCheck], None] | None = None
    ) -> None:
        self.version = version
        self.item = schema(version).item
        self.cap = cap
        self.progress = progress
        self.found = ItemFindings()
        self.counts: Counter[str] = Counter()

    @property
    def errors(self) -> int:
        return self.counts.total()

    def run(
        self, path: Path, start: int, end: int, chunk_bytes: int, stop: Callable[[], bool]
    ) -> ItemFindings:
        """Check the array at bytes [start, end) of `path` (until `stop()` says so)."""
        carried: bytes | None = None  # a piece that did not parse, joined to the next
        for chunk in item_chunks(path, start, end, chunk_bytes):
            if stop():
                break
            data = chunk if carried is None else b"".join((carried[:-1], b",", chunk[1:]))
            errors = self.errors
            count = self._piece(data)
            carried = bytes(data) if count is None else None  # `chunk`'s buffer is reused
            self.found.items += count or 0
            if self.progress is not None and self.errors > errors:
                self.progress(self)
        else:
            if carried is not None:
                message = f"items from item {self.found.items} on are not valid JSON"
                error = SchemaError(MALFORMED, f"/{ARRAY_KEY}", None, message)
                self._add([error], row=self.found.items)
            elif self.found.items == 0:
                message = f"`{ARRAY_KEY}` must not be empty"
                self._add([SchemaError(MIN_ITEMS, f"/{ARRAY_KEY}", None, message)], row=None)
        self.found.counts = dict(self.counts)
        if self.progress is not None:
            self.progress(self)
        return self.found

    def _piece(self, data: bytes | memoryview) -> int | None:
        """Check the items of one piece (a JSON array); how many, or None if not JSON."""
        try:
            decoded = decoder(self.version).decode(data)
        except msgspec.ValidationError:  # a type error somewhere: each item is looked at
            decoded = None
        except msgspec.DecodeError:
            return None
        if decoded is not None:
            wrong = suspects(decoded, self.version)
            if not wrong:
                return len(decoded)
        values = _plain(data)
        if values is None:
            return None
        if decoded is None:
            wrong = [n for n, value in enumerate(values) if not passes(value, self.version)]
        first = self.found.items
        for n in wrong:
            self._add(self.item.check(values[n], f"/{ARRAY_KEY}/{first + n}"), row=first + n)
        return len(values)

    def _add(self, errors: Iterable[SchemaError], row: int | None) -> None:
        for error in errors:
            if self.counts[error.rule] < self.cap:
                stored = (error.rule, row, error.path, shown(error.value), error.message)
                self.found.stored.append(stored)
            self.counts[error.rule] += 1


def main(argv: list[str]) -> None:
    """`PATH START END VERSION CAP CHUNK_BYTES`: check, printing findings as they come."""
    path, start, end, version, cap, chunk_bytes = argv
    out = sys.stdout.buffer
    sent = 0
    # What is decoded is freed piece by piece by reference counting (the structs hold no
    # cycles): the cyclic collector, run every few hundred lists, only costs here (~8 %).
    gc.disable()

    def progress(check: ItemCheck) -> None:
        nonlocal sent
        for stored in check.found.stored[sent:]:
            out.write(b"F" + msgspec.json.encode(stored) + b"\n")
        sent = len(check.found.stored)
        out.write(b"C" + msgspec.json.encode(check.counts) + b"\n")
        out.flush()

    check = ItemCheck(version, int(cap), progress)
    found = check.run(Path(path), int(start), int(end), int(chunk_bytes), stop=lambda: False)
    out.write(b"I%d\n" % found.items)
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
