"""Every dashboard page run with Streamlit's AppTest over real warehouses: widgets change the
results, shared links restore a view, and bad input gives a message, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import reads, ui
from tests.dashboard import demo_warehouse
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader
from warehouse.publish import publish

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "views"
APP = PAGES.parent / "app.py"
ALL_PAGES = ["find_price", "compare", "facility", "map", "quality", "source", "changes"]


def run(name: str, wh: Warehouse, monkeypatch: pytest.MonkeyPatch, **params: Any) -> AppTest:
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    """The messages of a kind as a reader sees them: Markdown escapes (`ui.plain`) undone,
    and the invisible word joiner it puts into addresses left out."""
    return [
        re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value).replace("\u2060", "")
        for e in getattr(at, kind)
    ]


def names(column: Any) -> list[str]:
    """Hospital names of Find a price's table, whose cells link to the Facility page
    (`[name](./facility?facility=…)`): the names as a reader sees them."""
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", re.sub(r"^\[(.*)\]\(.*\)$", r"\1", c))
            for c in column]  # fmt: skip


def best_plan(wh: Warehouse, code: str, state: str) -> tuple[str, str]:
    """The payer and plan type with rates at the most facilities of the state."""
    con = reader(wh)
    try:
        row = con.execute(
            "SELECT p.payer, p.plan_type FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) "
            "WHERE p.code = ? AND l.state = ? AND p.rates > 0 AND p.payer IS NOT NULL "
            "GROUP BY ALL ORDER BY count(DISTINCT facility_id) DESC, 1, 2 LIMIT 1",
            [code, state],
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0], row[1]


def expected_plan_prices(wh: Warehouse, code: str, state: str, payer: str, plan: str) -> list:
    """(hospital, median negotiated $ per service: no unit, not per day) straight from the
    warehouse, cheapest first."""
    con = reader(wh)
    try:
        return con.execute(
            "SELECT l.hospital_name, p.median_dollar FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) "
            "WHERE p.code = ? AND l.state = ? AND p.payer = ? AND p.plan_type = ? "
            "AND p.price_unit IS NULL AND p.median_dollar IS NOT NULL ORDER BY p.median_dollar",
            [code, state, payer, plan],
        ).fetchall()
    finally:
        con.close()


def money(value: float) -> str:
    return f"${value:,.2f}"


def test_app_navigation_runs_every_page(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_DB", str(demo_wh.db_path))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "Find a price"
    assert "5 hospitals" in at.sidebar.caption[0].value
    for name in ALL_PAGES[1:]:
        at.switch_page(f"views/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])


def test_find_price_search_state_and_plan(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", demo_wh, monkeypatch)
    assert "Type what you need" in texts(at, "info")[0]
    at.text_input(key="fp.q").input("knee mri").run()
    assert at.selectbox(key="fp.code").value == "CPT:73721"
    assert "Lowest cash price" in texts(at, "success")[0]
    cash = [v for v in at.table[0].value["Cash price"] if v != "—"]
    amounts = [float(v.strip("$").replace(",", "")) for v in cash]
    assert amounts == sorted(amounts), "paying cash ranks by the cash price"

    payer, plan = best_plan(demo_wh, "73721", "CA")
    at.selectbox(key="fp.state").select("CA").run()
    at.selectbox(key="fp.payer").select(payer).run()
    at.selectbox(key="fp.plan").select(plan).run()
    table = at.table[0].value
    expected = expected_plan_prices(demo_wh, "73721", "CA", payer, plan)
    assert names(table["Hospital"]) == [name for name, _ in expected]
    assert list(table["Your plan's price"]) == [money(v) for _, v in expected]
    assert set(table["State"]) == {"CA"}
    assert f"Lowest {payer} price" in texts(at, "success")[0]
    assert money(expected[0][1]) in texts(at, "success")[0]
    assert dict(at.query_params) == {
        "q": "knee mri", "code": "CPT:73721", "state": "CA", "payer": payer, "plan": plan,
    }  # fmt: skip


def test_find_price_shared_link_restores_the_view(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer, plan = best_plan(demo_wh, "73721", "CA")
    at = run(
        "find_price", demo_wh, monkeypatch,
        q="knee mri", code="CPT:73721", state="CA", payer=payer, plan=plan,
    )  # fmt: skip
    expected = expected_plan_prices(demo_wh, "73721", "CA", payer, plan)
    assert list(at.table[0].value["Your plan's price"]) == [money(v) for _, v in expected]
    assert at.radio(key="fp.pay").value == "insurance"


def test_find_price_zip_distance_and_radius(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", pay="cash", zip="93721")
    table = at.table[0].value
    miles = dict(zip(names(table["Hospital"]), table["Miles"], strict=True))
    assert "0" in miles.values()  # the hospital in the patient's own ZIP
    at.selectbox(key="fp.miles").select(250).run()
    near = at.table[0].value
    assert len(near) == 3  # the three Californian hospitals; Texas and New York are far
    at.text_input(key="fp.zip").input("00000").run()
    assert any("ZIP code “00000” was not found" in w for w in texts(at, "warning"))
    assert "Miles" not in at.table[0].value.columns


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"code": "CPT:00000"}, "No hospital in this warehouse publishes a price for CPT:00000"),
        ({"q": "zzzz qqqq"}, "No service matches “zzzz qqqq”"),
        ({"code": "CPT:73721", "payer": "Nowhere Health Plan"}, "publishes a Nowhere Health"),
        ({"code": "MS-DRG:470", "state": "NY", "setting": "x"}, None),
    ],
)
def test_find_price_bad_input_is_a_message(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch, params: dict, message: str | None
) -> None:
    at = run("find_price", demo_wh, monkeypatch, **params)
    if message:
        assert any(message in w for w in texts(at, "warning")), texts(at, "warning")


def test_compare_filters_spread_and_download(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("compare", demo_wh, monkeypatch, code=["CPT:73721", "CPT:70551"])
    spread = at.dataframe[0].value
    con = reader(demo_wh)
    try:
        groups = con.execute(
            "SELECT count(DISTINCT (code, setting, price_unit)) FROM price_compare "
            "WHERE code IN ('73721', '70551') AND code_type = 'CPT' AND rates > 0"
        ).fetchone()
        medians = con.execute(
            "SELECT max(m) / min(m) FROM (SELECT facility_id, median(median_dollar) AS m "
            "FROM price_compare WHERE code = '73721' AND code_type = 'CPT' AND rates > 0 "
            "AND price_unit IS NULL GROUP BY facility_id)"
        ).fetchone()
    finally:
        con.close()
    # One row per service, setting and unit: per-day rates are a spread of their own.
    assert groups is not None and medians is not None
    assert len(spread) == groups[0]
    knee = spread[spread["service"].str.contains("73721") & spread["price_unit"].isna()]
    assert knee["spread_ratio"].iloc[0] == pytest.approx(round(medians[0], 2))
    shown = at.dataframe[1].value
    assert set(shown["code"]) == {"73721", "70551"}
    at.multiselect(key="cmp.payer").select("Aetna").run()
    narrowed = at.dataframe[1].value
    assert set(narrowed["payer"]) == {"Aetna"} and len(narrowed) < len(shown)
    assert at.query_params["payer"] == "Aetna"
    csv = at.get("download_button")[0]
    assert csv.proto.label == "Download CSV"


def test_compare_unknown_code_and_empty_choice(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("compare", demo_wh, monkeypatch)
    assert "Choose one or more services" in texts(at, "info")[0]
    at = run("compare", demo_wh, monkeypatch, code=["CPT:00000"])
    assert any("No comparable prices" in w for w in texts(at, "warning"))


def test_facility_profile_and_unknown_id(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("facility", demo_wh, monkeypatch, id="tx-10111")
    assert at.selectbox(key="fac.facility").value == "tx-10111"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Services priced"] != "0"
    assert any("Coverage" in h.value for h in at.subheader)
    assert any("How the compliance score is made up" in c.value for c in at.caption)
    assert metrics["Compliance score"] not in ("", "not available yet")
    at.selectbox(key="fac.facility").select("ny-10148").run()
    assert "ny-10148" in texts(at, "caption")[0]  # the file line names the chosen facility
    assert at.query_params["facility"] == "ny-10148"
    at = run("facility", demo_wh, monkeypatch, id="no-such-place")
    assert any("No facility “no-such-place”" in w for w in texts(at, "warning"))


def test_map_places_every_hospital(demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run("map", demo_wh, monkeypatch, code="CPT:73721")
    table = at.dataframe[0].value
    assert len(table) == 5
    assert table["price"].notna().all()
    assert list(table["price"]) == sorted(table["price"])
    at.selectbox(key="map.state").select("TX").run()
    assert list(at.dataframe[0].value["state"]) == ["TX"]


def test_map_links_and_prices_in_words(demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run("map", demo_wh, monkeypatch, code="CPT:73721", state="CA")
    [caption] = [c.value for c in at.caption if "cheapest" in c.value]
    # Two `$` amounts in one caption, escaped: not rendered as LaTeX between them.
    assert caption.count("\\$") == 2 and re.search(r"(?<!\\)\$", caption) is None
    links = " ".join(m.value for m in at.markdown)
    assert "(./?code=CPT%3A73721&state=CA)" in links
    assert "(./compare?code=CPT%3A73721&state=CA)" in links
    table = at.dataframe[0].value
    assert list(table["page"]) == [f"./facility?facility={f}" for f in table_ids(demo_wh, table)]


def table_ids(wh: Warehouse, table: Any) -> list[str]:
    """The facility ids of a table's hospitals, by name (the map table shows names)."""
    con = reader(wh)
    try:
        sql = "SELECT hospital_name, facility_id FROM facility_locations"
        ids = dict(con.execute(sql).fetchall())
    finally:
        con.close()
    return [ids[n] for n in table["hospital_name"]]


def test_compare_and_facility_link_to_the_other_pages(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("compare", demo_wh, monkeypatch, code="CPT:73721")
    [rows] = [d.value for d in at.dataframe if "facility_page" in d.value.columns]
    assert set(rows["facility_page"]) == {f"./facility?facility={f}" for f in rows["facility_id"]}
    assert {p.split("&")[0] for p in rows["price_page"]} == {"./?code=CPT%3A73721"}
    at = run("facility", demo_wh, monkeypatch, facility="tx-10111")
    [pos] = [d.value for d in at.dataframe if "compare_page" in d.value.columns]
    keys = [f"{t}%3A{c}" for t, c in zip(pos["code_type"], pos["code"], strict=True)]
    assert list(pos["compare_page"]) == [f"./compare?code={k}" for k in keys]
    assert list(pos["price_page"]) == [f"./?code={k}" for k in keys]


@pytest.mark.parametrize("q", ["73721", "knee MRI", "knee scan"])
def test_find_price_shared_link_with_words_and_code_warns_nothing(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch, q: str
) -> None:
    at = run("find_price", demo_wh, monkeypatch, q=q, code="CPT:73721")
    assert not [w for w in texts(at, "warning") if "No service matches" in w]
    assert at.selectbox(key="fp.code").value == "CPT:73721"
    at = run("find_price", demo_wh, monkeypatch, q="zebra crossing")
    assert any("No service matches “zebra crossing”" in w for w in texts(at, "warning"))


@pytest.mark.parametrize(
    ("q", "code"), [("knee scan", "CPT:73721"), ("colonoscopy", "CPT:45378"),
                    ("colonoscpy", "CPT:45378"), ("DRG 470", "MS-DRG:470")],
)  # fmt: skip
def test_find_price_typing_words_chooses_the_service(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch, q: str, code: str
) -> None:
    at = run("find_price", demo_wh, monkeypatch)
    at.text_input(key="fp.q").input(q).run()
    assert not at.exception
    assert at.selectbox(key="fp.code").value == code
    assert at.query_params["code"] == [code] or at.query_params["code"] == code


def test_quality_views(demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run("quality", demo_wh, monkeypatch)
    runs = at.dataframe[0].value
    outcomes = dict(zip(runs["facility_id"], runs["outcome"], strict=True))
    assert outcomes["ca-broken"] == "failed"
    assert outcomes["ca-10037"] == "held"
    assert outcomes["tx-10111"] == "loaded"  # a local file: nothing was downloaded
    at.multiselect(key="dq.outcome").select("failed").run()
    assert set(at.dataframe[0].value["outcome"]) == {"failed"}
    at.radio(key="dq.view").set_value("checks").run()
    assert not at.exception and at.dataframe, "quality checks listed"
    at.radio(key="dq.view").set_value("rules").run()
    assert not at.exception
    assert any("Compliance by facility" in h.value for h in at.subheader)
    scores = at.dataframe[0].value
    assert set(scores["facility_id"]) >= {"ca-10037", "tx-10111"}


def test_quality_shows_the_share_of_payer_rates_mapped(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = "Saint [Mary](http://x) *Clinic*"  # a hospital name is text, never Markdown
    load_facility(wh, "tx-a", [rate("99213", "Acme Helth", "PPO", 100.0),
                               rate("99213", "Aetna", "PPO", 110.0)], name=odd)  # fmt: skip
    load_facility(wh, "tx-b", [rate("99213", "Cigna", "OAP", 120.0)])
    publish(wh)
    at = run("quality", wh, monkeypatch, view="payers")
    shares = at.dataframe[0].value
    assert list(shares["facility_id"]) == ["tx-a", "tx-b"]  # lowest share first
    assert list(shares["share_payer_mapped"]) == [0.5, 1.0]
    assert list(shares["unmapped_rates"]) == [1, 0]
    assert [m.value for m in at.metric] == ["3", "66.7%", "1"]
    [caption] = [c.value for c in at.caption if "Lowest" in c.value]
    assert "\\[Mary\\]" in caption and "\\*Clinic\\*" in caption  # escaped, by ui.plain
    assert "hpt payers unmapped" in caption
    assert texts(at, "caption")[0].startswith(f"Lowest: {odd}, 50.0% of 2 payer rates")


@pytest.mark.parametrize("name", ALL_PAGES)
def test_first_run_without_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    at = run(name, Warehouse.at(tmp_path / "none" / "hpt.duckdb"), monkeypatch)
    assert any("No published warehouse" in i for i in texts(at, "info"))


@pytest.fixture(scope="module")
def odd_warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Warehouse]:
    root = tmp_path_factory.mktemp("odd")
    return {
        "empty": demo_warehouse.empty_published(root),
        "rebuilding": demo_warehouse.without_marts(root),
    }


@pytest.mark.parametrize("kind", ["empty", "rebuilding"])
@pytest.mark.parametrize("name", ALL_PAGES)
def test_empty_or_rebuilding_warehouse(
    odd_warehouses: dict[str, Warehouse], monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    at = run(name, odd_warehouses[kind], monkeypatch, code="CPT:73721")
    messages = texts(at, "info") + texts(at, "warning") + texts(at, "success")
    assert messages, "the page says something"
    assert not texts(at, "error")


def test_find_price_explains_estimates_on_request(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = reader(demo_wh)
    try:
        estimated = dict(
            con.execute(
                "SELECT l.hospital_name, count(*) FROM comparable_charge_codes c "
                "JOIN facility_locations l USING (facility_id) WHERE c.code = '73721' "
                "AND c.exclusion_reason IS NULL "
                "AND c.price_basis IN ('derived_from_percentage', 'median_allowed') GROUP BY 1"
            ).fetchall()
        )
    finally:
        con.close()
    assert estimated, "the demo hospitals publish some percentage-based rates"
    at = run("find_price", demo_wh, monkeypatch, code="CPT:73721", pay="cash")
    assert not any("estimated" in n for n in at.table[0].value["Notes"])
    at.toggle(key="fp.why").set_value(True).run()
    table = at.table[0].value
    notes = dict(zip(names(table["Hospital"]), table["Notes"], strict=True))
    for hospital, note in notes.items():
        count = estimated.get(hospital, 0)
        assert (f"{count} estimated rate(s)" in note) == (count > 0), (hospital, note)
    assert at.query_params["why"] == "1"


def test_find_price_bare_code_from_a_link(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", demo_wh, monkeypatch, code="73721", pay="cash")
    assert "MRI of knee joint" in texts(at, "success")[0]


@pytest.mark.parametrize(("page", "key", "param"), [
    ("find_price", "fp.code", "code"), ("map", "map.code", "code"),
])  # fmt: skip
def test_a_link_with_the_other_spelling_lands_on_the_service(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch, page: str, key: str, param: str
) -> None:
    """A CPT code typed HCPCS (as some hospitals publish it) is the same service."""
    at = run(page, demo_wh, monkeypatch, **{param: "HCPCS:73721"})
    assert at.selectbox(key=key).value == "CPT:73721"
    assert at.query_params[param] == "CPT:73721"


def test_compare_takes_either_spelling(demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run("compare", demo_wh, monkeypatch, code=["HCPCS:73721", "CPT:73721"])
    assert at.multiselect(key="cmp.code").value == ["CPT:73721"]
    shown = at.dataframe[1].value
    assert set(shown["code_type"]) == {"CPT"} and set(shown["published_code_type"]) == {"CPT"}


def test_links_with_older_names_and_repeated_values(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old link's `codes=`/`payers=` still selects; a parameter repeated 930 times, or a
    huge value, is cut to `ui.URL_MAX_VALUES` values of `ui.URL_MAX_LENGTH` characters."""
    at = run("compare", demo_wh, monkeypatch, codes=["CPT:73721"], payers=["Aetna"])
    assert at.multiselect(key="cmp.code").value == ["CPT:73721"]
    assert set(at.dataframe[1].value["payer"]) == {"Aetna"}
    assert at.query_params.get("code") == "CPT:73721"  # rewritten under the current name

    con = reader(demo_wh)
    try:
        priced = [f"{t}:{c}" for t, c in con.execute(
            "SELECT code_type, code FROM code_catalog ORDER BY facilities DESC, code LIMIT 30"
        ).fetchall()]  # fmt: skip
    finally:
        con.close()
    assert len(priced) == 30
    # (Streamlit itself ignores a query string of more than 1,000 parameters.)
    flood = priced + [f"CPT:{n:05d}" for n in range(900)]
    at = run("compare", demo_wh, monkeypatch, code=flood)
    assert at.session_state["cmp.code"] == priced[: ui.URL_MAX_VALUES]
    at = run("find_price", demo_wh, monkeypatch, q="x" * 100_000)
    assert len(at.text_input(key="fp.q").value) == ui.URL_MAX_LENGTH


def test_find_price_before_a_search_lists_common_services(
    demo_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run("find_price", demo_wh, monkeypatch)
    assert "Common services: the same care, very different prices" in [
        s.value for s in at.subheader
    ]
    shown = at.table[0].value
    assert 0 < len(shown) <= 8
    with reader(demo_wh) as con:
        expected = reads.common_prices(con.cursor())
        first = expected.row(0, named=True)
        spread = con.execute(
            "SELECT facilities, p10_dollar, p90_dollar FROM code_summary WHERE code_type = ? "
            "AND code = ? AND state = 'ALL' AND price_unit IS NULL "
            "ORDER BY facilities DESC, setting LIMIT 1",
            [first["code_type"], first["code"]],
        ).fetchall()[0]
        curated = con.execute("SELECT max(facilities) FROM code_catalog WHERE curated").fetchall()[
            0
        ][0]
    assert list(shown["Hospitals"]) == [f"{n:,}" for n in expected["facilities"]]
    assert expected["facilities"].is_sorted(descending=True)
    row = shown.iloc[0]
    assert row["Hospitals"] == f"{spread[0]:,}" and spread[0] == curated
    assert row["Typical insured price, 10th–90th percentile of hospitals"] == ui.plain(
        f"${spread[1]:,.2f}–${spread[2]:,.2f}"
    )  # `$` escaped: two of them in a cell are not LaTeX
    # Each service links to its prices: the link lands on that service, no warning.
    link = re.search(r"\]\(\./\?(.*)\)$", row["Service"])
    assert link is not None
    params = dict(parse_qsl(link.group(1)))
    key = ui.code_key(first["code_type"], first["code"])
    assert params["code"] == key
    at = run("find_price", demo_wh, monkeypatch, **params)
    assert at.selectbox(key="fp.code").value == key
    assert not [w for w in texts(at, "warning") if "No service matches" in w]
    assert any(s.startswith("Lowest") for s in texts(at, "success"))
