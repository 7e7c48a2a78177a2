"""Compare: one or more services across facilities and payers, for analysts."""

from __future__ import annotations

import io
from typing import Any

import polars as pl
import streamlit as st

from dashboard import reads, ui
from dashboard.snapshot import Snapshot, snapshot
from warehouse.queries import compare, payer_matrix

P = "cmp"
DEFAULTS: dict[str, Any] = {
    "q": "",
    "code": [],
    "state": "",
    "payer": [],
    "plan": [],
    "facility": [],
    "heat": "",
}
SHOWN = [
    "service", "code_type", "code", "published_code_type", "setting", "price_unit",
    "facility_id", "hospital_name", "state", "payer", "plan_type", "rates", "comparable_rates",
    "min_dollar", "median_dollar", "max_dollar", "gross_charge", "discounted_cash",
]  # fmt: skip
MONEY = {
    "min_dollar": ui.money_column("Lowest rate"),
    "median_dollar": ui.money_column("Median rate"),
    "max_dollar": ui.money_column("Highest rate"),
    "gross_charge": ui.money_column("Gross charge", "gross"),
    "discounted_cash": ui.money_column("Cash price", "cash"),
}

LINKED = {
    **MONEY,
    "facility_page": st.column_config.LinkColumn("Facility page", display_text="Open"),
    "price_page": st.column_config.LinkColumn("Find a price", display_text="Open"),
}


def _linked(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows with links to each hospital's Facility page and to the service on Find a
    price (the downloads leave them out)."""
    pairs = rows.select("facility_id", "code_type", "code", "state").rows()
    return rows.with_columns(
        pl.Series("facility_page", [ui.link("facility", facility=f) for f, *_ in pairs]),
        pl.Series("price_page", [ui.link("", code=ui.code_key(t, c), state=s)
                                 for _, t, c, s in pairs]),
    ).select("service", "hospital_name", "facility_page", "price_page",
             *[c for c in SHOWN if c not in ("service", "hospital_name")])  # fmt: skip


def _codes(snap: Snapshot) -> list[str]:
    text = st.text_input("Find services", key=f"{P}.q", placeholder="MRI, 73721, DRG 470 …")
    chosen = [c for c in ui.value(P, "code") or [] if c]
    options = ui.code_options(snap, text, chosen)
    st.session_state[f"{P}.code"] = [c for c in chosen if c in options]
    st.multiselect(
        "Services to compare",
        list(options),
        key=f"{P}.code",
        format_func=lambda k: options.get(k, k),
        placeholder="Choose one or more services",
    )
    return list(ui.value(P, "code") or [])


def _rows(snap: Snapshot, codes: list[str], state: str | None) -> pl.DataFrame:
    names = ui.code_labels(snap, codes)
    frames = [
        snap.read(compare, code, state=state).with_columns(pl.lit(names[code]).alias("service"))
        for code in codes
    ]
    frames = [f for f in frames if f.height]
    return pl.concat(frames).select(SHOWN) if frames else pl.DataFrame()


def _multi(label: str, name: str, options: list[str], fmt: Any = str) -> list[str]:
    chosen = [v for v in ui.value(P, name) or [] if v in options]
    st.session_state[f"{P}.{name}"] = chosen
    st.multiselect(label, options, key=f"{P}.{name}", format_func=fmt, placeholder="All")
    return chosen


def _filters(rows: pl.DataFrame) -> pl.DataFrame:
    left, mid, right = st.columns(3)
    with left:
        payers = _multi("Payers", "payer", rows["payer"].drop_nulls().unique().sort().to_list())
    with mid:
        plans = _multi(
            "Plan types", "plan", rows["plan_type"].drop_nulls().unique().sort().to_list(),
            ui.plan_label,
        )  # fmt: skip
    ids = rows.select("facility_id", "hospital_name").unique().sort("hospital_name")
    names = dict(ids.iter_rows())
    with right:
        facilities = _multi(
            "Facilities", "facility", ids["facility_id"].to_list(),
            lambda f: f"{names.get(f) or f} ({f})",
        )  # fmt: skip
    if payers:
        rows = rows.filter(pl.col("payer").is_in(payers))
    if plans:
        rows = rows.filter(pl.col("plan_type").is_in(plans))
    if facilities:
        rows = rows.filter(pl.col("facility_id").is_in(facilities))
    return rows


def _spread(rows: pl.DataFrame) -> pl.DataFrame:
    """Per service: facilities, their median prices and the spread ratio (highest ÷ lowest
    facility median) — of the rows shown."""
    per_facility = rows.group_by("service", "setting", "price_unit", "facility_id").agg(
        pl.col("median_dollar").median()
    )
    return (
        per_facility.group_by("service", "setting", "price_unit")
        .agg(
            pl.len().alias("facilities"),
            pl.col("median_dollar").min().alias("lowest_facility"),
            pl.col("median_dollar").median().alias("median_facility"),
            pl.col("median_dollar").max().alias("highest_facility"),
        )
        .with_columns(
            (pl.col("highest_facility") / pl.col("lowest_facility")).round(2).alias("spread_ratio")
        )
        .select(
            "service",
            "facilities",
            "spread_ratio",
            "lowest_facility",
            "median_facility",
            "highest_facility",
            "setting",
            "price_unit",
        )
        .sort("service")
    )


def _distribution(rows: pl.DataFrame) -> tuple[pl.DataFrame, ui.Spec]:
    """A box per service, with each facility's rates as jittered dots over it."""
    position = {
        "x": ui.quantitative("median_dollar", title="Median rate (US$)",
                             axis={"format": "$,.0f"}),
        "y": ui.nominal("service", title=None, axis={"labelLimit": 260}),
    }  # fmt: skip
    box = {"mark": {"type": "boxplot", "extent": "min-max", "opacity": 0.35, "size": 28},
           "encoding": position}  # fmt: skip
    strip = {
        "mark": {"type": "circle", "opacity": 0.8, "size": 40},
        "encoding": {
            **position,
            "color": ui.nominal("hospital_name", title="Facility"),
            "yOffset": ui.quantitative("jitter"),
            "tooltip": [
                ui.nominal("hospital_name"), ui.nominal("payer"), ui.nominal("plan_type"),
                ui.quantitative("median_dollar", format="$,.2f"),
            ],
        },
        "transform": [{"calculate": "random()", "as": "jitter"}],
    }  # fmt: skip
    return rows.drop_nulls("median_dollar"), {"layer": [box, strip]}


def _heatmap(snap: Snapshot, rows: pl.DataFrame, codes: list[str]) -> None:
    names = ui.code_labels(snap, codes)
    if ui.value(P, "heat") not in codes:
        st.session_state[f"{P}.heat"] = codes[0]
    st.selectbox(
        "Payer × facility heatmap for", codes, key=f"{P}.heat", format_func=lambda k: names[k]
    )
    wide = snap.read(payer_matrix, str(ui.value(P, "heat")))
    keep_ids = rows["facility_id"].unique().to_list()
    keep_payers = set(rows["payer"].drop_nulls().unique().to_list())
    long = (
        wide.filter(pl.col("facility_id").is_in(keep_ids))
        .unpivot(
            index=["facility_id", "hospital_name", "state"],
            variable_name="payer",
            value_name="median_dollar",
        )
        .filter(pl.col("payer").is_in(keep_payers))
        .drop_nulls("median_dollar")
    )
    if long.is_empty():
        st.info("No payer rates to map for this service with these filters.")
        return
    spec = {
        "mark": {"type": "rect"},
        "encoding": {
            "x": ui.nominal("payer", title="Payer"),
            "y": ui.nominal("hospital_name", title=None, axis={"labelLimit": 220}),
            "color": ui.quantitative("median_dollar", title="Median $",
                                     scale={"scheme": "viridis"}),
            "tooltip": [ui.nominal("hospital_name"), ui.nominal("payer"),
                        ui.quantitative("median_dollar", format="$,.2f")],
        },
    }  # fmt: skip
    ui.show_chart_and_table(
        long,
        spec,
        long.sort("hospital_name", "payer"),
        {"median_dollar": ui.money_column("Median rate")},
        140 + 30 * long["facility_id"].n_unique(),
    )


def _downloads(rows: pl.DataFrame) -> None:
    parquet = io.BytesIO()
    rows.write_parquet(parquet)
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", ui.csv_bytes(rows), "prices.csv", "text/csv", key="cmp.csv"
    )
    right.download_button(
        "Download Parquet",
        parquet.getvalue(),
        "prices.parquet",
        "application/vnd.apache.parquet",
        key="cmp.parquet",
    )


@ui.page
def main() -> None:
    st.title("Compare prices")
    st.caption(
        "Comparable negotiated rates by facility, payer and plan type. Excluded rates "
        "(placeholders, outliers, formula-only) are left out of every figure."
    )
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    try:
        ui.canonical_keys(snap, P, "code")
        codes = _codes(snap)
        states = snap.lookup(reads.states)
        if ui.value(P, "state") not in ["", *states]:
            st.session_state[f"{P}.state"] = ""
        st.selectbox("State", ["", *states], key=f"{P}.state", format_func=lambda s: s or "All")
        if not codes:
            st.info("Choose one or more services to compare.")
            return
        rows = _rows(snap, codes, ui.value(P, "state") or None)
        if rows.is_empty():
            st.warning("No comparable prices for these services with this state.")
            return
        rows = _filters(rows)
        if rows.is_empty():
            st.warning("No rates match these payers, plan types and facilities.")
            return
        spread = _spread(rows)
        st.subheader("Spread between facilities")
        st.dataframe(
            spread,
            hide_index=True,
            width="stretch",
            column_config={
                "service": "Service",
                "setting": "Setting",
                "price_unit": "Unit",
                "facilities": "Facilities",
                "lowest_facility": ui.money_column("Lowest facility median"),
                "median_facility": ui.money_column("Median facility"),
                "highest_facility": ui.money_column("Highest facility median"),
                "spread_ratio": st.column_config.NumberColumn(
                    "Spread ratio", format="%.2f×", help="Highest ÷ lowest facility median."
                ),
            },
        )
        st.subheader("Distribution of rates")
        ui.show_chart_and_table(
            *_distribution(rows), _linked(rows), LINKED, 80 + 90 * rows["service"].n_unique()
        )
        st.subheader("Payers × facilities")
        _heatmap(snap, rows, codes)
        st.subheader("Download")
        st.caption(f"{rows.height:,} rows: exactly the rates shown above.")
        _downloads(rows)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
