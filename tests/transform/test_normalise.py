"""Normalisation: one place where text becomes typed values, with findings for failures."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.findings import FindingLog
from core.schema import CANONICAL_SCHEMA, CODES
from ingest.values import parse_bool, parse_date
from transform.normalise import standard_charges


def raw(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    data: dict[str, object] = {"row_no": list(range(4, 4 + n)), **columns}
    if "codes" not in data:
        data["codes"] = [[{"type": "CPT", "code": "70551"}]] * n
    return pl.DataFrame(data, schema_overrides={"codes": CODES})


def test_numbers_from_messy_text_and_placeholders_to_null() -> None:
    log = FindingLog()
    out = standard_charges(
        raw(gross_charge=["$1,200.00", " 1200.5 ", ".5", "N/A", "999999999", None, "0.01"]), log
    )
    assert out["gross_charge"].to_list() == [1200.0, 1200.5, 0.5, None, None, None, 0.01]
    assert out.height == 7 and out.schema == CANONICAL_SCHEMA
    assert log.by_rule() == {"value.number": 1, "alert.nine_nines": 1}
    finding = log.frame().filter(pl.col("rule") == "value.number").row(0, named=True)
    assert (finding["row_no"], finding["column"], finding["value"]) == (7, "gross_charge", "N/A")


def test_enums_lower_cased_and_unknown_values_recorded() -> None:
    log = FindingLog()
    out = standard_charges(
        raw(setting=[" Inpatient", "OUTPATIENT", "Both", "ER"],
            methodology=["Fee Schedule", "case  rate", None, "other"],
            drug_unit_type=["ml", "UN", None, "XX"]),
        log,
    )  # fmt: skip
    assert out["setting"].to_list() == ["inpatient", "outpatient", "both", "er"]
    assert out["methodology"].to_list() == ["fee schedule", "case rate", None, "other"]
    assert out["drug_unit_type"].to_list() == ["ML", "UN", None, "XX"]
    assert log.by_rule() == {"value.enum": 2}
    assert set(log.frame()["value"].to_list()) == {"er", "XX"}


def test_codes_cleaned_and_incomplete_pairs_dropped() -> None:
    log = FindingLog()
    codes = [[{"type": " cpt ", "code": " 70 551 "}, {"type": "ms drg", "code": "470"},
              {"type": "RC", "code": None}, {"type": None, "code": "x"}]]  # fmt: skip
    out = standard_charges(raw(description=["MRI"], codes=codes), log)
    assert out["codes"].to_list() == [[{"type": "CPT", "code": "70551"},
                                       {"type": "MS-DRG", "code": "470"}]]  # fmt: skip


CLEAN = [{"type": "MS-DRG", "code": "470"}, {"type": "RC", "code": "0450"}]


@pytest.mark.parametrize(
    ("dirty", "expected"),
    [
        ({"type": "cpt", "code": "99213"}, {"type": "CPT", "code": "99213"}),
        ({"type": "CPT", "code": "j1100 "}, {"type": "CPT", "code": "J1100"}),
        ({"type": "CPT", "code": "é1"}, {"type": "CPT", "code": "É1"}),
        ({"type": "MS DRG", "code": "470"}, {"type": "MS-DRG", "code": "470"}),
        ({"type": "CPT", "code": ""}, None),
        ({"type": "CPT", "code": None}, None),
        (None, None),
    ],
)
def test_one_dirty_code_among_clean_ones_is_cleaned(
    dirty: dict[str, str] | None, expected: dict[str, str] | None
) -> None:
    """Clean batches skip the per-list cleaning; one dirty pair anywhere must not."""
    codes = [CLEAN, [], None, [*CLEAN, dirty]]
    out = standard_charges(raw(description=["a", "b", "c", "d"], codes=codes), FindingLog())
    last = [*CLEAN, expected] if expected else CLEAN
    assert out["codes"].to_list() == [CLEAN, [], None, last]


def test_text_trimmed_and_blank_is_null_rows_never_dropped() -> None:
    log = FindingLog()
    out = standard_charges(raw(description=["  MRI of brain  ", "   ", None]), log)
    assert out["description"].to_list() == ["MRI of brain", None, None]
    assert out["row_no"].to_list() == [4, 5, 6]


def test_findings_are_capped_but_counted_exactly() -> None:
    log = FindingLog(cap_per_rule=10)
    standard_charges(raw(gross_charge=["bad"] * 5000), log)
    assert log.by_rule() == {"value.number": 5000}
    assert log.frame().height == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-04-01", dt.date(2026, 4, 1)), ("4/1/2026", dt.date(2026, 4, 1)),
     ("04/01/2026", dt.date(2026, 4, 1)), ("13/45/2026", None), ("soon", None), ("", None)],
)  # fmt: skip
def test_dates(text: str, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


def test_booleans() -> None:
    assert [parse_bool(v) for v in ["TRUE", " true ", "false", "maybe", None]] == [
        True, True, False, None, None]  # fmt: skip
