"""Where things are in a CMS JSON file: the root metadata, the byte range of the item array
and where its items begin.

The root object is small except for `standard_charge_information[]`, which can be many GB.
The keys before the array are parsed from the head of the file, the keys after it from the
tail, so the array itself is never parsed twice (nor held in memory): its byte range is
handed to the item reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UnreadableFile

ARRAY_KEY = "standard_charge_information"
#: Head/tail windows tried in turn; root metadata beyond 64 MB is not a CMS file.
WINDOWS = (1 << 20, 16 << 20, 64 << 20)
#: Root keys that may follow the item array; tried first when looking for its end.
_ROOT_KEYS = (
    "modifier_information|hospital_name|last_updated_on|version|location_name|"
    "hospital_location|hospital_address|license_information|attestation|affirmation|"
    "type_2_npi|financial_aid_policy|general_contract_provisions"
)
#: Keys of items, charge sets and payers, which never follow the item array: a `]` before
#: one closes a list inside an item. Skipping those keeps the tries for real candidates
#: (a file of small items whose array ends the root has thousands of them per MB).
_ITEM_KEYS = (
    "description|code_information|drug_information|standard_charges|setting|gross_charge|"
    "discounted_cash|minimum|maximum|billing_class|modifier_code|modifiers|"
    "additional_generic_notes|payers_information"
)
_KNOWN_AFTER = re.compile(rb'\]\s*,\s*"(?:' + _ROOT_KEYS.encode() + rb')"\s*:')
_ANY_AFTER = re.compile(rb'\]\s*(?:,\s*"(?!(?:' + _ITEM_KEYS.encode() + rb')")|\}\s*$)')
_WS = " \t\r\n"
_MAX_TRIES = 5000
#: The comma between two items: `}, {"description":` (or another item key). Such a `{"`
#: cannot lie inside a string, where every quote is escaped, and no object nested in an
#: item starts with an item key (a file that proves this wrong is handled where it is used).
BETWEEN_ITEMS = re.compile(
    rb'\}\s*(,)\s*\{\s*"(?:description|code_information|drug_information|standard_charges)"\s*:'
)


@dataclass
class JsonLayout:
    """The root metadata of a JSON file and where its item array lies."""

    root: dict[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # root keys in file order
    start: int = 0  # byte offset of `[`
    end: int = 0  # byte offset just past `]`
    path: Path | None = None  # the file located


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _head(path: Path, size: int) -> tuple[dict[str, Any], list[str], int]:
    """Root keys before the item array, and the byte offset of its `[`."""
    decoder = json.JSONDecoder()
    for window in WINDOWS:
        with path.open("rb") as handle:
            raw = handle.read(window)
        bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
        text = raw[bom:].decode("utf-8", errors="replace")
        pos = _skip_ws(text, 0)
        if pos < len(text) and text[pos] == "[":
            raise UnreadableFile(
                f"not a CMS JSON file: the root is an array, not an object with `{ARRAY_KEY}`"
            )
        if pos >= len(text) or text[pos] != "{":
            raise UnreadableFile("not a CMS JSON file: it does not start with `{`")
        root: dict[str, Any] = {}
        keys: list[str] = []
        pos += 1
        try:
            while True:
                pos = _skip_ws(text, pos)
                if pos < len(text) and text[pos] == "}":
                    raise UnreadableFile(f"not a CMS JSON file: the root has no `{ARRAY_KEY}`")
                key, pos = decoder.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
                if text[pos] != ":":
                    raise ValueError("expected `:`")
                pos = _skip_ws(text, pos + 1)
                keys.append(str(key))
                if key == ARRAY_KEY:
                    if text[pos] != "[":
                        raise UnreadableFile(f"not a CMS JSON file: `{ARRAY_KEY}` is not an array")
                    return root, keys, bom + len(text[:pos].encode("utf-8"))
                root[str(key)], pos = decoder.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
                if text[pos] == ",":
                    pos += 1
        except (ValueError, IndexError) as error:
            if len(raw) < window or window == WINDOWS[-1]:
                where = "" if len(raw) < window else f" in the first {window >> 20} MB"
                raise UnreadableFile(
                    f"not a CMS JSON file: no `{ARRAY_KEY}` array found{where} ({error})"
                ) from error
    raise AssertionError("unreachable")


def _tail_object(tail: bytes, pos: int) -> dict[str, Any] | None:
    """The root keys after a candidate `]` at `pos`, if the rest of the file is exactly them."""
    rest = tail[pos + 1 :].lstrip()
    if rest.startswith(b"}"):
        return {} if not rest[1:].strip() else None
    text = "{" + rest[1:].decode("utf-8", errors="replace")
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and not text[end:].strip() else None


def _tail(path: Path, size: int, start: int) -> tuple[dict[str, Any], int]:
    """Root keys after the item array, and the byte offset just past its `]`."""
    for window in WINDOWS:
        offset = max(start, size - window)
        with path.open("rb") as handle:
            handle.seek(offset)
            tail = handle.read()
        if not tail.rstrip().endswith(b"}"):
            raise UnreadableFile(
                f"JSON is truncated: the file ends at byte {size} without closing the root "
                "object; nothing loaded"
            )
        tries = 0
        for pattern in (_KNOWN_AFTER, _ANY_AFTER):
            for match in pattern.finditer(tail):
                tries += 1
                if tries > _MAX_TRIES:
                    break
                found = _tail_object(tail, match.start())
                if found is not None:
                    return found, offset + match.start() + 1
        if offset == start:
            break
    raise UnreadableFile(
        f"JSON is truncated or malformed: the end of `{ARRAY_KEY}` was not found before byte "
        f"{size}; nothing loaded"
    )


def locate(path: Path) -> JsonLayout:
    """Root metadata (before or after the item array) and the array's byte range."""
    size = path.stat().st_size
    root, keys, start = _head(path, size)
    after, end = _tail(path, size, start)
    for key, value in after.items():
        if key in root or key == ARRAY_KEY:
            raise UnreadableFile(
                f"malformed JSON: root key `{key}` appears twice (two JSON documents concatenated?)"
            )
        root[key] = value
        keys.append(key)
    return JsonLayout(root=root, keys=keys, start=start, end=end, path=path)


#: Bytes per piece of `item_chunks`.
CHUNK_BYTES = 1 << 20
_OVERLAP = 4096  # an item boundary straddling two reads is found again


def item_chunks(path: Path, start: int, end: int, size: int = CHUNK_BYTES) -> Iterator[memoryview]:
    """The items of the array at bytes [start, end), in order, as JSON arrays of whole items
    of about `size` bytes each (cut just before an item, as `json_items.pieces` cuts; should a cut
    fall inside an item, that array and the next do not parse alone, but joined they do).

    Each is a view of one buffer that the next reuses: decode (or copy) it before asking
    for the next. The bytes of a cut become the `]` of one array and the `[` of the next,
    and dropping a piece from the front of the buffer copies nothing: the file is read
    once, in blocks, and copied once (slicing out each piece cost ~0.6 s of CPU per GB).
    Memory: about `size` bytes, or the longest item.
    """
    block = max(1, size // 4)
    buffer = bytearray(b"[")
    searched = size  # no item starts before this offset of `buffer`
    with path.open("rb") as handle:
        handle.seek(start + 1)
        left = end - start - 2  # the bytes between `[` and `]`
        while left > 0:
            data = handle.read(min(block, left))
            if not data:  # a file cut short: the reader says so
                break
            left -= len(data)
            buffer += data
            if len(buffer) <= size:
                continue
            found = BETWEEN_ITEMS.search(buffer, max(size, searched - _OVERLAP))
            if found is None:  # one long item: read on
                searched = len(buffer)
                continue
            cut = found.start(1)  # the comma between two items
            buffer[cut] = ord("]")
            piece = memoryview(buffer)[: cut + 1]
            yield piece
            piece.release()
            buffer[cut] = ord("[")
            del buffer[:cut]  # CPython drops a bytearray's head without moving the rest
            searched = size
        buffer += b"]"
        piece = memoryview(buffer)
        yield piece
        piece.release()
