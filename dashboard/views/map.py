"""Map: the hospitals, placed by ZIP code and coloured by the chosen service's price."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import pydeck as pdk
import streamlit as st

from dashboard import geo, reads, ui
from dashboard.snapshot import Snapshot, snapshot
from warehouse.queries import compare

P = "map"
DEFAULTS: dict[str, Any] = {"q": "", "code": "", "state": "", "payer": ""}
GREY = [140, 140, 140, 200]


def _colour(share: float | None) -> list[int]:
    """Green (cheapest) → amber → red (dearest); grey when the hospital has no price."""
    if share is None:
        return GREY
    return [int(40 + 200 * share), int(170 - 110 * share), 60, 220]


def _prices(snap: Snapshot, code: str, state: str | None, payer: str | None) -> pl.DataFrame:
    code_type, bare = ui.split_key(code)
    if payer:
        rows = snap.read(compare, code, state=state, payer=payer)
        return rows.group_by("facility_id").agg(pl.col("median_dollar").median().alias("price"))
    rows = snap.read(reads.facility_prices, code_type, bare, state)
    return rows.group_by("facility_id").agg(pl.col("median_dollar").median().alias("price"))


def _placed(con: duckdb.DuckDBPyConnection, state: str | None) -> tuple[pl.DataFrame, list[str]]:
    """Facilities with coordinates from their ZIP — those with a current file, and the
    registry's without one ("no file yet" or "failing", in `status`); and the names of
    those without a ZIP. Read through `Snapshot.lookup`: placed once per snapshot."""
    rows, missing = [], []
    unloaded = reads.without_file(con)
    listed = [*reads.facilities(con).iter_rows(named=True),
              *(unloaded.iter_rows(named=True) if unloaded is not None else [])]  # fmt: skip
    for r in listed:
        if state and r["state"] != state:
            continue
        point = geo.zip_point(r["zip"])
        if point is None:
            missing.append(r["hospital_name"] or r["facility_id"])
        else:
            city = r["city"] or geo.zip_city(r["zip"])
            status = r.get("status")
            if status and r.get("last_attempt_at"):
                status = f"{status} (last attempt {r['last_attempt_at']:%Y-%m-%d %H:%M} UTC)"
            rows.append({"facility_id": r["facility_id"], "hospital_name": r["hospital_name"],
                         "state": r["state"], "zip": r["zip"], "city": city,
                         "status": status, "lat": point[0], "lon": point[1]})  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None), missing


def _deck(data: pl.DataFrame) -> pdk.Deck:
    layer = pdk.Layer(
        "ScatterplotLayer",
        data=data.select("hospital_name", "price_text", "lat", "lon", "colour").to_dicts(),
        get_position=["lon", "lat"],
        get_fill_color="colour",
        get_radius=9000,
        radius_min_pixels=6,
        radius_max_pixels=30,
        pickable=True,
    )
    labels = pdk.Layer(
        "TextLayer",
        data=data.select("hospital_name", "lat", "lon").to_dicts(),
        get_position=["lon", "lat"],
        get_text="hospital_name",
        get_size=13,
        get_color=[60, 60, 60, 255],
        get_pixel_offset=[0, -18],
    )
    view = pdk.data_utils.compute_view(data.select("lon", "lat").to_numpy().tolist())
    view.zoom = min(view.zoom or 6, 9)
    # No base map: the page must work offline and never fetch tiles; names place the dots.
    return pdk.Deck(
        layers=[layer, labels],
        initial_view_state=view,
        map_provider=None,
        tooltip={"text": "{hospital_name}\n{price_text}"},
    )


def _links(code: str, state: str | None, payer: str | None) -> None:
    """The chosen service on the other pages (the link text is ours; the values travel
    URL-encoded)."""
    find = ui.link("", code=code, state=state, payer=payer)
    other = ui.link("compare", code=code, state=state, payer=payer)
    st.markdown(f"[Find a price for this service]({find}) · [Compare it by payer]({other})")


@ui.page
def main() -> None:
    st.title("Map")
    st.caption("Hospitals placed by ZIP code; choose a service to colour them by its price.")
    ui.init_from_url(P, DEFAULTS)
    snap = snapshot()
    try:
        ui.canonical_keys(snap, P, "code")
        text = st.text_input("Service", key=f"{P}.q", placeholder="knee MRI, 99213 …")
        chosen = ui.value(P, "code") or ""
        options = ui.code_options(snap, text, [chosen] if chosen else [])
        if chosen not in options:
            st.session_state[f"{P}.code"] = ""
        left, mid, right = st.columns(3)
        left.selectbox(
            "Colour by the price of",
            ["", *options],
            key=f"{P}.code",
            format_func=lambda k: options.get(k, "No service (just the hospitals)"),
        )
        states = snap.lookup(reads.states)
        if ui.value(P, "state") not in ["", *states]:
            st.session_state[f"{P}.state"] = ""
        mid.selectbox("State", ["", *states], key=f"{P}.state", format_func=lambda s: s or "All")
        payers = snap.lookup(reads.payer_plans)["payer"].unique().sort().to_list()
        if ui.value(P, "payer") not in ["", *payers]:
            st.session_state[f"{P}.payer"] = ""
        right.selectbox(
            "Payer", ["", *payers], key=f"{P}.payer", format_func=lambda p: p or "All payers"
        )
        code, state = ui.value(P, "code") or "", ui.value(P, "state") or None
        placed, missing = snap.lookup(_placed, state)
        if placed.is_empty():
            st.info("No hospital could be placed on the map (no ZIP code known).")
            return
        prices = (
            _prices(snap, code, state, ui.value(P, "payer") or None)
            if code
            else pl.DataFrame(schema={"facility_id": pl.String, "price": pl.Float64})
        )
        data = placed.join(prices, on="facility_id", how="left")
        known = data["price"].drop_nulls().to_list()
        low, high = (min(known), max(known)) if known else (0.0, 0.0)
        span = high - low
        data = data.with_columns(
            ui.mapped(data["price"], ui.money, skip_nulls=False).alias("price_text"),
            ui.mapped(
                data["price"],
                lambda p: _colour(None if p is None else ((p - low) / span if span else 0.0)),
                pl.List(pl.Int64), skip_nulls=False,
            ).alias("colour"),
        ).with_columns(
            pl.coalesce("status", "price_text").alias("price_text"),
        ).sort("price", "status", "hospital_name", nulls_last=True)  # fmt: skip
        if code and data["price"].is_null().all():
            st.warning("None of these hospitals has a comparable price for this service.")
        elif code:
            # `plain`: two `$` amounts in one line would render as LaTeX between them.
            st.caption(
                f"Green is the cheapest ({ui.plain(ui.money(low))}), red the dearest "
                f"({ui.plain(ui.money(high))}); grey hospitals publish no comparable price for it."
            )
        if code:
            _links(code, state, ui.value(P, "payer") or None)
        st.pydeck_chart(_deck(data), height=460, alt="Map of hospitals coloured by price")
        loaded = set(snap.lookup(reads.facilities)["facility_id"].to_list())
        pages = [ui.link("facility", facility=f) if f in loaded else None
                 for f in data["facility_id"].to_list()]  # fmt: skip
        data = data.with_columns(pl.Series("page", pages, dtype=pl.String))
        st.dataframe(
            data.select("hospital_name", "page", "city", "state", "zip", "price", "status"),
            hide_index=True,
            width="stretch",
            column_config={
                "hospital_name": "Hospital",
                "page": st.column_config.LinkColumn(
                    "Facility page", display_text="Open", help="The hospital's file and prices"
                ),
                "city": "City",
                "state": "State",
                "zip": "ZIP",
                "price": ui.money_column("Median comparable price"),
                "status": "File (tracked hospitals without one)",
            },
        )
        if missing:
            st.caption("Not on the map (no known ZIP code): " + ui.plain(", ".join(missing)))
    finally:
        ui.write_url(P, list(DEFAULTS), DEFAULTS)


main()
