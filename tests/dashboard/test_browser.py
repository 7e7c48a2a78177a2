"""The dashboard in a real browser: `hpt dashboard` serving a warehouse built by the real
pipeline, driven by Chromium through Playwright. Screenshots and timings go to
test-artifacts/dashboard/ (git-ignored)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
import requests

from warehouse.db import Warehouse, reader

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
TIMINGS: dict[str, float] = {}
#: True when the page is no wider than the window (nothing to scroll sideways).
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """`hpt dashboard` on a free port over the warehouse `db`; stopped with SIGINT (Ctrl-C)."""
    port = free_port()
    hpt = Path(sys.executable).parent / "hpt"
    process = subprocess.Popen(
        [str(hpt), "dashboard", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert f"http://localhost:{port}" in first, first
    base = f"http://localhost:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{base}/_stcore/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.3)
    yield base
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, "Ctrl-C stops the dashboard cleanly"
    process.stdout.close()


@pytest.fixture(scope="module")
def server(demo_wh: Warehouse) -> Iterator[str]:
    """The dashboard over the demo warehouse; the timings are written at the end."""
    with serving(demo_wh.db_path) as base:
        yield base
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (make chromium)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser session; it must request nothing outside the dashboard."""
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    tab = context.new_page()
    outside: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith((server, "data:", "blob:")) else outside.append(r.url),
    )
    yield tab
    context.close()
    assert not outside, f"requests outside the dashboard: {outside[:5]}"


def shot(tab: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.wait_for_timeout(2500)  # let charts and data grids finish drawing
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def idle(tab: Any) -> None:
    """Wait until the script run has finished (the next interaction then starts clean)."""
    tab.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
    )
    tab.wait_for_timeout(200)


def no_exception(tab: Any) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0


def choose(tab: Any, label: str, option: str) -> float:
    """Pick an option of a Streamlit selectbox by its label; returns when it was picked
    (interaction timings start there, not at Playwright's own waits to open the list)."""
    tab.get_by_label(label, exact=True).click()
    item = tab.get_by_role("option", name=option, exact=True)
    item.wait_for()
    picked = time.monotonic()
    item.click()
    return picked


def ranked(tab: Any) -> list[dict[str, str]]:
    """The rows of the ranked price table (an HTML table: readable by screen readers)."""
    table = tab.locator('[data-testid="stTable"] table').first
    table.wait_for()
    rows: list[dict[str, str]] = table.evaluate(
        """t => {
            const head = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
            return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
                [...tr.children].map((c, i) => [head[i] || '#', c.innerText.trim()])));
        }"""
    )
    return rows


def plan_prices(wh: Warehouse, code: str, state: str, payer: str, plan: str) -> list[tuple]:
    con = reader(wh)
    try:
        return con.execute(
            "SELECT l.hospital_name, p.median_dollar FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) WHERE p.code = ? AND l.state = ? "
            "AND p.payer = ? AND p.plan_type = ? AND p.median_dollar IS NOT NULL "
            "AND p.price_unit IS NULL ORDER BY p.median_dollar",  # per service, not per day
            [code, state, payer, plan],
        ).fetchall()
    finally:
        con.close()


def best_plan(wh: Warehouse) -> tuple[str, str]:
    con = reader(wh)
    try:
        row = con.execute(
            "SELECT p.payer, p.plan_type FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) WHERE p.code = '73721' "
            "AND l.state = 'CA' AND p.rates > 0 AND p.payer IS NOT NULL GROUP BY ALL "
            "ORDER BY count(DISTINCT facility_id) DESC, 1, 2 LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0], row[1]


def timed(name: str, started: float) -> None:
    TIMINGS[name] = round(time.monotonic() - started, 3)


def test_find_price_search_state_payer(page: Any, server: str, demo_wh: Warehouse) -> None:
    # A first visit warms the server (imports); the next session is what a patient sees.
    started = time.monotonic()
    page.goto(server)
    page.get_by_text("Type what you need above").wait_for(timeout=60_000)
    timed("find_price_first_paint_cold_server_s", started)
    started = time.monotonic()
    page.goto(server)
    page.get_by_text("Type what you need above").wait_for()
    timed("find_price_first_paint_s", started)
    idle(page)

    started = time.monotonic()
    box = page.get_by_label("What do you need?")
    box.fill("knee mri")
    box.press("Enter")
    page.get_by_text("Lowest cash price").wait_for()
    timed("search_to_ranked_prices_s", started)
    idle(page)

    started = choose(page, "State", "CA")
    page.wait_for_function(  # the ranked table (the first; Excluded prices has its own)
        "() => document.querySelector('[data-testid=stTable]')"
        "?.querySelectorAll('tbody tr').length == 3"
    )
    timed("choose_state_s", started)
    assert {r["State"] for r in ranked(page)} == {"CA"}
    idle(page)

    payer, plan = best_plan(demo_wh)
    started = choose(page, "Insurer", payer)
    page.get_by_text(f"Lowest {payer} price").wait_for()
    timed("choose_insurer_s", started)
    idle(page)
    labels = {"commercial_pos": "Commercial POS", "commercial_ppo": "Commercial PPO"}
    choose(page, "Plan type", labels.get(plan, plan))
    page.wait_for_function(f"() => location.search.includes('plan={plan}')")
    page.wait_for_timeout(300)
    rows = ranked(page)
    expected = plan_prices(demo_wh, "73721", "CA", payer, plan)
    assert [r["Hospital"] for r in rows] == [name for name, _ in expected]
    assert [r["Your plan's price"] for r in rows] == [f"${v:,.2f}" for _, v in expected]
    assert [r["Rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    no_exception(page)
    shot(page, "find_price")
    query = parse_qs(urlparse(page.url).query)
    assert query["code"] == ["CPT:73721"] and query["payer"] == [payer]


def test_shared_url_restores_the_view(page: Any, server: str, demo_wh: Warehouse) -> None:
    payer, plan = best_plan(demo_wh)
    link = f"{server}/?q=knee+mri&code=CPT%3A73721&state=CA&payer={payer}&plan={plan}"
    started = time.monotonic()
    page.goto(link)
    page.get_by_text(f"Lowest {payer} price").wait_for(timeout=30_000)
    timed("shared_link_to_ranked_prices_s", started)
    expected = plan_prices(demo_wh, "73721", "CA", payer, plan)
    assert [r["Your plan's price"] for r in ranked(page)] == [f"${v:,.2f}" for _, v in expected]
    assert page.get_by_label("What do you need?").input_value() == "knee mri"
    no_exception(page)


def test_phone_width(browser: Any, server: str, demo_wh: Warehouse) -> None:
    payer, plan = best_plan(demo_wh)
    context = browser.new_context(viewport={"width": 390, "height": 2400}, is_mobile=True)
    tab = context.new_page()
    tab.goto(f"{server}/?code=CPT%3A73721&state=CA&payer={payer}&plan={plan}&zip=94103")
    tab.get_by_text(f"Lowest {payer} price").wait_for(timeout=30_000)
    table = tab.locator('[data-testid="stTable"]').first
    assert table.bounding_box()["x"] >= 0
    no_exception(tab)
    shot(tab, "find_price_phone_390px")
    context.close()


def test_compare_download_csv(page: Any, server: str, demo_wh: Warehouse) -> None:
    page.goto(f"{server}/compare?code=CPT%3A73721&code=CPT%3A70551&payer=Aetna")
    page.get_by_text("Spread between facilities").wait_for(timeout=30_000)
    page.get_by_text("Download CSV").wait_for()
    with page.expect_download() as info:
        page.get_by_text("Download CSV").click()
    csv = pl.read_csv(info.value.path(), schema_overrides={"code": pl.String})
    con = reader(demo_wh)
    try:
        expected = con.execute(
            "SELECT code, facility_id, plan_type, median_dollar FROM price_compare "
            "WHERE code_type = 'CPT' AND code IN ('73721', '70551') AND payer = 'Aetna' "
            "AND rates > 0 ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    got = csv.select("code", "facility_id", "plan_type", "median_dollar").sort(pl.all()).rows()
    assert got == expected
    assert set(csv["payer"]) == {"Aetna"}
    no_exception(page)
    shot(page, "compare")


@pytest.mark.parametrize(
    ("path", "wait_for", "name"),
    [
        ("/facility?facility=tx-10111", "Price position against other hospitals", "facility"),
        ("/map?code=CPT%3A73721", "Green is the cheapest", "map"),
        ("/quality", "Show outcomes", "quality_runs"),
        ("/quality?view=checks", "Failed expectations", "quality_checks"),
        ("/quality?view=rules", "Findings by rule", "quality_rules"),
        ("/?code=CPT%3A00000", "No hospital in this warehouse publishes a price", "unknown_code"),
    ],
)
def test_pages_render(page: Any, server: str, path: str, wait_for: str, name: str) -> None:
    started = time.monotonic()
    page.goto(server + path)
    page.get_by_text(wait_for).first.wait_for(timeout=30_000)
    timed(f"{name}_first_paint_s", started)
    no_exception(page)
    shot(page, name)


def test_typing_words_chooses_the_service(page: Any, server: str) -> None:
    page.goto(server)
    page.get_by_text("Type what you need above").wait_for(timeout=60_000)
    idle(page)
    box = page.get_by_label("What do you need?")
    box.fill("knee scan")
    box.press("Enter")
    page.get_by_text("Lowest cash price").wait_for()
    page.wait_for_function("() => location.search.includes('code=CPT%3A73721')")
    assert "MRI of knee joint" in page.get_by_text("Lowest cash price").inner_text()
    no_exception(page)


@pytest.mark.parametrize("q", ["knee+MRI", "73721"])
def test_shared_link_with_words_and_code_warns_nothing(page: Any, server: str, q: str) -> None:
    page.goto(f"{server}/?q={q}&code=CPT:73721")
    page.get_by_text("Lowest cash price").wait_for(timeout=30_000)
    idle(page)
    assert page.get_by_text("No service matches").count() == 0
    no_exception(page)


EVIL_NAME = (
    "West Mercy [x](http://evil.example) ![i](http://evil.example/i.png) <b>bold</b> $x$ Hospital"
)


@pytest.fixture(scope="module")
def evil_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard over two hospitals, one with a hostile name, service and payer."""
    from tests.warehouse.charges import load_facility, rate
    from warehouse.publish import publish

    wh = Warehouse.at(tmp_path_factory.mktemp("evil") / "hpt.duckdb")
    description = "Knee scan [x](http://evil.example) ![i](http://evil.example/i.png)"
    for facility, name, dollar in (("tx-e", EVIL_NAME, 100.0), ("tx-f", "Plain Hospital", 300.0)):
        load_facility(wh, facility, [
            rate("12345", "Evil [x](http://evil.example) Health", "PPO", dollar,
                 discounted_cash=dollar, description=description),
        ], name=name)  # fmt: skip
    publish(wh)
    with serving(wh.db_path) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "wait_for"),
    [
        ("/?code=CPT%3A12345&pay=cash", "Lowest cash price"),
        ("/compare?code=CPT%3A12345", "Spread between facilities"),
        ("/facility?facility=tx-e", "Price position against other hospitals"),
        ("/map?code=CPT%3A12345", "Map"),
        ("/quality?view=payers", "Payer rates"),
    ],
)
def test_hostile_names_are_plain_text_in_the_browser(
    browser: Any, evil_server: str, path: str, wait_for: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    tab = context.new_page()
    outside: list[str] = []
    tab.on("request", lambda r: outside.append(r.url) if "evil" in r.url else None)
    tab.goto(evil_server + path)
    tab.get_by_text(wait_for).first.wait_for(timeout=60_000)
    idle(tab)
    tab.wait_for_timeout(1500)
    evil = tab.evaluate(
        "() => [...document.querySelectorAll('a[href*=evil], img[src*=evil], b')]"
        ".map(e => e.closest('[data-testid]')?.dataset.testid + ': ' + e.outerHTML)"
    )
    assert evil == [], evil
    if path.startswith("/?"):
        shown = tab.locator('[data-testid="stAlertContentSuccess"]').inner_text()
        assert EVIL_NAME in shown.replace("\u2060", "")  # the invisible word joiner
    no_exception(tab)
    context.close()
    assert outside == [], outside


PAGES = [
    ("find_price", "/?code=CPT%3A73721&state=CA&zip=94103", "Lowest cash price"),
    ("find_price_empty", "/", "Type what you need above"),
    ("map", "/map?code=CPT%3A73721", "Green is the cheapest"),
    ("compare", "/compare?code=CPT%3A73721&code=CPT%3A70551", "Spread between facilities"),
    ("facility", "/facility?facility=tx-10111", "Price position against other hospitals"),
    ("quality_runs", "/quality", "Show outcomes"),
    ("quality_checks", "/quality?view=checks", "Failed expectations"),
    ("quality_rules", "/quality?view=rules", "Findings by rule"),
    ("quality_payers", "/quality?view=payers", "Payer rates"),
]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_the_width(browser: Any, server: str, width: int) -> None:
    """No sideways scroll of the page at phone width (tables and charts scroll inside
    themselves); a screenshot of each page at each width."""
    context = browser.new_context(viewport={"width": width, "height": 1400},
                                  is_mobile=width < 600)  # fmt: skip
    tab = context.new_page()
    wide = {}
    for name, path, wait_for in PAGES:
        tab.goto(server + path)
        tab.get_by_text(wait_for).first.wait_for(timeout=60_000)
        idle(tab)
        no_exception(tab)
        shot(tab, f"{name}_{width}px")
        scroll, inner = tab.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll > inner + 1:
            wide[name] = (scroll, inner)
    context.close()
    assert wide == {}, f"pages wider than the {width} px screen: {wide}"
