"""Source: where a price came from — a hospital's rates for a service as published in its
file, with the file (source, last updated on, SHA-256) and the row of each."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import rates, ui
from dashboard.snapshot import snapshot

P = "src"
DEFAULTS: dict[str, Any] = {"facility": "", "code": "", "payer": "", "plan": "", "file": "",
                            "row": ""}  # fmt: skip
#: Labels of the published values, in the order `rates.RAW_COLUMNS` lists them.
LABELS = {
    "description": "Description", "setting": "Setting", "billing_class": "Billing class",
    "codes": "Codes", "modifiers": "Modifiers", "drug_unit": "Drug unit",
    "drug_unit_type": "Drug unit type", "gross_charge": "Gross charge",
    "discounted_cash": "Discounted cash", "deidentified_min": "De-identified minimum",
    "deidentified_max": "De-identified maximum", "payer_name": "Payer",
    "plan_name": "Plan", "methodology": "Methodology",
    "negotiated_dollar": "Negotiated dollar", "negotiated_percentage": "Negotiated percentage",
    "negotiated_algorithm": "Negotiated algorithm", "estimated_amount": "Estimated amount",
    "median_allowed": "Median allowed", "p10_allowed": "10th percentile allowed",
    "p90_allowed": "90th percentile allowed", "allowed_count": "Allowed count",
    "notes": "Additional notes", "payer_notes": "Payer notes",
}  # fmt: skip


def _text(value: Any) -> str:
    """A published value as text (codes as `CPT 73721, CDM 100016`); '' when empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(f"{c['type']} {c['code']}" for c in value)
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    return str(value)


def _compared_as(r: dict[str, Any]) -> str:
    """The comparable dollar of a rate with its unit (`$1,200.00 per day`); '' when none."""
    if r["comparable_dollar"] is None:
        return ""
    per = f" {rates.per_unit(r['price_unit'])}" if r["price_unit"] else ""
    return ui.money(r["comparable_dollar"]) + per


def _file(row: dict[str, Any]) -> None:
    """The file a rate is in: where it was fetched from, its date and fingerprint."""
    st.subheader("File")
    facts = {
        "Hospital": row["hospital_name"] or row["facility_id"],
        "Source": row["source"] or "not recorded",
        "Last updated on (as the file says)": _text(row["last_updated_on"]),
        "SHA-256": row["sha256"],
        "File id": row["file_id"],
        "Layout": f"{row['layout']} (CMS template {row['version']})",
    }
    st.table(
        pl.DataFrame({"": list(facts), "Value": [ui.plain(v) for v in facts.values()]}),
        hide_index=True,
    )
    st.markdown(f"[The hospital's page]({ui.link('facility', facility=row['facility_id'])})")


def _rates(found: pl.DataFrame) -> None:
    """Each rate as published: one column per rate, one line per published value."""
    st.subheader(f"Rates as published ({found.height})")
    st.caption(
        "**Row** is where the rate is in the file: in a CSV file the record number counting "
        "the three header lines (the first data row is 4; it is the line number unless a "
        "quoted value spans lines; every payer of a wide CSV line shares it); in a JSON "
        "file the 0-based index of the item in `standard_charge_information`."
    )
    fields = ["Row", "Canonical payer", "Plan type", "Basis", "Compared as", "Not compared",
              *(LABELS[c] for c in rates.RAW_COLUMNS)]  # fmt: skip
    shown: dict[str, list[str]] = {"": fields}
    for r in found.head(20).iter_rows(named=True):
        values = [
            str(r["row_no"]), r["payer"] or "", ui.plan_label(r["plan_type"]),
            r["price_basis"], _compared_as(r), rates.not_compared(r["exclusion_reason"]),
            *(_text(r[c]) for c in rates.RAW_COLUMNS),
        ]  # fmt: skip
        shown[f"Row {r['row_no']} · {ui.plain(r['payer_name'] or 'no payer')}"] = [
            ui.plain(v) for v in values
        ]
    # Column names must be unique: two rates of one row differ by their plan.
    keys = list(shown)
    unique = {k if keys.count(k) == 1 else f"{k} ({i})": v
              for i, (k, v) in enumerate(shown.items())}  # fmt: skip
    st.table(pl.DataFrame(unique), hide_index=True)
    if found.height > 20:
        st.caption(f"The first 20 of {found.height} rates; the CSV has them all.")


@ui.page
def main() -> None:
    st.title("Source")
    st.caption("Where a price came from: the hospital's file, and the row of each rate in it.")
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    facility = str(ui.value(P, "facility") or "").strip()
    row_text = str(ui.value(P, "row") or "").strip()
    if not facility:
        st.info(
            "Open this page from a price: **Source** beside it on Find a price. It needs a "
            "hospital (`facility`) and a service (`code`) or a row (`file` and `row`)."
        )
        return
    if row_text and not row_text.isdigit():
        st.warning(f"Row “{ui.plain(row_text)}” is not a row number.")
        return
    code = str(ui.value(P, "code") or "").strip()
    code_type, bare = ui.split_key(code.upper()) if code else (None, None)
    found = snap.read(
        rates.source_rates, facility, code_type, bare,
        ui.value(P, "payer") or None, ui.value(P, "plan") or None,
        ui.value(P, "file") or None, int(row_text) if row_text else None,
    )  # fmt: skip
    chosen = [
        f"service {code}" if code else "", f"payer {ui.value(P, 'payer')}"
        if ui.value(P, "payer") else "", f"plan type {ui.plan_label(ui.value(P, 'plan'))}"
        if ui.value(P, "plan") else "", f"row {row_text}" if row_text else "",
    ]  # fmt: skip
    what = ", ".join(c for c in chosen if c) or "every rate"
    if found.is_empty():
        st.warning(
            f"No rate of hospital “{ui.plain(facility)}” in its current file matches "
            f"{ui.plain(what)}."
        )
        return
    st.markdown(f"**{ui.plain(found['hospital_name'][0] or facility)}** — {ui.plain(what)}")
    _file(found.row(0, named=True))
    _rates(found)
    st.download_button(
        "Download these rates (CSV)",
        rates.source_csv(found),
        f"source-{facility}.csv",
        "text/csv",
        key=f"{P}.csv",
    )
    ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
