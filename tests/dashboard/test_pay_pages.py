"""Find a price's out-of-pocket estimate, the basis and exclusions of each price, and the
Source page, run with AppTest over real warehouses; expected figures come from SQL."""

from __future__ import annotations

import pytest

from dashboard.estimate import Terms, out_of_pocket
from tests.dashboard.test_pages import best_plan, expected_plan_prices, money, names, run, texts
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader
from warehouse.publish import publish


def test_estimate_column_from_the_plan_price(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer, plan = best_plan(demo_wh, "73721", "CA")
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", state="CA", payer=payer,
             plan=plan, deductible="500", coinsurance="20", oop_max="3000")  # fmt: skip
    expected = expected_plan_prices(demo_wh, "73721", "CA", payer, plan)
    table = at.table[0].value
    assert names(table["Hospital"]) == [name for name, _ in expected]
    terms = Terms(deductible=500, coinsurance=20, oop_max=3000)
    pays = [money(min(3000, min(p, 500) + 0.2 * max(0, p - 500))) for _, p in expected]
    assert list(table["You'd pay (estimate)"]) == pays
    assert pays == [money(out_of_pocket(p, terms)) for _, p in expected]
    assert f"about **{pays[0]}** there (estimate)" in texts(at, "success")[0]
    captions = " ".join(texts(at, "caption"))
    assert "deductible you have left" in captions and "copays" in captions
    assert at.query_params["coinsurance"] == "20"
    # A cap below every price: each estimate is the cap.
    at.text_input(key="fp.oop_max").input("100").run()
    assert set(at.table[0].value["You'd pay (estimate)"]) == {"$100.00"}


def test_estimate_inputs_are_validated_and_cash_has_none(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer, plan = best_plan(demo_wh, "73721", "CA")
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", state="CA", payer=payer,
             plan=plan, deductible="-5", coinsurance="150")  # fmt: skip
    warnings = texts(at, "warning")
    assert any("Deductible left ($) cannot be negative" in w for w in warnings)
    assert any("between 0 and 100" in w for w in warnings)
    assert "You'd pay (estimate)" not in at.table[0].value.columns
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", pay="cash",
             deductible="500", coinsurance="20")  # fmt: skip
    assert "You'd pay (estimate)" not in at.table[0].value.columns
    asked = {t.key for t in at.text_input}
    assert "fp.deductible" not in asked  # the plan terms are asked only with insurance


def test_each_price_carries_its_basis_and_source_link(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", state="CA")
    table = at.table[0].value
    con = reader(demo_wh)
    try:
        estimated = dict(con.execute(
            "SELECT l.hospital_name, count(*) FROM comparable_charge_codes c "
            "JOIN facility_locations l USING (facility_id) WHERE c.code = '73721' "
            "AND l.state = 'CA' AND c.price_basis = 'derived_from_percentage' "
            "AND c.exclusion_reason IS NULL GROUP BY ALL"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    assert estimated, "the demo files carry percentage-of-charges rates"
    basis = dict(zip(names(table["Hospital"]), table["Basis"], strict=True))
    for hospital, count in estimated.items():
        assert f"{count} % of charges (estimated)" in basis[hospital]
    assert all(s.startswith("[Source](./source?facility=") for s in table["Source"])
    assert all("code=CPT%3A73721" in s for s in table["Source"])


@pytest.fixture(scope="module")
def odd_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Two hospitals: one publishes a placeholder and a formula-only rate beside real ones."""
    wh = Warehouse.at(tmp_path_factory.mktemp("odd") / "wh" / "hpt.duckdb")
    load_facility(wh, "tx-1", [
        rate("73721", "Aetna", "PPO", 800.0),
        rate("73721", "Cigna", "PPO", 999999.0),
        rate("73721", "Humana", "HMO", None, negotiated_algorithm="150% of Medicare",
             methodology="other"),
    ], name="Odd General")  # fmt: skip
    load_facility(wh, "tx-2", [rate("73721", "Aetna", "PPO", 900.0)], name="Plain Memorial")
    publish(wh)
    return wh


def test_excluded_prices_are_listed_with_the_reason(
    odd_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", odd_wh, monkeypatch, code="CPT:73721")
    excluded = next(e for e in at.expander if e.label.startswith("Excluded prices"))
    assert excluded.label == "Excluded prices (2)"
    listing = excluded.table[0].value
    assert list(listing["As published"]) == ["\\$999,999\\.00", "150% of Medicare"]
    assert "placeholder" in listing["Why it is not compared"][0]
    assert "formula" in listing["Why it is not compared"][1]
    assert listing["Source"][0] == "[row 5](./source?facility=tx-1&file=tx-1-a&row=5)"
    # Two hospitals only: the page says the comparison is thin.
    at = run("find_price", odd_wh, monkeypatch, code="CPT:73721", payer="Aetna")
    assert names(at.table[0].value["Hospital"]) == ["Odd General", "Plain Memorial"]
    assert any("Based on 2 hospitals only" in c for c in texts(at, "caption"))


def test_source_page_shows_the_rows_and_file(
    odd_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("source", odd_wh, monkeypatch, facility="tx-1", code="CPT:73721", payer="Cigna")
    file_facts = dict(zip(at.table[0].value[""], at.table[0].value["Value"], strict=True))
    assert file_facts["File id"] == "tx\\-1\\-a"
    assert file_facts["Source"] == "test\\:tx\\-1"
    rows = at.table[1].value
    shown = dict(zip(rows[""], rows[rows.columns[1]], strict=True))
    assert shown["Row"] == "5"
    assert shown["Negotiated dollar"] == "999999"
    assert shown["Not compared"] == "placeholder"
    assert shown["Codes"] == "CPT 73721, CDM 1"
    at = run("source", odd_wh, monkeypatch, facility="tx-1", file="tx-1-a", row="6")
    assert at.table[1].value.columns[1].startswith("Row 6")
    at = run("source", odd_wh, monkeypatch, facility="tx-1", row="x")
    assert "not a row number" in texts(at, "warning")[0]
    at = run("source", odd_wh, monkeypatch, facility="nowhere", code="CPT:73721")
    assert "No rate of hospital" in texts(at, "warning")[0]
    at = run("source", odd_wh, monkeypatch)
    assert "Open this page from a price" in texts(at, "info")[0]
