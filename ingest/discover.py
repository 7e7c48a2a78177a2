"""Discovery: where a hospital's machine-readable file is, read from its `cms-hpt.txt`.

The file is blocks of `key: value` lines, one block per location (`location-name`,
`source-page-url`, `mrf-url`, `contact-name`, `contact-email`). Real files also carry
UTF-16, extra blank lines inside a block, prose, URLs without a scheme and several
locations sharing one `mrf-url`: we read what can be read and record a finding for the rest.
"""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlparse

import requests
import urllib3

from core.findings import Severity
from ingest.download import TRANSIENT_STATUS, one_line, read_capped, unreachable_for_now

KEYS = ("location-name", "source-page-url", "mrf-url", "contact-name", "contact-email")
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z _-]{1,40}?)\s*:\s*(.*?)\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_TXT_BYTES = 1 << 20  # a cms-hpt.txt is a few KB; anything huge is not one
#: A cms-hpt.txt must arrive within this many read timeouts (a drip of bytes never ends).
TXT_SECONDS = 4


@dataclass(frozen=True)
class SourceFinding:
    """A problem found while discovering or fetching a facility's file."""

    rule: str
    severity: Severity
    message: str
    line_no: int | None = None
    value: str | None = None


@dataclass
class HptEntry:
    """One location block of a `cms-hpt.txt`."""

    location_name: str = ""
    source_page_url: str = ""
    mrf_url: str = ""
    contact_name: str = ""
    contact_email: str = ""
    line_no: int = 0


@dataclass
class Discovery:
    """What a `cms-hpt.txt` says: its location entries and the problems found reading it."""

    url: str
    entries: list[HptEntry] = field(default_factory=list)
    findings: list[SourceFinding] = field(default_factory=list)
    #: It could not be fetched for now (5xx/429, timeout, host unreachable): a later try
    #: may pass. False when it answered with what cannot change by itself (404, HTML, …).
    transient: bool = False

    @property
    def mrf_urls(self) -> list[str]:
        """The distinct usable file URLs, in order of appearance."""
        return list(dict.fromkeys(e.mrf_url for e in self.entries if e.mrf_url))


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a small file and the encoding used: BOM first, then UTF-16 without a BOM
    (NUL bytes every other byte), then UTF-8 with Windows-1252 as the fallback."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    head = data[:200]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return data.decode("utf-16-le", errors="replace"), "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4:
        return data.decode("utf-16-be", errors="replace"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def normalise_key(raw: str) -> str | None:
    """`MRF URL`, `mrf_url`, `Mrf-Url` → `mrf-url`; None if it is not a spec key."""
    key = re.sub(r"[\s_]+", "-", raw.strip().lower())
    return key if key in KEYS else None


def resolve_url(value: str, base: str, line_no: int, findings: list[SourceFinding]) -> str:
    """An absolute http(s) URL for `value`, or "" (with a finding) if it cannot be one."""
    value = value.strip().strip("<>\"'")
    if not value:
        return ""
    if value.startswith("//"):
        value = f"{urlparse(base).scheme}:{value}"
    elif value.startswith("/"):
        findings.append(
            SourceFinding(
                "hpt.relative_url",
                Severity.WARNING,
                "URL is relative; resolved against the cms-hpt.txt URL",
                line_no,
                value,
            )
        )
        value = urljoin(base, value)
    elif not _SCHEME.match(value) or re.match(r"^[\w.-]+:\d+(/|$)", value):
        # `www.example.org/x.csv` (or `host:8080/x`): the site's own scheme is the best guess.
        scheme = urlparse(base).scheme or "https"
        findings.append(
            SourceFinding(
                "hpt.url_no_scheme",
                Severity.WARNING,
                f"URL has no scheme; assumed {scheme}://",
                line_no,
                value,
            )
        )
        value = f"{scheme}://{value}"
    scheme = urlparse(value).scheme.lower()
    if scheme not in {"http", "https"}:
        findings.append(
            SourceFinding(
                "hpt.url_scheme",
                Severity.ERROR,
                f"refused URL scheme {scheme!r}: only http and https",
                line_no,
                value,
            )
        )
        return ""
    return value


def parse_cms_hpt(data: bytes, url: str) -> Discovery:
    """Parse the bytes of a `cms-hpt.txt` fetched from `url` (never raises)."""
    found = Discovery(url=url)
    text, encoding = decode_text(data)
    if encoding.startswith("utf-16"):
        found.findings.append(
            SourceFinding(
                "hpt.encoding", Severity.WARNING, f"cms-hpt.txt is {encoding.upper()}, not UTF-8"
            )
        )
    current: HptEntry | None = None
    seen: set[str] = set()
    prose = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().strip("\ufeff")
        if not stripped:
            continue  # blank lines separate blocks but also appear inside them
        match = _LINE.match(stripped)
        key = normalise_key(match.group(1)) if match else None
        if match is None or key is None:
            if stripped.startswith("#"):
                continue
            prose += 1
            if prose <= 5:
                found.findings.append(
                    SourceFinding(
                        "hpt.not_key_value",
                        Severity.WARNING,
                        "line is not a `key: value` of the spec",
                        line_no,
                        stripped[:200],
                    )
                )
            continue
        # A key already set in the current block starts the next location's block.
        if current is None or key in seen:
            current = HptEntry(line_no=line_no)
            found.entries.append(current)
            seen = set()
        seen.add(key)
        value = match.group(2)
        if key in ("mrf-url", "source-page-url"):
            value = resolve_url(value, url, line_no, found.findings)
        setattr(current, key.replace("-", "_"), value)
    if prose > 5:
        found.findings.append(
            SourceFinding(
                "hpt.not_key_value", Severity.WARNING, f"{prose} lines in all are not `key: value`"
            )
        )
    _check_entries(found)
    return found


def _check_entries(found: Discovery) -> None:
    for entry in found.entries:
        if not entry.mrf_url:
            found.findings.append(
                SourceFinding(
                    "hpt.missing_mrf_url",
                    Severity.ERROR,
                    "location block has no usable mrf-url",
                    entry.line_no,
                    entry.location_name or None,
                )
            )
        if not entry.location_name:
            found.findings.append(
                SourceFinding(
                    "hpt.missing_location_name",
                    Severity.WARNING,
                    "location block has no location-name",
                    entry.line_no,
                )
            )
    if not found.mrf_urls:
        found.findings.append(
            SourceFinding(
                "hpt.no_entries", Severity.ERROR, "cms-hpt.txt names no machine-readable file"
            )
        )
    shared = len(found.entries) - len({e.mrf_url for e in found.entries if e.mrf_url})
    if found.mrf_urls and shared > 0:
        found.findings.append(
            SourceFinding(
                "hpt.shared_mrf_url",
                Severity.INFO,
                f"{len(found.entries)} locations share {len(found.mrf_urls)} file URL(s)",
            )
        )


def cms_hpt_url(website: str) -> str:
    """Where a site's `cms-hpt.txt` is: at the root we were given (scheme added if absent)."""
    site = website.strip()
    if not _SCHEME.match(site) or re.match(r"^[\w.-]+:\d+(/|$)", site):
        site = f"https://{site}"
    return urljoin(site.rstrip("/") + "/", "cms-hpt.txt")


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def pick_mrf_url(found: Discovery, name: str, location: str = "") -> tuple[str, str]:
    """The file URL for one facility and how it was chosen; "" if none fits.

    The `location` (else the facility `name`) is matched against `location-name`: exactly,
    then closely (names are retyped by hand: `St.` vs `Saint`); a file with one URL needs
    no match.
    """
    urls = found.mrf_urls
    if len(urls) == 1:
        return urls[0], "the only file named"
    if not urls:
        return "", "no file named"
    wanted = _norm_name(location or name)
    candidates = {_norm_name(e.location_name): e.mrf_url for e in found.entries if e.mrf_url}
    if wanted in candidates:
        return candidates[wanted], "location-name matches"
    close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.75)
    if close:
        return candidates[close[0]], f"closest location-name {close[0]!r}"
    return "", f"no location-name matches {location or name!r} among {len(candidates)}"


def fetch_cms_hpt(url: str, session: requests.Session, timeout: float) -> tuple[Discovery, int]:
    """Fetch and parse a `cms-hpt.txt`; an unreachable or wrong answer is a finding.

    Returns the discovery and the HTTP status (0 when no answer came)."""
    found = Discovery(url=url)
    if urlparse(url).scheme.lower() not in {"http", "https"}:
        found.findings.append(
            SourceFinding(
                "hpt.url_scheme", Severity.ERROR, "refused URL scheme: only http and https"
            )
        )
        return found, 0
    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            data = read_capped(response, MAX_TXT_BYTES, TXT_SECONDS * timeout)
            status = response.status_code
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        message = f"cannot fetch cms-hpt.txt: {one_line(error)}"
        found.findings.append(SourceFinding("hpt.unreachable", Severity.ERROR, message))
        found.transient = unreachable_for_now(error)
        return found, 0
    if status >= 400:
        found.transient = status in TRANSIENT_STATUS
        found.findings.append(
            SourceFinding("hpt.unreachable", Severity.ERROR, f"cms-hpt.txt answered HTTP {status}")
        )
        return found, status
    if len(data) > MAX_TXT_BYTES:
        message = f"cms-hpt.txt is over {MAX_TXT_BYTES:,} bytes: not a cms-hpt.txt"
        found.findings.append(SourceFinding("hpt.too_large", Severity.ERROR, message))
        return found, status
    head = data[:1024].replace(b"\x00", b"").lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        message = "cms-hpt.txt is an HTML page (bot wall, login or missing-page template?)"
        found.findings.append(SourceFinding("hpt.html", Severity.ERROR, message))
        return found, status
    parsed = parse_cms_hpt(data, response.url or url)
    parsed.url = url
    return parsed, status
