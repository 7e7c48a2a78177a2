"""ZIP codes to coordinates and distances, offline (the `zipcodes` package ships its data)."""

from __future__ import annotations

import functools
import math
import re


@functools.cache
def _places() -> dict[str, tuple[float, float, str]]:
    """Every US ZIP → (latitude, longitude, city); read once per process (about a second)."""
    import zipcodes

    places = {}
    for entry in zipcodes.list_all():
        try:
            places[entry["zip_code"]] = (float(entry["lat"]), float(entry["long"]), entry["city"])
        except (KeyError, TypeError, ValueError):
            continue
    return places


def clean_zip(text: str | None) -> str | None:
    """The five digits of a ZIP typed as `93721`, `93721-1234` or ` 93721 `; else None."""
    match = re.fullmatch(r"\s*(\d{5})(?:-\d{4})?\s*", text or "")
    return match.group(1) if match else None


def zip_point(zip_code: str | None) -> tuple[float, float] | None:
    """Latitude and longitude of a ZIP's centre, or None when it is not a real ZIP."""
    place = _places().get(clean_zip(zip_code) or "")
    return (place[0], place[1]) if place else None


def zip_city(zip_code: str | None) -> str | None:
    """The city a ZIP belongs to (title case), or None."""
    place = _places().get(clean_zip(zip_code) or "")
    return place[2].title() if place else None


def miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in miles."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 3958.8 * 2 * math.asin(math.sqrt(h))
