"""Find a price: what hospitals charge for a service, for your insurance or paying cash."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import streamlit as st

from dashboard import geo, reads, ui
from dashboard.snapshot import Snapshot, snapshot
from warehouse.queries import compare, search_codes

P = "fp"
DEFAULTS: dict[str, Any] = {
    "q": "",
    "code": "",
    "state": "",
    "zip": "",
    "miles": 0,
    "pay": "insurance",
    "payer": "",
    "plan": "",
    "setting": "",
    "why": False,
}
RADII = [0, 10, 25, 50, 100, 250]
#: Rows of the ranked table at most: the browser draws each cell as Markdown, and 500
#: hospitals (a service priced everywhere, all states) took it ~3 s.
TABLE_ROWS = 50


def _first_match() -> None:
    """A new search selects its best match (the user may pick another one)."""
    text = st.session_state.get(f"{P}.q", "")
    found = snapshot().lookup(search_codes, text, limit=1) if text.strip() else None
    st.session_state[f"{P}.code"] = (
        ui.code_key(found["code_type"][0], found["code"][0])
        if found is not None and found.height
        else ""
    )


def _service(snap: Snapshot) -> str:
    """The search box and the service chosen among its suggestions ('' when none)."""
    text = st.text_input(
        "What do you need?",
        key=f"{P}.q",
        placeholder="knee MRI, colonoscopy, 99213 …",
        on_change=_first_match,
    )
    chosen = ui.value(P, "code") or ""
    options = ui.code_options(snap, text, [chosen] if chosen else [])
    if text.strip() and not set(options) - {chosen}:  # nothing found besides the kept choice
        st.warning(
            f"No service matches “{ui.plain(text)}”. Try fewer words, or a CPT, HCPCS or DRG code."
        )
    if chosen and chosen not in options:
        st.session_state[f"{P}.code"] = ""
    keys = list(options)
    st.selectbox(
        "Service",
        keys,
        index=None,
        key=f"{P}.code",
        format_func=lambda k: options.get(k, k),
        placeholder="Choose a service",
    )
    return ui.value(P, "code") or ""


def _where(snap: Snapshot) -> tuple[str | None, tuple[float, float] | None, int]:
    states = snap.lookup(reads.states)
    if ui.value(P, "state") not in ["", *states]:
        st.session_state[f"{P}.state"] = ""
    left, mid, right = st.columns(3)
    left.selectbox(
        "State",
        ["", *states],
        key=f"{P}.state",
        format_func=lambda s: s or "All states",
    )
    zip_text = mid.text_input("Your ZIP code", key=f"{P}.zip", max_chars=10, placeholder="93721")
    if ui.value(P, "miles") not in RADII:
        st.session_state[f"{P}.miles"] = 0
    right.selectbox(
        "Within",
        RADII,
        key=f"{P}.miles",
        format_func=lambda m: f"{m} miles" if m else "Any distance",
    )
    point = None
    if zip_text.strip():
        point = geo.zip_point(zip_text)
        if point is None:
            st.warning(f"ZIP code “{ui.plain(zip_text)}” was not found: distances are not shown.")
    return (ui.value(P, "state") or None), point, int(ui.value(P, "miles") or 0)


def _payment(snap: Snapshot) -> tuple[str | None, str | None]:
    st.radio(
        "How will you pay?",
        ["insurance", "cash"],
        key=f"{P}.pay",
        horizontal=True,
        format_func=lambda p: "With insurance" if p == "insurance" else "Paying cash",
    )
    if ui.value(P, "pay") == "cash":
        return None, None
    plans = snap.lookup(reads.payer_plans)
    payers = plans["payer"].unique().sort().to_list()
    chosen = ui.value(P, "payer") or ""
    if chosen and chosen not in payers:
        payers.append(chosen)  # from a shared link: kept, so the page can say it is absent
    left, right = st.columns(2)
    left.selectbox(
        "Insurer",
        ["", *payers],
        key=f"{P}.payer",
        format_func=lambda p: p or "Choose your insurer",
    )
    payer = ui.value(P, "payer") or None
    types = plans.filter(pl.col("payer").eq_missing(payer))["plan_type"].drop_nulls().to_list()
    if ui.value(P, "plan") not in ["", *types]:
        st.session_state[f"{P}.plan"] = ""
    right.selectbox(
        "Plan type",
        ["", *types],
        key=f"{P}.plan",
        format_func=lambda t: ui.plan_label(t) if t else "Any plan type",
        disabled=payer is None,
    )
    return payer, (ui.value(P, "plan") or None)


def _plan_prices(
    snap: Snapshot, code: str, setting: str, unit: str | None, state: str | None, payer: str,
    plan: str | None,
) -> pl.DataFrame:  # fmt: skip
    """Per facility, the payer's negotiated price: the median over the matching plans."""
    rows = snap.read(compare, code, setting=setting, state=state, payer=payer, plan_type=plan)
    rows = rows.filter(pl.col("price_unit").eq_missing(unit))
    return rows.group_by("facility_id").agg(
        pl.col("median_dollar").median().alias("plan_price"),
        pl.col("min_dollar").min().alias("plan_low"),
        pl.col("max_dollar").max().alias("plan_high"),
        pl.col("plan_type").drop_nulls().unique().sort().str.join(", ").alias("plan_types"),
        pl.col("rates").sum().alias("plan_rates"),
        pl.col("comparable_rates").sum().alias("plan_comparable"),
    )


def _mart_notes(base: pl.DataFrame, mode: str) -> dict[str, str]:
    """From the marts (cheap): how many of the hospital's rates were left out."""
    rates, kept = (
        ("plan_rates", "plan_comparable") if mode == "plan" else ("rates", "comparable_rates")
    )
    notes = {}
    for r in base.select("facility_id", rates, kept).iter_rows():
        facility, total, comparable = r[0], r[1] or 0, r[2] or 0
        if total and comparable < total:
            notes[facility] = f"{total - comparable} of {total} rates excluded"
    return notes


def _notes(snap: Snapshot, code: str, ids: list[str], payer: str | None) -> dict[str, str]:
    """From the rates themselves (reads the charge files: only on request): estimated rates
    and the reasons for exclusions."""
    code_type, bare = ui.split_key(code)
    notes = {}
    for r in snap.read(reads.rate_notes, code_type, bare, ids, payer).iter_rows(named=True):
        parts = []
        if r["estimated_rates"]:
            parts.append(f"{r['estimated_rates']} estimated rate(s)")
        if r["excluded_rates"]:
            parts.append(f"{r['excluded_rates']} excluded ({r['exclusion_reasons']})")
        notes[r["facility_id"]] = "; ".join(parts)
    return notes


def _distances(con: duckdb.DuckDBPyConnection, point: tuple[float, float]) -> dict[str, float]:
    """Miles from `point` to each facility (read through `Snapshot.lookup`)."""
    out = {}
    for r in reads.facilities(con).iter_rows(named=True):
        where = geo.zip_point(r["zip"])
        if where is not None:
            out[r["facility_id"]] = round(geo.miles(point, where), 1)
    return out


def _results(
    snap: Snapshot, code: str, state: str | None, point: Any, radius: int, payer: str | None,
    plan: str | None,
) -> None:  # fmt: skip
    code_type, bare = ui.split_key(code)
    base = snap.read(reads.facility_prices, code_type, bare, state)
    name = ui.code_label(snap, code)
    if base.is_empty():
        where = f" in {ui.plain(state)}" if state else ""
        if snap.lookup(reads.code_entry, code_type, bare).is_empty():
            st.warning(f"No hospital in this warehouse publishes a price for {ui.plain(code)}.")
        else:
            st.warning(
                f"No hospital{where} publishes a price for {ui.plain(name)}. Try all states."
            )
        return
    settings = base["setting"].drop_nulls().unique().sort().to_list()
    if len(settings) > 1:
        if ui.value(P, "setting") not in settings:
            st.session_state[f"{P}.setting"] = settings[0]
        st.radio("Setting", settings, key=f"{P}.setting", horizontal=True)
    setting = ui.value(P, "setting") if len(settings) > 1 else (settings or [None])[0]
    base = base.filter(pl.col("setting").eq_missing(setting))
    unit = base["price_unit"].mode().sort(nulls_last=True)[0] if base.height else None
    base = base.filter(pl.col("price_unit").eq_missing(unit))
    mode = "cash"
    if payer:
        prices = _plan_prices(snap, code, setting or "", unit, state, payer, plan)
        if prices.is_empty():
            label = ui.plain(payer + (f" ({ui.plan_label(plan)})" if plan else ""))
            where = f" in {ui.plain(state)}" if state else ""
            st.warning(
                f"No hospital{where} publishes a {label} rate for this service. Cash prices "
                "and gross charges are shown instead."
            )
        else:
            mode = "plan"
            base = base.join(prices, on="facility_id", how="left")
    table = _ranked(snap, base, mode, code, payer, point, radius)
    if table is None:
        return
    _show(table, mode, name, unit, payer)


def _ranked(
    snap: Snapshot, base: pl.DataFrame, mode: str, code: str, payer: str | None, point: Any,
    radius: int,
) -> pl.DataFrame | None:  # fmt: skip
    distance = snap.lookup(_distances, point) if point else {}
    if distance:
        base = base.with_columns(
            pl.col("facility_id").replace_strict(distance, default=None).alias("miles")
        )
        if radius:
            base = base.filter(pl.col("miles") <= radius)
            if base.is_empty():
                st.warning(f"No hospital within {radius} miles prices this service.")
                return None
    else:
        base = base.with_columns(pl.lit(None, pl.Float64).alias("miles"))
    key = "plan_price" if mode == "plan" else "discounted_cash"
    base = base.sort([key, "median_dollar", "facility_id"], nulls_last=True)
    if ui.value(P, "why"):
        notes = _notes(snap, code, base["facility_id"].to_list(), payer if mode == "plan" else None)
    else:
        notes = _mart_notes(base, mode)
    return base.with_columns(
        pl.int_range(1, pl.len() + 1).alias("rank"),
        pl.col("facility_id").replace_strict(notes, default="").alias("notes"),
    )


def _show(table: pl.DataFrame, mode: str, name: str, unit: str | None, payer: str | None) -> None:
    # Names, units and notes come from the hospitals' files: Markdown-escaped (`ui.plain`)
    # wherever Streamlit renders Markdown, here the message and the table (not the chart).
    per = f" per {unit}" if unit else ""
    per_md = f" per {ui.plain(unit)}" if unit else ""
    key = "plan_price" if mode == "plan" else "discounted_cash"
    best = table.filter(pl.col(key).is_not_null()).head(1)
    if best.height:
        b = best.row(0, named=True)
        what = f"{ui.plain(payer)} price" if mode == "plan" else "cash price"
        near = f" ({b['miles']:,.0f} miles away)" if b["miles"] is not None else ""
        st.success(
            f"Lowest {what} for **{ui.plain(name)}**: **{ui.money(b[key])}{per_md}** at "
            f"{ui.plain(b['hospital_name'])}, {ui.plain(b['state'] or '')}{near}."
        )
    elif mode == "cash":
        st.info("None of these hospitals publishes a cash price for this service.")
    # The prices first: on a phone the table scrolls sideways and they stay in view.
    columns: dict[str, Any] = {"Rank": table["rank"], "Hospital": _plain(table["hospital_name"])}
    if mode == "plan":
        columns[f"Your plan's price{per_md}"] = _money(table["plan_price"])
    columns[f"Cash price{per_md}"] = _money(table["discounted_cash"])
    columns[f"Gross charge{per_md}"] = _money(table["gross_charge"])
    if table["miles"].is_not_null().any():
        columns["Miles"] = ui.mapped(table["miles"], lambda m: f"{m:,.0f}")
    columns["State"] = _plain(table["state"])
    columns[f"Typical insured price{per_md}"] = _money(table["median_dollar"])
    if mode == "plan":
        columns["Plan types"] = _plain(ui.mapped(table["plan_types"], ui.plan_labels))
    columns["Notes"] = _plain(table["notes"])
    shown = pl.DataFrame(columns)
    ui.chart(*_chart(table, mode, per), height=160 + 34 * min(table.height, 25))
    if table.height > TABLE_ROWS:
        st.caption(
            f"The table below lists the {TABLE_ROWS} lowest of {table.height} hospitals, "
            "ranked: choose a state or a distance to narrow them down."
        )
    else:
        st.caption("The table below lists the same prices, ranked.")
    st.table(shown.head(TABLE_ROWS), hide_index=True)
    st.toggle(
        "Explain estimated and excluded rates in the notes",
        key=f"{P}.why",
        help="Reads each hospital's rates for this service to say which are estimates "
        "and why some were left out (slower on a large warehouse).",
    )
    with st.expander("What these prices mean"):
        for kind in ("negotiated", "cash", "gross", "typical"):
            st.markdown(f"- {ui.PRICE_HELP[kind]}")
        st.markdown(ui.ESTIMATE_HELP)


def _money(column: pl.Series) -> pl.Series:
    return ui.mapped(column, ui.money, skip_nulls=False)


def _plain(column: pl.Series) -> pl.Series:
    """A text column for `st.table` (its cells are Markdown), shown literally."""
    return ui.mapped(column, ui.plain)


def _chart(table: pl.DataFrame, mode: str, per: str) -> tuple[pl.DataFrame, ui.Spec]:
    kinds = {"discounted_cash": "Cash price", "gross_charge": "Gross charge"}
    if mode == "plan":
        kinds = {"plan_price": "Your plan's price", **kinds}
    long = (
        table.head(25)
        .select("rank", "hospital_name", *kinds)
        .unpivot(index=["rank", "hospital_name"], variable_name="kind", value_name="price")
        .with_columns(pl.col("kind").replace_strict(kinds))
        .drop_nulls("price")
    )
    order = table.head(25)["hospital_name"].to_list()
    return long, {
        "mark": {"type": "circle", "size": 120},
        "encoding": {
            "x": ui.quantitative("price", title=f"Price{per} (US$)", axis={"format": "$,.0f"}),
            "y": ui.nominal("hospital_name", sort=order, title=None, axis={"labelLimit": 150}),
            # Below the plot, so a phone-width chart keeps its width for the prices.
            "color": ui.nominal(
                "kind", title=None, legend={"orient": "bottom", "direction": "vertical"}
            ),
            "tooltip": [
                ui.nominal("hospital_name"), ui.nominal("kind"),
                ui.quantitative("price", format="$,.2f"),
            ],
        },
    }  # fmt: skip


@ui.page
def main() -> None:
    st.title("Find a price")
    st.caption(
        "Search a service, say where you are and how you pay: hospitals are ranked from "
        "the lowest price."
    )
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    ui.canonical_keys(snap, P, "code")
    code = _service(snap)
    state, point, radius = _where(snap)
    payer, plan = _payment(snap)
    try:
        if not code:
            st.info("Type what you need above — for example “knee MRI” — and choose a service.")
            return
        _results(snap, code, state, point, radius, payer, plan)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
