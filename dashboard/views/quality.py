"""Data quality: the last run per hospital, the data-quality checks, conformance findings
and the share of each hospital's payer rates mapped to a canonical payer."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import reads, ui
from dashboard.snapshot import Snapshot, snapshot

P = "dq"
DEFAULTS: dict[str, Any] = {"view": "runs", "outcome": []}
VIEWS = {
    "runs": "Last run per hospital",
    "checks": "Quality checks",
    "rules": "Conformance",
    "payers": "Payers mapped",
}
OUTCOMES = ["downloaded", "loaded", "unchanged", "held", "quarantined", "failed"]


def _nightly(snap: Snapshot) -> None:
    last = snap.lookup(reads.last_pipeline_run)
    if last is None:
        st.caption("No scheduled (nightly) run recorded yet: the outcomes below are per hospital.")
        return
    st.write(
        f"Last scheduled run {ui.plain(last.get('run_id'))} finished "
        f"{ui.plain(last.get('finished_at'))} UTC: "
        f"{last.get('facilities')} facilities — {last.get('loaded')} loaded, "
        f"{last.get('unchanged')} unchanged, {last.get('held')} held, {last.get('failed')} failed."
    )


def _runs(snap: Snapshot) -> None:
    _nightly(snap)
    runs = snap.read(reads.last_runs)
    if runs.is_empty():
        st.info("No download or ingest has been recorded yet.")
        _without_file(snap)
        return
    counts = dict(runs.group_by("outcome").len().iter_rows())
    for col, outcome in zip(st.columns(len(OUTCOMES)), OUTCOMES, strict=True):
        col.metric(outcome.capitalize(), counts.get(outcome, 0))
    chosen = [o for o in ui.value(P, "outcome") or [] if o in OUTCOMES]
    st.session_state[f"{P}.outcome"] = chosen
    st.multiselect("Show outcomes", OUTCOMES, key=f"{P}.outcome", placeholder="All")
    if chosen:
        runs = runs.filter(pl.col("outcome").is_in(chosen))
    st.dataframe(
        runs.select(
            "hospital",
            "outcome",
            "reason",
            "attempted_at",
            "download_outcome",
            "http_status",
            "ingest_outcome",
            "facility_id",
            "file_id",
            "source",
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "hospital": "Hospital",
            "outcome": "Outcome",
            "reason": st.column_config.TextColumn("Reason", width="large"),
            "attempted_at": st.column_config.DatetimeColumn("When (UTC)"),
            "download_outcome": "Download",
            "http_status": st.column_config.NumberColumn("HTTP", format="%d"),
            "ingest_outcome": "Ingest",
        },
    )
    _without_file(snap)


def _without_file(snap: Snapshot) -> None:
    """The registry's hospitals that have no current file: no file yet, or failing."""
    rows = snap.read(reads.without_file)
    if rows is None or rows.is_empty():
        return
    failing = rows.filter(pl.col("status") == "failing").height
    st.subheader(f"Tracked hospitals without a file: {rows.height:,}")
    st.caption(f"{rows.height - failing:,} no file yet, {failing:,} failing — from the source "
               "registry, with their last attempt.")  # fmt: skip
    st.dataframe(
        rows.select("hospital_name", "status", "last_attempt_at", "last_message", "state",
                    "city", "facility_id", "website"),
        hide_index=True,
        width="stretch",
        column_config={
            "hospital_name": "Hospital",
            "status": "Status",
            "last_attempt_at": st.column_config.DatetimeColumn("Last attempt (UTC)"),
            "last_message": st.column_config.TextColumn("Why", width="large"),
            "state": "State",
            "city": "City",
            "website": st.column_config.LinkColumn("Website"),
        },
    )  # fmt: skip


def _checks(snap: Snapshot) -> None:
    runs = snap.read(reads.quality_runs)
    if runs is None:
        st.info("Data-quality checks: not available yet in this warehouse.")
        return
    if runs.is_empty():
        st.info("No data-quality check has run yet.")
        return
    verdicts = dict(runs.group_by("verdict").len().iter_rows())
    cols = st.columns(4)
    for col, verdict in zip(cols, ["passed", "warning", "hold", "blocking"], strict=True):
        col.metric(f"Suite runs: {verdict}", verdicts.get(verdict, 0))
    st.dataframe(runs, hide_index=True, width="stretch")
    failures = snap.read(reads.quality_failures)
    st.subheader("Failed expectations (latest run of each suite and file)")
    if failures is None or failures.is_empty():
        st.success("Every expectation of the latest runs passed.")
    else:
        st.dataframe(failures, hide_index=True, width="stretch")


def _rules(snap: Snapshot) -> None:
    rules = snap.read(reads.findings_by_rule)
    scores = snap.read(reads.compliance)
    if scores is not None:
        st.subheader("Compliance by facility (lowest score first)")
        st.dataframe(scores, hide_index=True, width="stretch")
    else:
        st.info("Compliance scores by facility: not available yet in this warehouse.")
    st.subheader("Findings by rule (current files)")
    if rules.is_empty():
        st.success("The current files have no conformance findings.")
        return
    spec = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": ui.quantitative("findings", title="Findings"),
            "y": ui.nominal("rule", sort="-x", title=None, axis={"labelLimit": 300}),
            "color": ui.nominal("severity", title="Severity"),
            "tooltip": [ui.nominal("rule"), ui.nominal("severity"),
                        ui.quantitative("facilities"), ui.quantitative("findings")],
        },
    }  # fmt: skip
    ui.show_chart_and_table(rules.head(30), spec, rules, {}, 60 + 26 * min(rules.height, 30))


def _payers(snap: Snapshot) -> None:
    shares = snap.read(reads.payer_mapping)
    if shares is None or shares.is_empty():
        st.info("Payers mapped: no facility has a current file yet.")
        return
    rates = int(shares["rates"].sum())
    unmapped = int(shares["unmapped_rates"].fill_null(0).sum())
    cols = st.columns(3)
    cols[0].metric("Payer rates", f"{rates:,}")
    cols[1].metric("Mapped to a canonical payer", f"{1 - unmapped / rates:.1%}" if rates else "—")
    cols[2].metric("Facilities below 100 %",
                   shares.filter(pl.col("share_payer_mapped") < 1).height)  # fmt: skip
    lowest = shares.row(0, named=True)
    if lowest["share_payer_mapped"] is not None and lowest["share_payer_mapped"] < 1:
        name = lowest["hospital_name"] or lowest["facility_id"]
        st.caption(
            f"Lowest: {ui.plain(name)}, {lowest['share_payer_mapped']:.1%} of "
            f"{lowest['rates']:,} payer rates. The payer names no canonical payer was found for: "
            "`hpt payers unmapped`; map one for this warehouse with `hpt payers map`."
        )
    st.dataframe(
        shares,
        hide_index=True,
        width="stretch",
        column_config={
            "hospital_name": "Hospital",
            "state": "State",
            "rates": st.column_config.NumberColumn("Payer rates", format="%d"),
            "share_payer_mapped": st.column_config.ProgressColumn(
                "Mapped", min_value=0.0, max_value=1.0, format="percent"
            ),
            "unmapped_rates": st.column_config.NumberColumn("Unmapped rates", format="%d"),
        },
    )


@ui.page
def main() -> None:
    st.title("Data quality")
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    try:
        if ui.value(P, "view") not in VIEWS:
            st.session_state[f"{P}.view"] = "runs"
        st.radio("Show", list(VIEWS), key=f"{P}.view", format_func=VIEWS.get, horizontal=True)
        view = ui.value(P, "view")
        if view == "runs":
            _runs(snap)
        elif view == "checks":
            _checks(snap)
        elif view == "payers":
            _payers(snap)
        else:
            _rules(snap)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
