"""Hospital lists merged into a registry file (`hpt sources import`): each row checked and
normalised, merged with what the registry already holds, every rejected or doubtful row
reported with its reason.

Per row: the CCN is normalised (`ingest.ccn`) and checked against the state; the homepage
is reduced to the site root that serves `/cms-hpt.txt`; a price-file URL is kept only as a
fallback behind discovery; the city and state give a ZIP and coordinates
(`ingest.places`). The facility id is the CCN in lower case, else a slug of the name.

Merging (see `merge`): the registry's own values win, field by field, and the import fills
only what it lacks; a later row of the same import for the same facility is merged into
the first the same way. Hospitals sharing a website are grouped as a system.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from core.ids import FACILITY_ID
from ingest import places
from ingest.ccn import ccn_state, federal, normalise_ccn, valid_ccn
from ingest.hospital_lists import ListFormat, ListRow
from ingest.registry import SourceEntry, slug

REJECTED, DOUBTFUL, MERGED = "rejected", "doubtful", "merged"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Hosts that are not a hospital's own website (a homepage there has no cms-hpt.txt).
NOT_OWN_SITE = re.compile(
    r"(^|\.)(facebook\.com|twitter\.com|x\.com|instagram\.com|linkedin\.com|youtube\.com|"
    r"yelp\.com|wikipedia\.org|google\.com|healthgrades\.com|usnews\.com|military\.com|"
    r"asylumprojects\.org|urgentcaremedicals\.com|mapquest\.com|yellowpages\.com)$"
)
#: Files no reader takes: such a "price file" URL is not worth keeping as a fallback.
NOT_A_PRICE_FILE = re.compile(r"\.(pdf|xlsx?|xlsm|docx?)$", re.IGNORECASE)
# Words kept in capitals when a name in capitals is title-cased.
_ACRONYM_TEXT = (
    "VA US USA LLC LLP UC UCSF UCLA UCI UCSD UNC UAB UT UTMB UTHSC OSF SSM HCA CHI HSHS MUSC "
    "UPMC NYU OU KU IU UVA UK LTAC LTACH ICU PHS IHS RMC AMC CMC BHC MC ECU LSU UMC UNM OHSU "
    "WVU VCU HCMC UAMS JFK USC UNMC SE SW NE NW II III IV PAM CHRISTUS AHN HHC NCH DMC CAH SNF "
    "LTC RHC MHI HHS"
)
_ACRONYMS = set(_ACRONYM_TEXT.split())


@dataclass(frozen=True)
class Issue:
    """A row rejected, doubtful or merged into another, and why: the import's report."""

    row: int
    verdict: str  # REJECTED, DOUBTFUL or MERGED
    reason: str  # a short code: `ccn.invalid`, `website.missing`, …
    detail: str
    facility_id: str = ""
    ccn: str = ""
    name: str = ""
    state: str = ""


@dataclass
class Imported:
    """The merged registry and what the import did."""

    entries: list[SourceEntry]
    issues: list[Issue] = field(default_factory=list)
    rows: int = 0
    added: int = 0
    updated: int = 0  # entries of the registry that gained values
    unchanged: int = 0
    dropped_fallbacks: int = 0

    @property
    def rejected(self) -> int:
        return len({i.row for i in self.issues if i.verdict == REJECTED})

    @property
    def doubtful(self) -> int:
        return len({i.row for i in self.issues if i.verdict == DOUBTFUL})

    def reasons(self) -> Counter[tuple[str, str]]:
        """(verdict, reason) → rows."""
        return Counter((i.verdict, i.reason) for i in self.issues)


def display_name(text: str) -> str:
    """`ST. MARY'S HOSPITAL OF UPMC` → `St. Mary's Hospital of UPMC`; text that is not all
    capitals is kept as it is."""
    text = " ".join(text.split())
    if any(c.islower() for c in text):
        return text

    def word(match: re.Match[str]) -> str:
        w = match.group(0)
        if w in ("ST", "STE", "MT", "FT"):  # Saint, Mount, Fort
            return w[0] + w[1:].lower()
        if w in _ACRONYMS or not re.search(r"[AEIOUY]", w):
            return w
        if w in ("OF", "AND", "THE", "AT", "IN", "FOR", "ON") and match.start() > 0:
            return w.lower()
        return w[0] + w[1:].lower()

    titled = re.sub(r"[A-Z][A-Z']*", word, text)
    return re.sub(r"\b([OD])'([a-z])", lambda m: f"{m.group(1)}'{m.group(2).upper()}", titled)


def site_root(url: str) -> str | None:
    """`https://www.x.org/about/?a=1` → `https://www.x.org/`: where `/cms-hpt.txt` is;
    None when the text is not an http(s) URL with a host name."""
    text = url.strip()
    if not text or re.search(r"[\s\\]", text):
        return None
    if not _SCHEME.match(text) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d)", text):
        return None  # `mailto:…`, `javascript:…`: another scheme, not a host
    if not _SCHEME.match(text):
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    if "." not in host.strip(".") and host != "localhost":
        return None
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}/"


def _url(text: str) -> str | None:
    """An http(s) URL as given (scheme added when absent), or None."""
    text = text.strip()
    if not text:
        return None
    full = text if _SCHEME.match(text) else "https://" + text.lstrip("/")
    return full if site_root(full) else None


class _Row:
    """One list row being judged: its values and the issues met."""

    def __init__(self, item: ListRow, issues: list[Issue]) -> None:
        self.item, self.v, self.issues = item, dict(item.values), issues
        self.rejected = False

    def note(self, verdict: str, reason: str, detail: str) -> None:
        self.rejected |= verdict == REJECTED
        self.issues.append(Issue(self.item.row, verdict, reason, detail,
                                 self.v.get("facility_id", ""), self.v.get("ccn", ""),
                                 self.v.get("name", ""), self.v.get("state", "")))  # fmt: skip


def _check_ccn(r: _Row, fmt: ListFormat) -> None:
    raw = r.v.get("ccn", "")
    if (
        not raw
        and fmt == ListFormat.CSV
        and valid_ccn(normalise_ccn(r.v.get("facility_id", ""))[0])
    ):
        raw = r.v["facility_id"]  # our layout: a facility id that is a CCN is one
    if not raw:
        if fmt == ListFormat.ONEFACT:
            r.note(REJECTED, "ccn.missing", "no CCN")
        return
    ccn, padded = normalise_ccn(raw)
    if not valid_ccn(ccn):
        r.note(REJECTED, "ccn.invalid", f"CCN {raw!r} is not 6 characters of a hospital's CCN")
        return
    r.v["ccn"] = ccn
    if padded:
        r.note(DOUBTFUL, "ccn.padded", f"CCN {raw!r} lost its leading zero: read as {ccn}")
    if federal(ccn):
        r.note(DOUBTFUL, "ccn.federal", "federal hospital (VA, military): not bound by the CMS "
               "price transparency rule, it may publish no file")  # fmt: skip


def _check_state(r: _Row) -> None:
    state = r.v.get("state", "").upper()
    ccn = r.v.get("ccn", "")
    issued = ccn_state(ccn) if ccn else None
    if not state and issued:
        r.v["state"] = issued
        r.note(DOUBTFUL, "state.from_ccn", f"no state: {issued} taken from the CCN")
        return
    if state and state not in places.STATES:
        r.note(REJECTED, "state.unknown", f"state {state!r} is not a US state or territory")
        return
    r.v["state"] = state
    if issued and state and issued != state:
        city = r.v.get("city", "")
        here, there = places.city_point(city, state), places.city_point(city, issued)
        if here is None and there is not None:
            r.v["state"] = issued
            verdict = f"{city.title()} is in {issued}, not {state}: state set to {issued}"
        else:
            verdict = f"kept {state}" + (f" ({city.title()} is in {state})" if here else "")
        r.note(DOUBTFUL, "ccn.state_mismatch", f"CCN {ccn} was issued in {issued}, the row says "
               f"{state}; {verdict}")  # fmt: skip


def _check_website(r: _Row, fmt: ListFormat) -> None:
    given = r.v.get("website", "")
    if given:  # our layout: the site root as the registry names it (a path is allowed)
        url = _url(given)
        if url is None:
            r.note(REJECTED, "website.invalid", f"website {given!r} is not an http(s) URL")
        else:
            r.v["website"] = url
        return
    homepage, page = r.v.pop("homepage", ""), r.v.pop("price_page", "")
    root = site_root(homepage)
    if homepage and root is None:
        why = f"homepage {homepage!r} is not an http(s) URL"
    elif root and NOT_OWN_SITE.search(urlsplit(root).hostname or ""):
        why, root = f"homepage {homepage} is not the hospital's own site", None
    else:
        why = "no homepage"
    if root is None and site_root(page):
        r.v["website"] = str(site_root(page))
        r.note(DOUBTFUL, "website.from_price_page", f"{why}: the site of the price page "
               f"{page} taken instead")  # fmt: skip
    elif root is None and not r.v.get("mrf_url"):  # an mrf_url alone will do
        reason = "website.missing" if why == "no homepage" else "website.invalid"
        r.note(REJECTED, "website.not_own_site" if "own site" in why else reason, why)
    elif root:
        r.v["website"] = root


def _check_urls(r: _Row, imported: Imported) -> None:
    for column in ("mrf_url", "fallback_url"):
        raw = r.v.get(column, "")
        url = _url(raw)
        if raw and (url is None or NOT_A_PRICE_FILE.search(urlsplit(url).path)):
            if column == "mrf_url":
                r.note(REJECTED, "mrf_url.invalid", f"mrf_url {raw!r} is not an http(s) URL")
            else:
                imported.dropped_fallbacks += 1
            r.v[column] = ""
        elif url:
            r.v[column] = url


def placed(entry: SourceEntry) -> tuple[SourceEntry, str | None]:
    """The entry with a ZIP and coordinates if it lacks them (from its ZIP, else its city
    and state), and why it could not be placed."""
    if entry.latitude and entry.longitude:
        return entry, None
    if entry.zip:
        place = places.zip_table().get(entry.zip[:5])
        if place is not None and (not entry.state or place.state == entry.state):
            return replace(entry, latitude=f"{place.lat:.4f}", longitude=f"{place.lon:.4f}",
                           geo_precision="zip"), None  # fmt: skip
        if place is None:
            return entry, f"ZIP {entry.zip} is not a known US ZIP"
        return entry, f"ZIP {entry.zip} is in {place.state}, not {entry.state}"
    if not (entry.city and entry.state):
        return entry, "no city and state to place it by"
    point = places.city_point(entry.city, entry.state)
    if point is None:
        return entry, f"{entry.city}, {entry.state} is not a place of the ZIP data"
    return replace(entry, zip=point.zip, latitude=f"{point.lat:.4f}",
                   longitude=f"{point.lon:.4f}", geo_precision="city"), None  # fmt: skip


def judged(item: ListRow, fmt: ListFormat, imported: Imported) -> SourceEntry | None:
    """The registry entry a list row makes, or None if it is rejected (issues recorded)."""
    r = _Row(item, imported.issues)
    r.v["name"] = display_name(r.v.get("name", ""))
    if not r.v["name"]:
        r.note(REJECTED, "name.missing", "no name")
    r.v["city"] = display_name(r.v.get("city", ""))
    _check_ccn(r, fmt)
    _check_state(r)
    _check_website(r, fmt)
    _check_urls(r, imported)
    if r.rejected:
        return None
    given = r.v.get("facility_id", "")
    ccn = r.v.get("ccn", "")
    r.v["facility_id"] = ccn.lower() if ccn and (not given or given == ccn.lower()) else given
    if given and not FACILITY_ID.fullmatch(given):
        r.note(REJECTED, "id.invalid", f"facility_id {given!r} is not a valid facility id")
        return None
    if not r.v["facility_id"] and not slug(r.v["name"]):
        r.note(REJECTED, "id.invalid", "no CCN and no letter or digit in the name for an id")
        return None
    entry = SourceEntry.from_dict(r.v)
    entry, why = placed(entry)
    if why and (entry.city or entry.zip):  # a list without places (cms-hpt.txt) is no doubt
        r.note(DOUBTFUL, "geo.unplaced", f"no coordinates: {why}")
    return entry
