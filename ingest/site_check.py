"""The online check of a registry (`hpt sources check --online N`): a sample of its websites
asked for their `cms-hpt.txt` with the pipeline's own HTTP session (User-Agent, retries,
redirect guard), politely — one request at a time, at most one per `interval` seconds, and
only where the site's `robots.txt` lets us.

Each site is `found` (its cms-hpt.txt names files), `missing` (404/410), `blocked` (401,
403, 429, or robots.txt says no), `not a CMS file` (an HTML page, prose, a huge file) or
`unreachable` (no answer, 5xx).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import requests

from core.findings import Severity
from ingest.discover import cms_hpt_url, fetch_cms_hpt
from ingest.download import Limits, looks_like_html, one_line, using_session
from ingest.registry import SourceEntry

BLOCKING_STATUS = frozenset({401, 403, 407, 429})
MISSING_STATUS = frozenset({404, 410})


class SiteOutcome(StrEnum):
    FOUND = "found"
    MISSING = "missing"
    BLOCKED = "blocked"
    NOT_CMS = "not a CMS file"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SiteCheck:
    """What one website answered."""

    website: str
    facilities: int  # registry entries on this website
    outcome: SiteOutcome
    status: int | None = None
    files: int = 0  # file URLs its cms-hpt.txt names
    message: str = ""


class Pace:
    """At most one request per `interval` seconds, whoever asks."""

    def __init__(self, interval: float) -> None:
        self.interval, self._last = interval, float("-inf")

    def wait(self) -> None:
        delay = self._last + self.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._last = time.monotonic()


def agent_token(user_agent: str) -> str:
    """The product token robots.txt rules name us by: the User-Agent's last product
    (`… hpt-price-transparency/0.1` → `hpt-price-transparency`)."""
    return user_agent.split()[-1].split("/")[0] if user_agent.strip() else "*"


def sample_sites(
    entries: Sequence[SourceEntry], n: int, seed: int = 0
) -> list[tuple[str, list[SourceEntry]]]:
    """`n` websites of the registry chosen at random (the same for the same seed), each with
    its entries."""
    sites: dict[str, list[SourceEntry]] = defaultdict(list)
    for entry in entries:
        if entry.website and not entry.mrf_url:
            sites[entry.website].append(entry)
    chosen = random.Random(seed).sample(sorted(sites), min(n, len(sites)))
    return [(site, sites[site]) for site in chosen]


def robots_allow(
    website: str, session: requests.Session, timeout: float, agent: str, pace: Pace
) -> tuple[bool, str]:
    """Whether the site's robots.txt lets `agent` fetch its cms-hpt.txt, and why not."""
    url = urljoin(cms_hpt_url(website), "/robots.txt")
    pace.wait()
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            body = response.raw.read(512_000, decode_content=True)
            status = response.status_code
    except requests.RequestException:
        return True, ""  # no robots.txt to honour; the cms-hpt.txt request will say more
    parser = RobotFileParser(url)
    if status in (401, 403):
        return False, f"robots.txt answered HTTP {status}"
    if status >= 400 or looks_like_html(body[:1024]):
        return True, ""
    parser.parse(body.decode("utf-8", errors="replace").splitlines())
    if parser.can_fetch(agent, cms_hpt_url(website)):
        return True, ""
    return False, f"robots.txt disallows {agent} from /cms-hpt.txt"


def check_site(
    website: str, facilities: int, session: requests.Session, limits: Limits, pace: Pace
) -> SiteCheck:
    """Ask one website for its cms-hpt.txt (after its robots.txt)."""
    allowed, why = robots_allow(website, session, limits.timeout,
                                agent_token(limits.user_agent), pace)  # fmt: skip
    if not allowed:
        return SiteCheck(website, facilities, SiteOutcome.BLOCKED, message=why)
    pace.wait()
    try:
        found, status = fetch_cms_hpt(cms_hpt_url(website), session, limits.timeout)
    except requests.RequestException as error:  # a redirect refused, say
        return SiteCheck(website, facilities, SiteOutcome.UNREACHABLE, message=one_line(error))
    rules = {f.rule: f.message for f in found.findings}
    errors = [f.message for f in found.findings if f.severity == Severity.ERROR]
    message = next(iter(errors or rules.values()), "")
    if status in BLOCKING_STATUS:
        outcome = SiteOutcome.BLOCKED
    elif status in MISSING_STATUS:
        outcome = SiteOutcome.MISSING
    elif status == 0 or status >= 400:
        outcome = SiteOutcome.UNREACHABLE
    elif found.mrf_urls:
        outcome = SiteOutcome.FOUND
        message = "; ".join(f"{r}" for r in rules if r != "hpt.shared_mrf_url")
    else:
        outcome = SiteOutcome.NOT_CMS
    return SiteCheck(website, facilities, outcome, status or None, len(found.mrf_urls), message)


def check_sites(
    entries: Sequence[SourceEntry],
    n: int,
    *,
    limits: Limits,
    interval: float,
    seed: int = 0,
    session: requests.Session | None = None,
) -> list[SiteCheck]:
    """`n` sampled websites of the registry, each asked for its cms-hpt.txt."""
    pace = Pace(interval)
    with using_session(session, limits) as http:
        return [
            check_site(site, len(listed), http, limits, pace)
            for site, listed in sample_sites(entries, n, seed)
        ]
