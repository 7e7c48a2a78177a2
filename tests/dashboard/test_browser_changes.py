"""The Changes page in a real browser: `hpt dashboard` over a warehouse where one hospital's
second file changed known prices, driven by Chromium (see test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard.test_browser import (
    NO_SIDEWAYS_SCROLL,
    browser,
    no_exception,
    serving,
    shot,
)
from tests.dashboard.test_changes_page import expected_top
from tests.warehouse.file_versions import Versions, two_versions
from warehouse.db import Warehouse

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the shared Chromium fixture


@pytest.fixture(scope="module")
def changed_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Warehouse, Versions]]:
    """The two-file warehouse, served by `hpt dashboard`; stopped with SIGINT."""
    root = tmp_path_factory.mktemp("changes-browser")
    wh = Warehouse.at(root / "wh" / "hpt.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPT_WORK_DIR", str(root / "work"))
        mp.setenv("HPT_LANDING", str(root / "landing"))
        versions = two_versions(root, wh)
    with serving(wh.db_path) as base:
        yield base, wh, versions


def shown_top(tab: Any) -> list[tuple[str, str]]:
    """(before, now) of the rows of the page's largest-moves table (an HTML table)."""
    table = tab.locator('[data-testid="stTable"] table').first
    table.wait_for(timeout=30_000)
    rows: list[list[str]] = table.evaluate(
        """t => {
            const head = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
            const at = name => head.indexOf(name);
            return [...t.querySelectorAll('tbody tr')].map(tr => {
                const cells = [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim());
                return [cells[at('Before')], cells[at('Now')]];
            });
        }"""
    )
    return [(before, now) for before, now in rows]


@pytest.mark.parametrize("width", [1280, 390])
def test_changes_page_shows_the_warehouse_top_moves(
    browser: Any, changed_server: tuple[str, Warehouse, Versions], width: int
) -> None:
    base, wh, versions = changed_server
    context = browser.new_context(viewport={"width": width, "height": 2400}, is_mobile=width < 500)
    tab = context.new_page()
    tab.goto(f"{base}/changes?facility={versions.facility_id}")
    tab.get_by_text("Largest moves").first.wait_for(timeout=60_000)
    assert shown_top(tab) == expected_top(wh, versions.facility_id)[:10]
    tab.get_by_text("The hospital's files over time").wait_for()
    no_exception(tab)
    shot(tab, f"changes_facility_{width}px")
    if width == 390:
        assert tab.evaluate(NO_SIDEWAYS_SCROLL), tab.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
    context.close()
