"""Find a price: what hospitals charge for a service, for your insurance or paying cash."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import streamlit as st

from dashboard import geo, rates, reads, ui
from dashboard.estimate import CAVEAT, FORMULA, Terms, out_of_pocket, parse_amount
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
    "deductible": "",
    "coinsurance": "",
    "oop_max": "",
}
#: Basis of a rate, in words (`comparable_charges.price_basis`).
BASIS = {
    "negotiated_dollar": "negotiated $",
    "derived_from_percentage": "% of charges (estimated)",
    "median_allowed": "median allowed (estimated)",
}
#: Fewer hospitals than this and a figure across hospitals says it is thin.
FEW_HOSPITALS = 3
NO_TERMS = Terms()
RADII = [0, 10, 25, 50, 100, 250]
#: Rows of the ranked table at most: the browser draws each cell as Markdown, and 500
#: hospitals (a service priced everywhere, all states) took it ~3 s; the rates behind the
#: prices (basis, excluded rates, download) are read for the listed hospitals only, each
#: hospital's file in full (~0.5 s for 25 at 50 M rates).
TABLE_ROWS = 25


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
    # The search's own matches (a cached read): a shared link's chosen service is kept in
    # the options, so "nothing else listed" would also be true when it is the only match.
    if text.strip() and not ui.code_options(snap, text, []):
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


def _payment(snap: Snapshot) -> tuple[str | None, str | None, Terms]:
    st.radio(
        "How will you pay?",
        ["insurance", "cash"],
        key=f"{P}.pay",
        horizontal=True,
        format_func=lambda p: "With insurance" if p == "insurance" else "Paying cash",
    )
    if ui.value(P, "pay") == "cash":
        return None, None, NO_TERMS
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
    return payer, (ui.value(P, "plan") or None), _terms()


def _terms() -> Terms:
    """The plan terms typed for an out-of-pocket estimate (blank: none); a bad one gets a
    message and is left out."""
    st.caption("Optional: your plan's terms, for an estimate of what you would pay.")
    fields = {
        "deductible": ("Deductible left ($)", False, "500"),
        "coinsurance": ("Coinsurance (%)", True, "20"),
        "oop_max": ("Out-of-pocket maximum left ($)", False, "3000"),
    }
    values: dict[str, float | None] = {}
    for column, (name, (label, percent, example)) in zip(
        st.columns(3), fields.items(), strict=True
    ):
        text = column.text_input(label, key=f"{P}.{name}", max_chars=20, placeholder=example)
        values[name], problem = parse_amount(text, label, percent=percent)
        if problem:
            st.warning(f"{ui.plain(problem)} It is left out of the estimate.")
    return Terms(**values)


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
            reasons = (r["exclusion_reasons"] or "").replace("_", " ")
            parts.append(f"{r['excluded_rates']} excluded ({reasons})")
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
    plan: str | None, terms: Terms = NO_TERMS,
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
    base = _near(snap, base.filter(pl.col("setting").eq_missing(setting)), point, radius)
    if base.is_empty():
        st.warning(f"No hospital within {radius} miles prices this service.")
        return
    # One unit per table: the one most hospitals price in, a price of the whole service
    # (no unit) before a per-day rate on a tie. The other units' rates are listed as
    # excluded, never dropped unseen.
    units = base.group_by("price_unit").agg(pl.col("facility_id").n_unique().alias("n"))
    unit = units.sort(["n", "price_unit"], descending=[True, False], nulls_last=False)[
        "price_unit"
    ][0]
    everywhere = base["facility_id"].unique().to_list()
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
    table = _ranked(snap, base, mode, code, payer)
    if mode == "plan" and terms.given:
        table = table.with_columns(
            ui.mapped(table["plan_price"], lambda v: out_of_pocket(v, terms), pl.Float64).alias(
                "you_pay"
            )
        )
    # The prices on screen first (from the marts); then the rates behind them, read from
    # the hospitals' files, fill in each price's basis.
    pending = table.with_columns(
        pl.lit("…").alias("basis"), pl.lit(None, pl.String).alias("allowed_range")
    )
    slot = _show(pending, mode, name, unit, payer, terms if mode == "plan" else NO_TERMS)
    # The rates behind the listed prices, and of hospitals that price the service only in
    # another unit (up to as many): bounded, never every hospital's file.
    listed = table["facility_id"].head(TABLE_ROWS).to_list()
    elsewhere = sorted(set(everywhere) - set(base["facility_id"]))[:TABLE_ROWS]
    behind = snap.read(
        rates.code_rates, code_type, bare, listed + elsewhere,
        payer if mode == "plan" else None, plan if mode == "plan" else None,
    ).filter(pl.col("setting").eq_missing(setting))  # fmt: skip
    behind = behind.with_columns(
        pl.coalesce(
            "exclusion_reason",
            pl.when(pl.col("price_unit").ne_missing(unit)).then(pl.lit(rates.OTHER_UNIT)),
        ).alias("not_compared")
    )
    compared = behind.filter(pl.col("price_unit").eq_missing(unit))
    table = table.join(_bases(compared), on="facility_id", how="left", maintain_order="left")
    slot.table(_frame(table, mode, unit, payer), hide_index=True)
    other_units = _other_units(behind, table, unit)
    if other_units:
        st.info(ui.plain(other_units))
    _excluded(behind, unit)
    _download(behind, code)


def _near(snap: Snapshot, base: pl.DataFrame, point: Any, radius: int) -> pl.DataFrame:
    """`base` with the miles to each hospital (when a ZIP is given), within `radius`."""
    distance = snap.lookup(_distances, point) if point else {}
    if not distance:
        return base.with_columns(pl.lit(None, pl.Float64).alias("miles"))
    base = base.with_columns(
        pl.col("facility_id").replace_strict(distance, default=None).alias("miles")
    )
    return base.filter(pl.col("miles") <= radius) if radius else base


def _other_units(behind: pl.DataFrame, table: pl.DataFrame, unit: str | None) -> str:
    """How many hospitals price this service in another unit than the table's, in words
    ('' when none)."""
    other = behind.filter(
        (pl.col("not_compared") == rates.OTHER_UNIT) & pl.col("payer_name").is_not_null()
    )
    if other.is_empty():
        return ""
    hospitals = set(other["facility_id"])
    absent = len(hospitals - set(table["facility_id"]))
    words = " or ".join(rates.per_unit(u) for u in other["price_unit"].unique().sort())
    n = len(hospitals)
    only = f" ({absent} of them only {words}, so not in the table)" if absent else ""
    return (
        f"{n} hospital{'s' if n != 1 else ''} price{'' if n != 1 else 's'} this service "
        f"{words}{only}. Those rates are not compared with these prices "
        f"{rates.per_unit(unit)}: they are listed under Excluded prices."
    )


def _ranked(
    snap: Snapshot, base: pl.DataFrame, mode: str, code: str, payer: str | None
) -> pl.DataFrame:
    key = "plan_price" if mode == "plan" else "discounted_cash"
    base = base.sort([key, "median_dollar", "facility_id"], nulls_last=True)
    if ui.value(P, "why"):
        listed = base["facility_id"].head(TABLE_ROWS).to_list()
        notes = _notes(snap, code, listed, payer if mode == "plan" else None)
    else:
        notes = _mart_notes(base, mode)
    return base.with_columns(
        pl.int_range(1, pl.len() + 1).alias("rank"),
        pl.col("facility_id").replace_strict(notes, default="").alias("notes"),
    )


def _bases(behind: pl.DataFrame) -> pl.DataFrame:
    """Per facility, from the rates behind its price: their basis in words and the 10th–90th
    percentile allowed range where the file gives one."""
    kept = behind.filter(pl.col("exclusion_reason").is_null() & pl.col("payer").is_not_null())
    out = []
    for (facility,), group in kept.group_by("facility_id"):
        counts = group["price_basis"].value_counts(sort=True)
        parts = [
            BASIS.get(b, b) if counts.height == 1 else f"{n} {BASIS.get(b, b)}"
            for b, n in counts.iter_rows()
        ]
        low, high = group["p10_allowed"].min(), group["p90_allowed"].max()
        out.append(
            {
                "facility_id": facility,
                "basis": ", ".join(parts),
                "allowed_range": (
                    f"{ui.money(low)}–{ui.money(high)}"  # type: ignore[arg-type]
                    if low is not None and high is not None
                    else ""
                ),
            }
        )
    schema = {"facility_id": pl.String, "basis": pl.String, "allowed_range": pl.String}
    return pl.DataFrame(out, schema=schema)


def _excluded(behind: pl.DataFrame, unit: str | None) -> None:
    """The rates left out of every price shown, each with the reason: never dropped unseen."""
    left_out = behind.filter(
        pl.col("not_compared").is_not_null() & (pl.col("not_compared") != "no_payer_rate")
    )
    label = f"Excluded prices ({left_out.height})"
    with st.expander(label, expanded=False):
        if left_out.is_empty():
            st.caption(
                "No rate of these hospitals for this service was left out as a placeholder, "
                "formula-only or unusable amount. Rates far outside every other hospital's "
                "prices (outliers) are counted in the table's notes."
            )
            return
        st.caption("These rates are in the hospitals' files but are not compared, because:")
        published = [
            _as_published(r) for r in left_out.select(
                "negotiated_dollar", "negotiated_percentage", "negotiated_algorithm",
                "median_allowed",
            ).iter_rows(named=True)
        ]  # fmt: skip
        st.table(
            pl.DataFrame(
                {
                    "Hospital": _plain(left_out["hospital_name"]),
                    "Payer": _plain(left_out["payer_name"]),
                    "Plan": _plain(left_out["plan_name"]),
                    "As published": [ui.plain(p) for p in published],
                    "Why it is not compared": [
                        ui.plain(rates.not_compared(r, u, unit))
                        for r, u in zip(
                            left_out["not_compared"], left_out["price_unit"], strict=True
                        )
                    ],
                    "Source": [
                        f"[row {r['row_no']}]({_source_link(r)})"
                        for r in left_out.iter_rows(named=True)
                    ],
                }
            ),
            hide_index=True,
        )


def _as_published(r: dict[str, Any]) -> str:
    if r["negotiated_dollar"] is not None:
        return ui.money(r["negotiated_dollar"])
    if r["median_allowed"] is not None:
        return f"median allowed {ui.money(r['median_allowed'])}"
    if r["negotiated_percentage"] is not None:
        return f"{r['negotiated_percentage']:g} % of charges"
    return str(r["negotiated_algorithm"] or "—")[:120]


def _source_link(r: dict[str, Any]) -> str:
    return ui.link("source", facility=r["facility_id"], file=r["file_id"], row=str(r["row_no"]))


def _download(behind: pl.DataFrame, code: str) -> None:
    """The rates behind the prices shown, as CSV, with the file and row of each."""
    st.download_button(
        "Download the rates behind these prices (CSV)",
        rates.code_rates_csv(behind),
        f"rates-{code.replace(':', '-')}.csv",
        "text/csv",
        key=f"{P}.csv",
        help="Every rate of the hospitals shown for this service, with the file it comes "
        "from (file_id) and its row in that file (row_no).",
    )


def _show(
    table: pl.DataFrame, mode: str, name: str, unit: str | None, payer: str | None,
    terms: Terms = NO_TERMS,
) -> Any:  # fmt: skip
    """The summary line, the ranked table and the chart; returns the table's placeholder
    (the caller fills in the prices' basis once it has read it)."""
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
        pay = (
            f" You'd pay about **{ui.plain(ui.money(b['you_pay']))}** there (estimate)."
            if "you_pay" in table.columns and b["you_pay"] is not None
            else ""
        )
        st.success(
            f"Lowest {what} for **{ui.plain(name)}**: **{ui.plain(ui.money(b[key]))}{per_md}** at "
            f"{ui.plain(b['hospital_name'])}, {ui.plain(b['state'] or '')}{near}.{pay}"
        )
        priced = table[key].is_not_null().sum()
        if priced < FEW_HOSPITALS:
            st.caption(
                f"Based on {priced} hospital{'s' if priced != 1 else ''} only: fewer than "
                f"{FEW_HOSPITALS}, too few to say what this service usually costs."
            )
    elif mode == "cash":
        st.info("None of these hospitals publishes a cash price for this service.")
    source = " **Source** opens the rates behind a price, with the file and row they come from."
    if table.height > TABLE_ROWS:
        st.caption(
            f"The {TABLE_ROWS} lowest of {table.height} hospitals, ranked: choose a state or "
            f"a distance to narrow them down.{source}"
        )
    else:
        st.caption(f"The hospitals, ranked.{source}")
    slot = st.empty()
    slot.table(_frame(table, mode, unit, payer), hide_index=True)
    if terms.given:
        st.caption(FORMULA)
        st.caption(CAVEAT)
    # The chart after the table: a session's first chart loads and compiles the browser's
    # charting code (~0.5 s of a busy 2-core machine), and the ranked prices come first.
    st.caption("The same prices, charted:")
    ui.chart(
        *_chart(table, mode, per, "you_pay" in table.columns),
        height=160 + 34 * min(table.height, 25),
    )
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
    return slot


def _frame(table: pl.DataFrame, mode: str, unit: str | None, payer: str | None) -> pl.DataFrame:
    """The ranked table as shown (its first `TABLE_ROWS` rows): names, units and notes from
    the hospitals' files escaped, as `st.table` cells are Markdown."""
    per_md = f" per {ui.plain(unit)}" if unit else ""
    table = table.head(TABLE_ROWS)
    # The prices first: on a phone the table scrolls sideways and they stay in view.
    hospitals = [
        f"[{ui.plain(n)}]({ui.link('facility', facility=f)})"
        for n, f in zip(table["hospital_name"], table["facility_id"], strict=True)
    ]
    columns: dict[str, Any] = {"Rank": table["rank"], "Hospital": hospitals}
    if "you_pay" in table.columns:
        columns["You'd pay (estimate)"] = _money(table["you_pay"])
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
    columns["Basis"] = _plain(table["basis"].fill_null(""))
    if table["allowed_range"].fill_null("").str.len_chars().sum():
        columns["Allowed 10th–90th percentile"] = _plain(table["allowed_range"].fill_null(""))
    columns["Notes"] = _plain(table["notes"])
    plan_filter = {"payer": payer, "plan": ui.value(P, "plan")} if mode == "plan" else {}
    columns["Source"] = [
        f"[Source]({ui.link('source', facility=f, code=ui.value(P, 'code'), **plan_filter)})"
        for f in table["facility_id"]
    ]
    return pl.DataFrame(columns)


def _money(column: pl.Series) -> pl.Series:
    return ui.mapped(column, ui.money, skip_nulls=False)


def _plain(column: pl.Series) -> pl.Series:
    """A text column for `st.table` (its cells are Markdown), shown literally."""
    return ui.mapped(column, ui.plain)


def _chart(
    table: pl.DataFrame, mode: str, per: str, estimate: bool = False
) -> tuple[pl.DataFrame, ui.Spec]:
    kinds = {"discounted_cash": "Cash price", "gross_charge": "Gross charge"}
    if mode == "plan":
        kinds = {"plan_price": "Your plan's price", **kinds}
    if estimate:
        kinds = {"you_pay": "You'd pay (estimate)", **kinds}
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


def _common(snap: Snapshot) -> None:
    """Before a search: common services, each a link to its prices, with how far the
    hospitals' typical prices are apart (the table and the chart also load the browser's
    code for them while the user types, so the first results draw sooner)."""
    common = snap.lookup(reads.common_prices)
    if common.is_empty():
        return
    st.subheader("Common services: the same care, very different prices")
    links = [
        f"[{ui.plain(n)}]({ui.link('', q=n, code=ui.code_key(t, c))})"
        for n, t, c in zip(common["display_name"], common["code_type"], common["code"],
                           strict=True)
    ]  # fmt: skip
    st.table(
        pl.DataFrame({
            "Service": links,
            "Hospitals": ui.mapped(common["facilities"], lambda n: f"{n:,}"),
            "Typical insured price, 10th–90th percentile of hospitals": [
                ui.plain(f"{ui.money(lo)}–{ui.money(hi)}") if lo is not None and hi is not None
                else ""
                for lo, hi in zip(common["p10_dollar"], common["p90_dollar"], strict=True)
            ],
            "Highest ÷ lowest hospital": ui.mapped(
                common["spread_ratio"], lambda r: "" if r is None else f"{r:,.1f}×",
                skip_nulls=False,
            ),
        }),
        hide_index=True,
    )  # fmt: skip
    ranges = common.select(
        pl.col("display_name").alias("service"), "p10_dollar", "median_dollar", "p90_dollar"
    )
    order = ranges["service"].to_list()
    ui.chart(
        ranges,
        {
            "layer": [
                {
                    "mark": {"type": "rule", "strokeWidth": 3},
                    "encoding": {
                        "x": ui.quantitative(
                            "p10_dollar", title="Typical insured price (US$, log scale), "
                            "10th–90th percentile of hospitals", axis={"format": "$,.0f"},
                            scale={"type": "log"},  # a stay and a visit on one axis
                        ),
                        "x2": {"field": "p90_dollar"},
                        "y": ui.nominal("service", sort=order, title=None,
                                        axis={"labelLimit": 150}),
                    },
                },
                {
                    "mark": {"type": "circle", "size": 90},
                    "encoding": {
                        "x": ui.quantitative("median_dollar"),
                        "y": ui.nominal("service", sort=order),
                        "tooltip": [
                            ui.nominal("service"),
                            ui.quantitative("median_dollar", title="median", format="$,.0f"),
                        ],
                    },
                },
            ]
        },
        height=60 + 34 * ranges.height,
    )  # fmt: skip


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
    payer, plan, terms = _payment(snap)
    try:
        if not code:
            st.info("Type what you need above — for example “knee MRI” — and choose a service.")
            _common(snap)
            return
        _results(snap, code, state, point, radius, payer, plan, terms)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
