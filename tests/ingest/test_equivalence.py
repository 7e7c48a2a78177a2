"""The CMS examples encode the same West Mercy data as tall CSV, wide CSV and JSON: all three
must load into the same standard-charge rows.

The examples themselves differ in a few places, each checked and explained below rather
than hidden:
- modifier rows: the CSV layouts put the adjustment in `negotiated_percentage` (150 for
  "150% payment adjustment"); JSON `modifier_information[]` only has the payer's text, so
  JSON modifier rows have no percentage.
- descriptions are free text and were edited between the examples (the tall files split
  "Behavioral health … per diem" into "days 1-3"/"days 4-5"/"days 6+" rows; v2 uses an em
  dash in "Treatment or observation room — observation room" in one layout only).
- algorithm texts were reworded between the v2 examples.
- de-identified min/max: in v3 the tall example says min 150 for "Basic metabolic panel"
  where the JSON and wide examples say 125; in v2 the JSON gives one item-level min/max for
  the behavioral-health item where the tall/wide rows carry per-row values.
- v2 payer names in the wide header use underscores (`Platform_Health_Insurance`).
- v2 wide repeats an item row three times (one per algorithm of the PPO), which repeats
  the HMO rate too: the same rows as a set, two more as a bag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, reader

LAYOUTS = {"json": "{v}.json", "tall": "{v}_tall.csv", "wide": "{v}_wide.csv"}

#: What every layout must agree on, for item rows (those with codes).
ITEM_KEY = """
    array_to_string(list_sort(list_transform(codes, lambda c: c.type || ':' || c.code)), ' ')
    AS codes, setting,
    replace(payer_name, '_', ' ') AS payer, plan_name, negotiated_dollar,
    negotiated_percentage, negotiated_algorithm IS NOT NULL AS has_algorithm, methodology,
    gross_charge, discounted_cash, drug_unit, drug_unit_type, modifiers
"""
#: For modifier rows (no codes): which modifier applies to which payer/plan.
MODIFIER_KEY = "description, modifiers, setting, replace(payer_name, '_', ' '), plan_name"


def _load(samples: Path, wh: Warehouse, version: str) -> None:
    for layout, pattern in LAYOUTS.items():
        path = samples / "cms" / pattern.format(v=version)
        result = ingest_file(path, wh, facility_id=layout, publish_after=layout == "wide")
        assert result.outcome == "loaded", result.message


def _rows(wh: Warehouse, layout: str, select: str, where: str) -> set[tuple[object, ...]]:
    sql = f"SELECT DISTINCT {select} FROM standard_charges WHERE facility_id = ? AND {where}"
    return set(reader(wh).sql(sql, params=[layout]).fetchall())


@pytest.mark.parametrize("version", ["v3.0.0", "v2.0.0"])
def test_three_layouts_same_standard_charges(samples: Path, wh: Warehouse, version: str) -> None:
    _load(samples, wh, version)
    items = {lay: _rows(wh, lay, ITEM_KEY, "len(codes) > 0") for lay in LAYOUTS}
    assert items["json"] == items["tall"] == items["wide"]
    assert len(items["json"]) >= 20 if version == "v3.0.0" else len(items["json"]) >= 14
    modifiers = {lay: _rows(wh, lay, MODIFIER_KEY, "len(codes) = 0") for lay in LAYOUTS}
    assert modifiers["json"] == modifiers["tall"] == modifiers["wide"]
    assert len(modifiers["json"]) == 6
    # The CSV layouts carry the adjustment as a percentage; JSON only as the payer's text.
    percent = "negotiated_percentage, payer_notes"
    json_mods = _rows(wh, "json", percent, "len(codes) = 0")
    assert {p for p, _ in json_mods} == {None}
    assert {notes.split("%")[0] for _, notes in json_mods} == {
        "150",
        "145",
        "62.5",
        "60",
        "93.75",
        "87",
    }
    tall_mods = _rows(wh, "tall", "negotiated_percentage", "len(codes) = 0")
    assert tall_mods == {(150.0,), (145.0,), (62.5,), (60.0,), (93.75,), (87.0,)}


@pytest.mark.parametrize("version", ["v3.0.0", "v2.0.0"])
def test_dollars_and_min_max_agree_but_for_the_known_edits(
    samples: Path, wh: Warehouse, version: str
) -> None:
    _load(samples, wh, version)
    money = "array_to_string(list_sort(list_transform(codes, lambda c: c.code)), ' ') AS codes, "
    money += "payer_name IS NULL, "
    money += "negotiated_dollar, deidentified_min, deidentified_max"
    rows = {lay: _rows(wh, lay, money, "len(codes) > 0") for lay in LAYOUTS}
    if version == "v3.0.0":
        assert rows["json"] == rows["wide"]
        differ = rows["tall"] ^ rows["wide"]
        # Basic metabolic panel (CPT 80048): the tall example's min is 150, not 125.
        assert {(codes, m) for codes, _, _, m, _ in differ} == {
            ("301 80048", 150.0),
            ("301 80048", 125.0),
        }
    else:
        assert rows["tall"] == rows["wide"]
        differ = rows["json"] ^ rows["tall"]
        # The behavioral-health item (HCPCS H0017): item-level min/max in JSON only.
        assert {codes for codes, *_ in differ} == {"H0017"}
    # One row per payer entry in JSON and tall alike: the same dollars as a bag, too.
    sums = {
        lay: reader(wh)
        .sql(
            "SELECT sum(negotiated_dollar) FROM standard_charges WHERE facility_id = ?",
            params=[lay],
        )
        .fetchall()[0][0]
        for lay in ("json", "tall")
    }
    assert sums["json"] == pytest.approx(sums["tall"])
