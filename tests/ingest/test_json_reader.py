"""The JSON reader on the CMS examples, synthetic files of every shape, and broken JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.synthetic.json_file import json_file, write_json
from devtools.synthetic.model import items, make_hospital
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, reader


def independent_counts(path: Path) -> tuple[int, float, int]:
    """Rows, sum of negotiated dollars and item count, counted with Python's json module.

    One row per payer entry, one per standard_charges entry without payers, one per
    modifier × payer entry.
    """
    root = json.loads(path.read_bytes().decode("utf-8-sig"))
    rows, dollars = 0, 0.0
    for item in root["standard_charge_information"]:
        for charge in item.get("standard_charges") or [{}]:
            payers = charge.get("payers_information") or []
            rows += len(payers) or 1
            dollars += sum(float(p.get("standard_charge_dollar", 0)) for p in payers)
    for modifier in root.get("modifier_information", []):
        rows += len(modifier.get("modifier_payer_information") or []) or 1
    return rows, dollars, len(root["standard_charge_information"])


def loaded(wh: Warehouse) -> tuple[int, float]:
    return (
        reader(wh)
        .sql("SELECT count(*), coalesce(sum(negotiated_dollar), 0) FROM standard_charges")
        .fetchall()[0]
    )


@pytest.mark.parametrize("name", ["cms/v3.0.0.json", "cms/v2.0.0.json"])
def test_cms_examples_load_every_row_and_dollar(samples: Path, wh: Warehouse, name: str) -> None:
    path = samples / name
    rows, dollars, item_count = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert (result.layout, result.rows) == ("json", rows)
    assert loaded(wh) == (rows, pytest.approx(dollars, rel=1e-9))
    stored = reader(wh).sql("SELECT item_count, layout FROM files").fetchall()
    assert stored == [(item_count, "json")]


def test_v3_metadata_and_modifier_rows(samples: Path, wh: Warehouse) -> None:
    result = ingest_file(samples / "cms/v3.0.0.json", wh)
    assert (result.facility_id, result.version, result.hospital_name) == (
        "ca-50056",
        "3.0.0",
        "West Mercy Hospital",
    )
    con = reader(wh)
    # Modifier rows: numbered after the 22 items, code in `modifiers`, payer text as notes.
    rows = con.sql(
        "SELECT row_no, modifiers, payer_name, payer_notes FROM standard_charges "
        "WHERE description = 'Co-surgeon' ORDER BY payer_name"
    ).fetchall()
    assert rows[0][:3] == (23, "62", "Platform Health Insurance")
    assert rows[0][3].startswith("62.5% of the amount")
    # An item's row_no is its index in standard_charge_information.
    assert con.sql(
        "SELECT DISTINCT row_no FROM standard_charges WHERE description LIKE 'MRI of brain%'"
    ).fetchall() == [(0,)]


def test_synthetic_v3_and_v2_with_metadata_last_and_bom(tmp_path: Path, wh: Warehouse) -> None:
    for version, patho in (("3.0.0", ["metadata_last", "bom"]), ("2.0.0", ["pretty"])):
        path = tmp_path / f"h-{version}.json"
        json_file(path, n_items=300, version=version, seed=4, pathologies=patho)
        rows, dollars, _ = independent_counts(path)
        facility = f"f-{version.replace('.', '-')}"
        result = ingest_file(path, wh, facility_id=facility)
        assert result.outcome == "loaded", result.message
        assert result.rows == rows
        assert result.version == version
        assert result.hospital_name == make_hospital(4).name
        total = (
            reader(wh)
            .sql(
                "SELECT sum(negotiated_dollar) FROM standard_charges WHERE facility_id = ?",
                params=[facility],
            )
            .fetchall()[0][0]
        )
        assert total == pytest.approx(dollars, rel=1e-9)


def test_item_without_payers_and_odd_values(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "odd.json"
    root = {
        "hospital_name": "Odd Hospital",
        "last_updated_on": "2026-02-01",
        "version": "2.2.0",
        "hospital_location": "Odd Hospital",
        "hospital_address": ["1 Main St"],
        "license_information": {"state": "ny"},
        "affirmation": {"affirmation": "…", "confirm_affirmation": True},
        "standard_charge_information": [
            {
                "description": "Gross only",
                "drug_information": {"unit": "2", "type": "ML"},
                "code_information": [{"code": 1234, "type": "cdm"}],
                "standard_charges": [{"setting": "both", "gross_charge": "1,200.50"}],
            },
            {
                "description": "Two settings",
                "code_information": [{"code": "99213", "type": "CPT"}],
                "standard_charges": [
                    {"setting": "inpatient", "gross_charge": 100, "payers_information": []},
                    {
                        "setting": "outpatient",
                        "modifiers": ["26", "TC"],
                        "payers_information": [
                            {
                                "payer_name": "A",
                                "plan_name": "B",
                                "standard_charge_dollar": 80.25,
                                "methodology": "fee schedule",
                            }
                        ],
                    },
                ],
            },
        ],
    }
    path.write_text(json.dumps(root))
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.facility_id == "odd-hospital"
    rows = (
        reader(wh)
        .sql(
            "SELECT row_no, setting, gross_charge, drug_unit, payer_name, negotiated_dollar, "
            "modifiers, codes[1].code FROM standard_charges ORDER BY row_no, setting"
        )
        .fetchall()
    )
    assert rows == [
        (0, "both", 1200.5, 2.0, None, None, None, "1234"),
        (1, "inpatient", 100.0, None, None, None, None, "99213"),
        (1, "outpatient", None, None, "A", 80.25, "26|TC", "99213"),
    ]


def _valid(tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "good.json"
    hospital = make_hospital(9, plans=3)
    write_json(path, hospital, items(hospital, 60, 9), **kwargs)  # type: ignore[arg-type]
    return path


def _assert_failed(wh: Warehouse, path: Path, *words: str) -> str:
    result = ingest_file(path, wh)
    assert result.outcome == "failed"
    assert "\n" not in result.message
    for word in words:
        assert word in result.message, result.message
    assert reader(wh).sql("SELECT count(*) FROM files").fetchall() == [(0,)]
    return result.message


@pytest.mark.parametrize("metadata_last", [False, True])
def test_truncated_mid_item_names_where(tmp_path: Path, wh: Warehouse, metadata_last: bool) -> None:
    good = _valid(tmp_path, pathologies=["metadata_last"] if metadata_last else [])
    data = good.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: len(data) // 2])
    _assert_failed(wh, cut, "truncated", f"byte {len(data) // 2}")


def test_item_cut_short_inside_a_closed_file(tmp_path: Path, wh: Warehouse) -> None:
    """An item broken in the middle of the array: the error names the item number."""
    good = _valid(tmp_path)
    text = good.read_text()
    items_at = text.index('"standard_charge_information"')
    fifth = text.index('{"description"', items_at)
    for _ in range(4):
        fifth = text.index('{"description"', fifth + 1)
    broken = tmp_path / "broken.json"
    broken.write_text(text[:fifth] + '{"description": "cut' + text[fifth + 400 :])
    _assert_failed(wh, broken, "item 4")


def test_two_documents_concatenated(tmp_path: Path, wh: Warehouse) -> None:
    good = _valid(tmp_path)
    twice = tmp_path / "twice.json"
    twice.write_bytes(good.read_bytes() + good.read_bytes())
    _assert_failed(wh, twice, "JSON")


def test_json_with_a_bom_loads(tmp_path: Path, wh: Warehouse) -> None:
    path = _valid(tmp_path, pathologies=["bom"])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.rows == independent_counts(path)[0]


def test_root_array_is_refused(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([{"description": "x", "standard_charges": []}]))
    _assert_failed(wh, path, "root is an array")


def test_root_without_item_array_is_refused(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"hospital_name": "X", "version": "3.0.0"}))
    _assert_failed(wh, path, "standard_charge_information")


def test_wrong_item_shape_names_the_item(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "shape.json"
    item = {"description": "ok", "code_information": [{"code": "1", "type": "CDM"}]}
    bad = {"description": "bad", "code_information": {"code": "1"}}
    path.write_text(
        json.dumps({"hospital_name": "X", "standard_charge_information": [item, item, bad]})
    )
    _assert_failed(wh, path, "item 2", "code_information")


@pytest.mark.parametrize("modifiers", [{"code": "26"}, [{"code": "26"}], [["26"]]])
def test_modifier_that_is_not_text_names_the_item(
    tmp_path: Path, wh: Warehouse, modifiers: object
) -> None:
    path = tmp_path / "modifier.json"
    charge = {"setting": "both", "gross_charge": 1, "modifier_code": "26"}
    item = {
        "description": "ok",
        "code_information": [{"code": "1", "type": "CDM"}],
        "standard_charges": [charge],
    }
    bad = json.loads(json.dumps(item))
    bad["standard_charges"][0]["modifier_code"] = modifiers
    path.write_text(
        json.dumps({"hospital_name": "X", "standard_charge_information": [item, bad, item]})
    )
    _assert_failed(wh, path, "item 1", "modifier_code")


def test_many_small_items_ending_the_root(tmp_path: Path, wh: Warehouse) -> None:
    """Each small item has `], "` inside it: thousands per MB of tail, none the array's end."""
    path = tmp_path / "small.json"
    item = {"description": "V", "code_information": [{"code": "1", "type": "CDM"}],
            "standard_charges": [{"setting": "both", "gross_charge": 1}]}  # fmt: skip
    path.write_text(
        json.dumps({"hospital_name": "Small Items", "standard_charge_information": [item] * 30_000})
    )
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert loaded(wh) == (30_000, 0)
