"""US ZIP codes, cities and states placed on the map, offline (the `zipcodes` package ships
the data: about 42,000 ZIPs with their city, state and centre).

The registry importer fills a hospital's ZIP and coordinates from its city and state; the
registry check tests that coordinates fall inside their state; the dashboard places
hospitals by ZIP.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from typing import Any, NamedTuple

#: Two-letter codes of the states, DC and the territories with CMS-certified hospitals.
_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV "
    "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP"
)
STATES = frozenset(_CODES.split())
#: Degrees a point may lie outside the box around its state's ZIP centres (a ZIP centre is
#: not the state's edge).
MARGIN = 0.5
# City names are typed many ways: `ST. LOUIS`, `Saint Louis`, `FT WORTH`.
_WORDS = {"ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT", "PT": "PORT",
          "MTN": "MOUNTAIN", "HTS": "HEIGHTS", "N": "NORTH", "S": "SOUTH", "E": "EAST",
          "W": "WEST"}  # fmt: skip


class Place(NamedTuple):
    """One ZIP: its city (title case), state and centre."""

    zip: str
    city: str
    state: str
    lat: float
    lon: float


class CityPoint(NamedTuple):
    """Where a city is: the mean of its ZIP centres, and its ZIP nearest that point."""

    zip: str
    lat: float
    lon: float


def city_key(city: str) -> str:
    """`St. Louis`, `SAINT LOUIS` → `SAINTLOUIS`: a city name as the lookup compares it
    (without spaces: `MC KEESPORT` is `McKeesport`, `DE SOTO` is `DeSoto`)."""
    words = re.sub(r"[^A-Z0-9 ]+", " ", city.upper()).split()
    return "".join(_WORDS.get(word, word) for word in words)


@functools.cache
def _entries() -> list[dict[str, Any]]:
    import zipcodes

    return list(zipcodes.list_all())


@functools.cache
def zip_table() -> dict[str, Place]:
    """Every US ZIP → its place; read once per process (about half a second)."""
    places: dict[str, Place] = {}
    for entry in _entries():
        try:
            lat, lon = float(entry["lat"]), float(entry["long"])
        except (KeyError, TypeError, ValueError):
            continue
        places[entry["zip_code"]] = Place(
            entry["zip_code"], entry["city"].title(), entry["state"], lat, lon
        )
    return places


@functools.cache
def _cities() -> dict[tuple[str, str], list[str]]:
    """(state, city key) → its ZIPs, street-address ZIPs first (PO boxes and unique ZIPs
    of one firm cluster downtown)."""
    table = zip_table()
    standard: dict[tuple[str, str], list[str]] = defaultdict(list)
    other: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in _entries():
        if entry["zip_code"] not in table:
            continue
        kind = standard if entry.get("zip_code_type") == "STANDARD" else other
        for name in [entry["city"], *entry.get("acceptable_cities", [])]:
            kind[(entry["state"], city_key(name))].append(entry["zip_code"])
    return {key: standard.get(key) or other[key] for key in {*standard, *other}}


def city_point(city: str, state: str) -> CityPoint | None:
    """The centre of a city of a state (the mean of its ZIP centres) and its ZIP nearest
    that centre; None when the city is not a place of that state."""
    zips = _cities().get((state.upper(), city_key(city)))
    if not zips:
        return None
    table = zip_table()
    places = [table[z] for z in zips]
    lat = sum(p.lat for p in places) / len(places)
    lon = sum(p.lon for p in places) / len(places)
    nearest = min(places, key=lambda p: ((p.lat - lat) ** 2 + (p.lon - lon) ** 2, p.zip))
    return CityPoint(nearest.zip, round(lat, 4), round(lon, 4))


@functools.cache
def state_boxes() -> dict[str, tuple[float, float, float, float]]:
    """State → (south, north, west, east) around its ZIP centres, widened by `MARGIN`."""
    boxes: dict[str, list[float]] = {}
    for p in zip_table().values():
        box = boxes.setdefault(p.state, [p.lat, p.lat, p.lon, p.lon])
        box[0], box[1] = min(box[0], p.lat), max(box[1], p.lat)
        box[2], box[3] = min(box[2], p.lon), max(box[3], p.lon)
    return {
        state: (s - MARGIN, n + MARGIN, w - MARGIN, e + MARGIN)
        for state, (s, n, w, e) in boxes.items()
    }


def inside_state(lat: float, lon: float, state: str) -> bool | None:
    """Whether a point lies in the box around its state; None for a state with no ZIPs."""
    box = state_boxes().get(state)
    if box is None:
        return None
    south, north, west, east = box
    return south <= lat <= north and west <= lon <= east
