"""In a real browser: the out-of-pocket estimate against the warehouse, and a price's Source
row against the hospital's file on disk."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dashboard.estimate import Terms, out_of_pocket
from tests.dashboard.test_browser import (  # noqa: F401 (fixtures)
    NO_SIDEWAYS_SCROLL,
    best_plan,
    browser,
    choose,
    idle,
    no_exception,
    page,
    ranked,
    server,
    shot,
)  # fmt: skip
from warehouse.db import Warehouse, reader
from warehouse.queries import compare

pytestmark = pytest.mark.browser


def plan_prices_per_stay(wh: Warehouse, payer: str) -> dict[str, float]:
    """Per hospital in CA, the payer's knee MRI price as the page takes it from the
    warehouse (`compare`, the query it reads): the median over plan types of their median
    negotiated price, in the page's setting (the first), prices per service (no unit)."""
    with reader(wh) as snap:
        con = snap.cursor()
        rows = compare(con, "CPT:73721", state="CA", payer=payer)
        names = dict(
            con.sql("SELECT facility_id, hospital_name FROM facility_locations").fetchall()
        )
    settings = sorted(rows["setting"].drop_nulls().unique())
    rows = rows.filter(
        pl.col("setting").eq_missing(settings[0] if settings else None)
        & pl.col("price_unit").is_null()
    )
    prices = rows.group_by("facility_id").agg(pl.col("median_dollar").median())
    return {names[f]: p for f, p in prices.iter_rows() if p is not None}


def test_estimate_and_source_row(page: Any, server: str, demo_wh: Warehouse) -> None:  # noqa: F811
    page.goto(server)
    page.get_by_text("Type what you need above").wait_for(timeout=60_000)
    idle(page)
    box = page.get_by_label("What do you need?")
    box.fill("knee mri")
    box.press("Enter")
    page.get_by_text("Lowest cash price").wait_for()
    idle(page)
    choose(page, "State", "CA")
    idle(page)
    payer, _ = best_plan(demo_wh)
    choose(page, "Insurer", payer)
    page.get_by_text(f"Lowest {payer} price").wait_for()
    idle(page)
    for label, value in (("Deductible left ($)", "500"), ("Coinsurance (%)", "20")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        idle(page)
    page.get_by_text("(estimate)", exact=False).first.wait_for()
    idle(page)
    rows = ranked(page)
    terms = Terms(deductible=500, coinsurance=20)
    expected = plan_prices_per_stay(demo_wh, payer)
    assert {r["Hospital"] for r in rows} == set(expected)
    for r in rows:
        price = expected[r["Hospital"]]
        assert r["Your plan's price"] == f"${price:,.2f}"
        assert r["You'd pay (estimate)"] == f"${out_of_pocket(price, terms):,.2f}"
    no_exception(page)
    shot(page, "find_price_estimate")

    with page.context.expect_page() as opened:
        page.locator('[data-testid="stTable"] table').first.get_by_role(
            "link", name="Source"
        ).first.click()
    source = opened.value
    source.get_by_text("Rates as published").wait_for(timeout=60_000)
    idle(source)
    tables = source.locator('[data-testid="stTable"] table')
    facts = dict(
        tables.nth(0).evaluate(
            "t => [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children]"
            ".map(c => c.innerText.trim()))"
        )
    )
    shown = tables.nth(1).evaluate(
        "t => Object.fromEntries([...t.querySelectorAll('tbody tr')].map(tr => "
        "[tr.children[0].innerText.trim(), tr.children[1].innerText.trim()]))"
    )
    with Path(facts["Source"]).open(newline="") as handle:
        lines = list(csv.reader(handle))
    header, line = lines[2], lines[int(shown["Row"]) - 1]
    published = dict(zip(header, line, strict=False))
    assert published["description"] == shown["Description"]
    assert published["payer_name"] == shown["Payer"]
    assert published["plan_name"] == shown["Plan"]
    assert float(published["standard_charge|gross"]) == float(shown["Gross charge"])
    dollar = published["standard_charge|negotiated_dollar"]
    assert (float(dollar) if dollar else "") == (
        float(shown["Negotiated dollar"]) if shown["Negotiated dollar"] else ""
    )
    no_exception(source)
    shot(source, "source")
    source.set_viewport_size({"width": 390, "height": 900})
    source.wait_for_timeout(800)
    shot(source, "source_390")
    assert source.evaluate(NO_SIDEWAYS_SCROLL), "no sideways scroll at 390 px"
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(800)
    shot(page, "find_price_estimate_390")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
