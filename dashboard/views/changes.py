"""Changes: the biggest price moves of the files that became current this month, and one
hospital's changes against its previous file."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import changes, reads, ui
from dashboard.snapshot import Snapshot, snapshot
from warehouse.queries import facility_profile

P = "chg"
DEFAULTS: dict[str, Any] = {"facility": "", "state": "", "code": "", "payer": "", "min": 1}
NATIONAL = {
    **changes.MOVES,
    "hospital_name": "Hospital",
    "state": "State",
    "hospital": st.column_config.LinkColumn("Facility", display_text="Open"),
    "changed_at": st.column_config.DatetimeColumn("Became current", format="YYYY-MM-DD"),
}


def _pick_facility(snap: Snapshot) -> str:
    facilities = snap.lookup(reads.facilities)
    labels = {"": "All hospitals (biggest moves this month)"} | {
        r["facility_id"]: f"{r['hospital_name'] or r['facility_id']} — "
        f"{r['city'] or ''}{', ' if r['city'] else ''}{r['state'] or ''} ({r['facility_id']})"
        for r in facilities.iter_rows(named=True)
    }
    wanted = ui.value(P, "facility") or ""
    if wanted not in labels:
        st.warning(f"No facility “{ui.plain(wanted)}” in this warehouse.")
        st.session_state[f"{P}.facility"] = ""
    st.selectbox("Hospital", list(labels), key=f"{P}.facility", format_func=lambda f: labels[f])
    return str(ui.value(P, "facility") or "")


def _national(snap: Snapshot) -> None:
    st.subheader(f"Biggest moves in the last {reads.RECENT_DAYS} days")
    states = ["", *snap.lookup(reads.states)]
    payers = ["", *sorted(set(snap.lookup(reads.payer_plans)["payer"].to_list()))]
    for name, options in (("state", states), ("payer", payers)):
        if ui.value(P, name) not in options:
            st.session_state[f"{P}.{name}"] = ""
    cols = st.columns(4)
    cols[0].selectbox("State", states, key=f"{P}.state", format_func=lambda s: s or "All")
    cols[1].text_input("Service code", key=f"{P}.code", placeholder="CPT:73721 or 73721")
    cols[2].selectbox("Payer", payers, key=f"{P}.payer", format_func=lambda p: p or "All")
    cols[3].number_input(
        "Both prices at least ($)", min_value=0, max_value=100_000, step=1, key=f"{P}.min",
        help="Leaves out moves of tiny amounts, where a few cents read as a large %.",
    )  # fmt: skip
    key = ui.canonical_key(snap, str(ui.value(P, "code") or "").strip())
    code_type, code = ui.split_key(key) if key else (None, None)
    moves = snap.lookup(
        reads.biggest_moves,
        state=ui.value(P, "state") or None,
        code_type=code_type,
        code=code or None,
        payer=ui.value(P, "payer") or None,
        min_dollar=float(ui.value(P, "min") or 0),
    )
    if moves is None:
        st.info("Price changes are not available yet in this warehouse (built by the next "
                "publish).")  # fmt: skip
        return
    if moves.is_empty():
        st.info("No hospital's new file moved a price like this in the last "
                f"{reads.RECENT_DAYS} days.")  # fmt: skip
        return
    st.caption(
        "Largest changes of a hospital's median negotiated rate (per service, setting, payer "
        "and plan type) between its previous file and the one that became current."
    )
    links = [ui.link("facility", facility=f) for f in moves["facility_id"]]
    table = changes.with_links(moves).with_columns(pl.Series("hospital", links))
    shown = ["hospital_name", "state", "display_name", "code_type", "code", "setting",
             "payer", "plan_type", "old_median", "new_median", "change_pct", "changed_at",
             "hospital", "compare"]  # fmt: skip
    st.dataframe(table.select(shown), hide_index=True, width="stretch", column_config=NATIONAL)
    st.download_button("Download CSV", ui.csv_bytes(moves), "price-changes.csv", mime="text/csv")


def _facility(snap: Snapshot, facility_id: str) -> None:
    profile = snap.lookup(facility_profile, facility_id)
    name = profile["hospital_name"][0] if profile.height else None
    st.subheader(ui.plain(name or facility_id))
    st.markdown(f"[Facility page]({ui.link('facility', facility=facility_id)})")
    if profile.height:
        st.write(changes.days_since_update(profile.row(0, named=True)))
    summary = snap.lookup(reads.change_summary, facility_id)
    if summary is None:
        st.info("This is the first file of this hospital in the warehouse: nothing to compare.")
    else:
        changes.metrics(summary)
        st.caption(changes.counts_line(summary))
        moves = snap.lookup(reads.facility_moves, facility_id)
        if moves.height:
            st.markdown("**Largest moves** of a median negotiated rate")
            changes.top_table(moves)
        up, down = moves.filter(pl.col("change") > 0), moves.filter(pl.col("change") < 0)
        for title, part in (("Prices up", up), ("Prices down", down)):
            st.markdown(f"**{title}** (largest first)")
            if part.is_empty():
                st.caption("None.")
            else:
                changes.moves_table(part, height=min(400, 38 + 35 * part.height))
        codes = snap.lookup(reads.facility_code_changes, facility_id)
        st.markdown("**Services added and removed**")
        if codes.is_empty():
            st.caption("The same services as in the previous file.")
        else:
            changes.code_changes_table(codes)
    st.markdown("**The hospital's files over time**")
    changes.timeline(snap, facility_id)


@ui.page
def main() -> None:
    st.title("What changed")
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    try:
        facility_id = _pick_facility(snap)
        if facility_id:
            _facility(snap, facility_id)
        else:
            _national(snap)
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
