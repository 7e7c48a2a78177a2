"""Values in a file's header or root: dates and yes/no flags as hospitals write them."""

from __future__ import annotations

import datetime as dt
import re

_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(text: str | None) -> dt.date | None:
    """A date from ISO `YYYY-MM-DD` or `M/D/YYYY`; None when absent or unparseable."""
    if not text:
        return None
    text = text.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    match = _MDY.match(text)
    if match:
        month, day, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    return None


def parse_bool(text: str | None) -> bool | None:
    """`true`/`false` in any case (also yes/no, 1/0); None otherwise."""
    if text is None:
        return None
    value = str(text).strip().lower()
    if value in {"true", "yes", "y", "1"}:
        return True
    if value in {"false", "no", "n", "0"}:
        return False
    return None
