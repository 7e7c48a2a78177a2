"""Where things are in a CMS JSON file: the root metadata and the byte range of the item array.

The root object is small except for `standard_charge_information[]`, which can be many GB.
The keys before the array are parsed from the head of the file, the keys after it from the
tail, so the array itself is never parsed twice (nor held in memory): its byte range is
handed to the item reader.
"""

from __future__ import annotations

import json
import re
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


@dataclass
class JsonLayout:
    """The root metadata of a JSON file and where its item array lies."""

    root: dict[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # root keys in file order
    start: int = 0  # byte offset of `[`
    end: int = 0  # byte offset just past `]`


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
    return JsonLayout(root=root, keys=keys, start=start, end=end)
