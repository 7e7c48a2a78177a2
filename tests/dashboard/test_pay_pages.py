"""Find a price's out-of-pocket estimate, the basis and exclusions of each price, and the
Source page, run with AppTest over real warehouses; expected figures come from SQL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl
import pytest

from dashboard import rates
from dashboard.estimate import Terms, out_of_pocket
from dashboard.ui import plain
from tests.dashboard.test_pages import best_plan, expected_plan_prices, money, names, run, texts
from tests.warehouse.charges import load_facility, rate
from warehouse import marts
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
    assert shown["Not compared"] == plain(rates.REASONS["placeholder"])
    assert shown["Codes"] == "CPT 73721, CDM 1"
    at = run("source", odd_wh, monkeypatch, facility="tx-1", file="tx-1-a", row="6")
    assert at.table[1].value.columns[1].startswith("Row 6")
    at = run("source", odd_wh, monkeypatch, facility="tx-1", row="x")
    assert "not a row number" in texts(at, "warning")[0]
    at = run("source", odd_wh, monkeypatch, facility="nowhere", code="CPT:73721")
    assert "No rate of hospital" in texts(at, "warning")[0]
    at = run("source", odd_wh, monkeypatch)
    assert "Open this page from a price" in texts(at, "info")[0]


HOSTILE = '=HYPERLINK("http://evil.example")'


@pytest.fixture(scope="module")
def units_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Case rates and per-diem rates of one service: two hospitals price it per stay (one
    also per day), one only per day; one plan name and description is a spreadsheet
    formula."""
    wh = Warehouse.at(tmp_path_factory.mktemp("units") / "wh" / "hpt.duckdb")
    load_facility(wh, "tx-1", [
        rate("99221", "Aetna", "PPO", 12000.0, methodology="case rate"),
        rate("99221", "Cigna", "PPO", 2500.0, methodology="per diem"),
    ], name="Case And Day")  # fmt: skip
    load_facility(wh, "tx-2", [
        rate("99221", "Aetna", "PPO", 11000.0, methodology="case rate"),
        rate("99221", "Aetna", HOSTILE, 11500.0, methodology="case rate", description=HOSTILE),
    ], name="Case Only")  # fmt: skip
    load_facility(wh, "tx-3", [rate("99221", "Aetna", "PPO", 2000.0, methodology="per diem")],
                  name="Day Only")  # fmt: skip
    publish(wh)
    return wh


def per_stay_plan_prices(wh: Warehouse, code: str, payer: str) -> list[tuple[str, float]]:
    """(hospital, the payer's price per stay) from price_compare, as the page takes it: the
    median over the plan types of their medians, rates without a unit only."""
    with reader(wh) as con:
        return con.execute(
            "SELECT l.hospital_name, median(p.median_dollar) AS price FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) WHERE p.code = ? AND p.payer = ? "
            "AND p.price_unit IS NULL GROUP BY ALL ORDER BY price",
            [code, payer],
        ).fetchall()


def test_per_day_rates_are_listed_apart_never_compared(
    units_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with reader(units_wh) as con:
        per_day = con.execute(
            "SELECT l.hospital_name, c.payer_name, c.negotiated_dollar FROM comparable_charges c "
            "JOIN facility_locations l USING (facility_id) WHERE c.price_unit = 'day' "
            "ORDER BY ALL"
        ).fetchall()
    assert len(per_day) == 2, "the per-diem rates have their own unit"
    at = run("find_price", units_wh, monkeypatch, code="CPT:99221")
    table = at.table[0].value
    # A tie (two hospitals per stay, two per day): prices per stay are shown.
    assert sorted(names(table["Hospital"])) == ["Case And Day", "Case Only"]
    assert not any("per day" in c for c in table.columns)
    note = next(t for t in texts(at, "info") if "per day" in t)
    assert note.startswith("2 hospitals price this service per day (1 of them only per day")
    assert "listed under Excluded prices" in note
    excluded = next(e for e in at.expander if e.label.startswith("Excluded prices"))
    assert excluded.label == f"Excluded prices ({len(per_day)})"
    listing = excluded.table[0].value
    shown = [(h, p, d) for h, p, d in zip(
        names(listing["Hospital"]), names(listing["Payer"]), listing["As published"],
        strict=True,
    )]  # fmt: skip
    assert shown == [(h, p, plain(money(d))) for h, p, d in per_day]
    assert set(listing["Why it is not compared"]) == {
        plain("a per-day rate: not comparable with prices per stay or service")
    }
    # With a payer: its price per stay, never the median of a stay and a day.
    at = run("find_price", units_wh, monkeypatch, code="CPT:99221", payer="Aetna",
             coinsurance="20")  # fmt: skip
    expected = per_stay_plan_prices(units_wh, "99221", "Aetna")
    table = at.table[0].value
    assert names(table["Hospital"]) == [h for h, _ in expected]
    assert list(table["Your plan's price"]) == [money(p) for _, p in expected]
    assert list(table["You'd pay (estimate)"]) == [
        money(out_of_pocket(p, Terms(coinsurance=20))) for _, p in expected
    ]
    note = next(t for t in texts(at, "info") if "per day" in t)
    assert note.startswith("1 hospital prices this service per day (1 of them only per day")
    excluded = next(e for e in at.expander if e.label.startswith("Excluded prices"))
    assert names(excluded.table[0].value["Hospital"]) == ["Day Only"]


def mart_reasons() -> set[str]:
    """Every `exclusion_reason` the mart SQL can give: the THEN values of the CASE that
    makes the column, in every SQL file of the marts."""
    found: set[str] = set()
    for path in Path(marts.__file__).parent.glob("*.sql"):
        for block in re.findall(
            r"CASE((?:(?!CASE).)*?)END\)? AS exclusion_reason", path.read_text(), re.S
        ):
            found |= set(re.findall(r"THEN '(\w+)'", block))
    return found


def test_every_exclusion_reason_has_words() -> None:
    reasons = mart_reasons()
    assert {"placeholder", "no_payer_rate", "outlier", "drug_unit_not_normalisable"} <= reasons
    assert reasons <= set(rates.REASONS), reasons - set(rates.REASONS)
    for reason in reasons:
        words = rates.not_compared(reason)
        assert words and words != reason and "_" not in words
    assert rates.not_compared(None) == ""
    assert rates.not_compared(rates.OTHER_UNIT, "day").startswith("a per-day rate")
    assert rates.not_compared(rates.OTHER_UNIT, "ML", "MG") == "priced per ML, not per MG"


def csv_frame(data: bytes) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(data), infer_schema=False)


def joined_back(wh: Warehouse, download: pl.DataFrame) -> pl.DataFrame:
    """The downloaded rates beside their `standard_charges` row (file_id + row_no, and the
    payer and plan: a wide CSV line holds several payers' rates)."""
    keys = download.select("file_id", "row_no").unique()
    with reader(wh) as snapshot:
        con = snapshot.cursor()
        con.register("keys", keys.to_arrow())
        charges = con.sql(
            "SELECT c.file_id, c.row_no::VARCHAR AS row_no, c.payer_name, c.plan_name, "
            "c.negotiated_dollar, c.gross_charge FROM standard_charges c "
            "JOIN keys k ON k.file_id = c.file_id AND k.row_no::BIGINT = c.row_no"
        ).pl()
    return download.join(
        charges, on=["file_id", "row_no", "payer_name", "plan_name"], how="left",
        suffix="_warehouse", nulls_equal=True,
    )  # fmt: skip


def assert_same_prices(both: pl.DataFrame) -> None:
    for r in both.iter_rows(named=True):
        got = float(r["negotiated_dollar"]) if r["negotiated_dollar"] else None
        assert got == r["negotiated_dollar_warehouse"], r
        gross = float(r["gross_charge"]) if r["gross_charge"] else None
        assert gross == r["gross_charge_warehouse"], r


def test_find_price_csv_rows_are_the_warehouse_rows(demo_wh: Warehouse) -> None:
    with reader(demo_wh) as con:
        ids = [r[0] for r in con.execute(
            "SELECT DISTINCT facility_id FROM facility_locations WHERE state = 'CA'"
        ).fetchall()]  # fmt: skip
        found = rates.code_rates(con.cursor(), "CPT", "73721", ids)
    download = csv_frame(rates.code_rates_csv(found))
    assert download.height == found.height > 0
    assert {"file_id", "row_no"} <= set(download.columns)
    both = joined_back(demo_wh, download)
    assert both.height == download.height, "one warehouse rate per downloaded rate"
    assert both["negotiated_dollar_warehouse"].is_not_null().any()
    assert_same_prices(both)


def test_downloads_neutralise_formulas_and_match_the_warehouse(units_wh: Warehouse) -> None:
    with reader(units_wh) as con:
        behind = rates.code_rates(con.cursor(), "CPT", "99221", ["tx-1", "tx-2", "tx-3"])
        source = rates.source_rates(con.cursor(), "tx-2", "CPT", "99221")
    for data in (rates.code_rates_csv(behind), rates.source_csv(source)):
        download = csv_frame(data)
        hostile = download.filter(pl.col("negotiated_dollar") == "11500.0")
        assert hostile["plan_name"].to_list() == ["'" + HOSTILE]
        if "description" in download.columns:
            assert hostile["description"].to_list() == ["'" + HOSTILE]
        # Joined back by file and row: the same rate (the plan name as stored, unquoted).
        download = download.with_columns(pl.col("plan_name").str.strip_prefix("'"))
        both = joined_back(units_wh, download)
        assert both.height == download.height
        assert_same_prices(both)
