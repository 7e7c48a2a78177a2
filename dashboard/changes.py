"""What changed between a facility's files, as the Changes page and the Facility page show
it: the moves of its prices, the codes added and removed, its files over time."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import reads, ui
from dashboard.snapshot import Snapshot

MOVES = {
    "old_median": ui.money_column("Before"),
    "new_median": ui.money_column("Now"),
    "change": ui.money_column("Change"),
    "change_pct": st.column_config.NumberColumn("Change %", format="percent"),
    "old_gross": ui.money_column("Gross before", "gross"),
    "new_gross": ui.money_column("Gross now", "gross"),
    "old_cash": ui.money_column("Cash before", "cash"),
    "new_cash": ui.money_column("Cash now", "cash"),
    "compare": st.column_config.LinkColumn("Compare", display_text="Compare"),
    "display_name": "Service",
    "code_type": "Type",
    "code": "Code",
    "setting": "Setting",
    "payer": "Payer",
    "plan_type": "Plan type",
}


def with_links(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with a `compare` column: a link to Compare for the row's code; plan types
    labelled."""
    keys = [ui.code_key(t, c) for t, c in zip(frame["code_type"], frame["code"], strict=True)]
    links = [ui.link("compare", code=key) for key in keys]
    out = frame.with_columns(pl.Series("compare", links, dtype=pl.String))
    if "plan_type" in out.columns:
        out = out.with_columns(ui.mapped(out["plan_type"], ui.plan_label))
    return out


def days_since_update(profile: dict[str, Any]) -> str:
    """`Last updated 2026-01-02, 40 days before the last publish.` (or that it says none)."""
    if profile.get("last_updated_on") is None:
        return "The hospital's file states no last-updated date."
    days = profile["days_since_update"]
    return (
        f"The hospital last updated its file on {ui.plain(profile['last_updated_on'])}: "
        f"{days:,} days before the last publish."
    )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def counts_line(summary: dict[str, Any]) -> str:
    return (
        f"**{summary['prices_up']:,}** {_plural(summary['prices_up'], 'price')} up, "
        f"**{summary['prices_down']:,}** down, {summary['prices_unchanged']:,} unchanged; "
        f"**{summary['codes_added']:,}** {_plural(summary['codes_added'], 'service')} added, "
        f"**{summary['codes_removed']:,}** removed "
        f"(file {ui.plain(summary['new_file_id'])} against {ui.plain(summary['old_file_id'])}, "
        f"compared {summary['built_at']:%Y-%m-%d})."
    )


def metrics(summary: dict[str, Any]) -> None:
    cols = st.columns(4)
    cols[0].metric("Prices up", f"{summary['prices_up']:,}")
    cols[1].metric("Prices down", f"{summary['prices_down']:,}")
    cols[2].metric("Services added", f"{summary['codes_added']:,}")
    cols[3].metric("Services removed", f"{summary['codes_removed']:,}")


def moves_table(frame: pl.DataFrame, *, detail: bool = True, height: int | None = None) -> None:
    shown = ["display_name", "code_type", "code", "setting", "payer", "plan_type",
             "old_median", "new_median", "change", "change_pct", "compare"]  # fmt: skip
    if detail:
        shown += ["old_gross", "new_gross", "old_cash", "new_cash"]
    table = with_links(frame).select([c for c in shown if c in frame.columns or c == "compare"])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config=MOVES,
        height=height or "auto",
    )


def top_table(frame: pl.DataFrame, rows: int = 10) -> None:
    """The largest moves as a plain table (readable by screen readers and on a phone)."""
    top = frame.head(rows)

    def text(column: pl.Series) -> pl.Series:  # a missing value is blank, not "None"
        return ui.mapped(column, lambda v: "" if v is None else ui.plain(v), skip_nulls=False)

    names = [n or f"{t} {c}" for n, t, c in zip(top["display_name"], top["code_type"],
                                                 top["code"], strict=True)]  # fmt: skip
    shown = pl.DataFrame({
        "Service": text(pl.Series(names)),
        "Code": text(pl.Series([f"{t} {c}" for t, c in zip(top["code_type"], top["code"],
                                                          strict=True)])),
        "Payer": text(top["payer"]),
        "Plan type": text(ui.mapped(top["plan_type"], ui.plan_label)),
        "Before": ui.mapped(top["old_median"], ui.money, skip_nulls=False),
        "Now": ui.mapped(top["new_median"], ui.money, skip_nulls=False),
        "Change": ui.mapped(top["change_pct"], lambda v: f"{v:+.1%}"),
    })  # fmt: skip
    st.table(shown, hide_index=True)


def code_changes_table(frame: pl.DataFrame) -> None:
    st.dataframe(
        with_links(frame),
        hide_index=True,
        width="stretch",
        column_config={
            **MOVES,
            "change": "Change",
            "description": "Description",
            "rates": st.column_config.NumberColumn("Payer rates", format="%d"),
            "median_dollar": ui.money_column("Median rate"),
        },
    )


def timeline(snap: Snapshot, facility_id: str) -> None:
    """The facility's files over time: rows (chart) and size, rows, rates (table)."""
    files = snap.lookup(reads.file_timeline, facility_id)
    if files is None or files.is_empty():
        st.info("No file of this facility in the warehouse.")
        return
    files = files.with_columns((pl.col("size_bytes") / 1e6).round(2).alias("size_mb"))
    spec = {
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "loaded_at", "type": "temporal", "title": "Loaded"},
            "y": ui.quantitative("row_count", title="Rows"),
            "tooltip": [ui.nominal("file_id"), ui.quantitative("row_count"),
                        ui.quantitative("size_mb", title="MB"), ui.nominal("status")],
        },
    }  # fmt: skip
    ui.show_chart_and_table(
        files,
        spec,
        files.drop("size_bytes"),
        {
            "file_id": "File",
            "status": "Status",
            "is_current": st.column_config.CheckboxColumn("Current"),
            "loaded_at": st.column_config.DatetimeColumn("Loaded", format="YYYY-MM-DD HH:mm"),
            "last_updated_on": st.column_config.DateColumn("Last updated"),
            "size_mb": st.column_config.NumberColumn("Size (MB)", format="%.2f"),
            "row_count": st.column_config.NumberColumn("Rows", format="%d"),
            "rates": st.column_config.NumberColumn("Payer rates", format="%d"),
            "codes": st.column_config.NumberColumn("Services", format="%d"),
        },
        200,
    )


def facility_section(snap: Snapshot, facility_id: str, profile: dict[str, Any]) -> None:
    """The Facility page's summary of what changed since the facility's previous file."""
    st.subheader("What changed since the previous file")
    st.write(days_since_update(profile))
    summary = snap.lookup(reads.change_summary, facility_id)
    if summary is None:
        st.info("This is the first file of this hospital in the warehouse: nothing to compare.")
    else:
        metrics(summary)
        moves = snap.lookup(reads.facility_moves, facility_id)
        if moves.height:
            st.caption("Largest moves of a median negotiated rate:")
            top_table(moves, 5)
        added = snap.lookup(reads.facility_code_changes, facility_id)
        for change in ("added", "removed"):
            names = added.filter(pl.col("change") == change)
            if names.height:
                pairs = list(zip(names["code_type"], names["code"], strict=True))[:10]
                listed = ", ".join(ui.plain(f"{t} {c}") for t, c in pairs)
                more = f" and {names.height - 10:,} more" if names.height > 10 else ""
                st.caption(f"Services {change}: {listed}{more}.")
    st.markdown(f"[All changes of this hospital]({ui.link('changes', facility=facility_id)})")
