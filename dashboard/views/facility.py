"""Facility: one hospital's file, freshness, compliance, coverage and price position."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import changes, reads, ui
from dashboard.snapshot import Snapshot, snapshot
from warehouse.queries import facility_profile

P = "fac"
DEFAULTS: dict[str, Any] = {"facility": ""}
STALE_DAYS = 365  # CMS expects a file updated at least once a year


def _pick(snap: Snapshot) -> str | None:
    facilities = snap.lookup(reads.facilities)
    if facilities.is_empty():
        st.info("No hospital has been loaded into this warehouse yet.")
        return None
    labels = {
        r["facility_id"]: f"{r['hospital_name'] or r['facility_id']} — "
        f"{r['city'] or ''}{', ' if r['city'] else ''}{r['state'] or ''} ({r['facility_id']})"
        for r in facilities.iter_rows(named=True)
    }
    wanted = ui.value(P, "facility") or ""
    if wanted and wanted not in labels:
        st.warning(f"No facility “{ui.plain(wanted)}” in this warehouse; showing the first one.")
    if wanted not in labels:
        st.session_state[f"{P}.facility"] = next(iter(labels))
    st.selectbox("Facility", list(labels), key=f"{P}.facility", format_func=lambda f: labels[f])
    return str(ui.value(P, "facility"))


def _profile(row: dict[str, Any]) -> None:
    cols = st.columns(4)
    cols[0].metric("Services priced", f"{row['codes']:,}")
    cols[1].metric("Payer rates", f"{row['rates']:,}")
    share = row["share_comparable"]
    cols[2].metric("Comparable rates", "—" if share is None else f"{share:.0%}")
    score = row["compliance_score"]
    cols[3].metric("Compliance score", "not available yet" if score is None else f"{score:.0f}")
    days = row["days_since_update"]
    fresh = (
        f"File last updated on {ui.plain(row['last_updated_on'])} ({days:,} days before the last "
        f"publish), loaded {row['loaded_at']:%Y-%m-%d %H:%M} UTC."
        if row["last_updated_on"] is not None
        else f"The file states no update date; loaded {row['loaded_at']:%Y-%m-%d %H:%M} UTC."
    )
    if days is not None and days > STALE_DAYS:
        st.warning(fresh + " It is more than a year old.")
    else:
        st.write(fresh)
    st.caption(
        f"Template version {ui.plain(row['version'] or 'unknown')}, {ui.plain(row['layout'])} "
        f"layout, {row['row_count']:,} rows · file {ui.plain(row['current_file_id'])}"
    )


def _compliance(snap: Snapshot, facility_id: str) -> None:
    st.subheader("Compliance")
    view = snap.read(reads.compliance, facility_id)
    if view is None:
        st.info("Compliance scores: not available yet in this warehouse.")
    elif view.height:
        row = view.row(0, named=True)
        parts = [
            (label, row.get(f"score_{key}"), top)
            for key, label, top in (
                ("valid", "Valid file (no errors)", 30),
                ("header", "Header and file-level rules", 20),
                ("data", "Row-level errors", 25),
                ("freshness", "Freshness", 15),
                ("attestation", "Attestation", 10),
            )
            if f"score_{key}" in row
        ]
        if parts:
            st.caption("How the compliance score is made up (points out of the maximum):")
            st.dataframe(
                pl.DataFrame(parts, schema=["part", "points", "out_of"], orient="row"),
                hide_index=True,
                column_config={"part": "Part", "points": "Points", "out_of": "Out of"},
            )
    findings = snap.read(reads.facility_findings, facility_id)
    if findings.is_empty():
        st.success("The current file has no conformance findings.")
        return
    st.caption("Top findings in the current file (errors first):")
    st.dataframe(
        findings.head(10),
        hide_index=True,
        width="stretch",
        column_config={"finding_count": st.column_config.NumberColumn("Findings", format="%d")},
    )


def _coverage(snap: Snapshot, facility_id: str) -> None:
    st.subheader("Coverage")
    payers = snap.read(reads.facility_payers, facility_id)
    if payers.is_empty():
        st.info("No payer-specific rates in the current file.")
        return
    st.write(f"{payers['payer'].n_unique():,} payers, {payers.height:,} payer × plan-type pairs.")
    labelled = payers.with_columns(ui.mapped(payers["plan_type"], ui.plan_label))
    st.dataframe(
        labelled,
        hide_index=True,
        width="stretch",
    )


def _position(snap: Snapshot, facility_id: str) -> None:
    st.subheader("Price position against other hospitals")
    pos = snap.read(reads.price_position, facility_id)
    if pos.is_empty():
        st.info("No service of this facility is priced by another hospital yet.")
        return
    typical = float(pos["vs_peers"].cast(pl.Float64).median() or 1.0)  # type: ignore[arg-type]
    word = "above" if typical >= 1 else "below"
    st.write(
        f"Across {pos.height:,} services also priced elsewhere, this hospital's median rate is "
        f"typically **{abs(typical - 1):.0%} {word}** the median hospital."
    )
    spec = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": ui.quantitative("vs_peers", bin={"maxbins": 30}, title="Price ÷ median hospital"),
            "y": {"aggregate": "count", "type": "quantitative", "title": "Services"},
        },
    }
    keys = [ui.code_key(t, c) for t, c in pos.select("code_type", "code").rows()]
    linked = pos.with_columns(
        pl.Series("compare_page", [ui.link("compare", code=k) for k in keys], dtype=pl.String),
        pl.Series("price_page", [ui.link("", code=k) for k in keys], dtype=pl.String),
    )
    ui.show_chart_and_table(
        pos.head(300),
        spec,
        linked,
        {
            "compare_page": st.column_config.LinkColumn("Compare", display_text="Open"),
            "price_page": st.column_config.LinkColumn("Find a price", display_text="Open"),
            "median_dollar": ui.money_column("This facility"),
            "peers_median_dollar": ui.money_column("Median hospital"),
            "vs_peers": st.column_config.NumberColumn("Ratio", format="%.2f×"),
        },
        240,
    )


@ui.page
def main() -> None:
    st.title("Facility")
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    try:
        facility_id = _pick(snap)
        if facility_id is None:
            return
        profile = snap.lookup(facility_profile, facility_id)
        if profile.is_empty():
            st.warning("This facility has no current file.")
            return
        _profile(profile.row(0, named=True))
        changes.facility_section(snap, facility_id, profile.row(0, named=True))
        _compliance(snap, facility_id)
        _coverage(snap, facility_id)
        _position(snap, facility_id)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
