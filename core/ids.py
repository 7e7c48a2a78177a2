"""Facility and file ids: the only strings from outside that name folders in the warehouse.

A facility id is 1–64 characters of lowercase ASCII letters, digits and hyphens, starting
with a letter or a digit (`FACILITY_ID`): `050101`, `ca-12345`, `npi-1234567893`,
`valley-fresno-medical-center`. A file id is its facility id, a hyphen and 12 hex digits of
the file's SHA-256 (`FILE_ID`, up to 80 characters).

Ids are checked where they enter — the source registry, `--facility-id`, a file's own
header, `hpt accept FILE` — and again where a path is built from them
(`warehouse.db.Warehouse.charges_path`), so `..`, `/`, `*`, `?` or `[` can never reach a
path or a `read_parquet` glob. An id derived from free text (a hospital name, a license)
is slugged into the pattern with `slug_facility_id`; a given one is refused if it does
not match, never silently changed.
"""

from __future__ import annotations

import re

FACILITY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
FILE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
FACILITY_ID_RULE = "1-64 lowercase letters, digits and '-', starting with a letter or digit"

#: Longest slug of free text: room for a suffix within the 64 characters.
SLUG_LENGTH = 60


class InvalidId(ValueError):
    """An id that does not match its pattern; the message is one line saying what and where."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def valid_facility_id(value: str, where: str = "facility id") -> str:
    """`value` if it is a facility id (`FACILITY_ID`), else raise `InvalidId` naming `where`."""
    if not isinstance(value, str) or not FACILITY_ID.fullmatch(value):
        raise InvalidId(f"{where}: {_shown(str(value))} is not a valid facility id "
                        f"({FACILITY_ID_RULE})")  # fmt: skip
    return value


def valid_file_id(value: str, where: str = "file id") -> str:
    """`value` if it is a file id (`FILE_ID`), else raise `InvalidId` naming `where`."""
    if not isinstance(value, str) or not FILE_ID.fullmatch(value):
        raise InvalidId(f"{where}: {_shown(str(value))} is not a valid file id "
                        "(lowercase letters, digits and '-', at most 80)")  # fmt: skip
    return value


def slug_facility_id(text: str) -> str:
    """A facility id derived from free text: `St. Luke's Hospital` → `st-luke-s-hospital`.

    Every run of other characters (non-ASCII letters too) becomes one hyphen, as ids have
    always been made: an existing facility keeps its id. Raise `InvalidId` when the text
    has no ASCII letter or digit to make one of."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:SLUG_LENGTH]
    if not slug:
        raise InvalidId(f"{_shown(text)} has no letter or digit to make a facility id of")
    return slug
