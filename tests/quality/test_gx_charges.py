"""The batch suites: a good batch passes; each kind of bad batch fails the right expectations."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from hpt.pipeline.steps import ingest_file
from quality.gate import GateResult, validate_batch
from tests.quality.batches import edited, loaded_batch, staged
from warehouse.db import Warehouse, writer


def failing(result: GateResult) -> set[tuple[str, str | None]]:
    return {(o.expectation, o.column) for o in result.outcomes if not o.success}


@pytest.fixture
def batch(tmp_path: Path) -> tuple[Path, int]:
    return loaded_batch(tmp_path)


def test_good_batch_passes_and_summary_is_json(batch: tuple[Path, int]) -> None:
    path, rows = batch
    result = validate_batch(staged(path, rows), previous_rows=rows)
    assert failing(result) == set()
    assert result.outcome == "passed" and result.status == "loaded"
    summary = json.loads(json.dumps(result.as_dict()))
    assert summary["evaluated"] == len(result.outcomes) > 20
    assert summary["failed"] == []


def test_all_prices_null_is_quarantined(tmp_path: Path, batch: tuple[Path, int]) -> None:
    path, rows = batch
    prices = ", ".join(
        f"NULL::DOUBLE AS {c}"
        for c in ("gross_charge", "discounted_cash", "negotiated_dollar", "negotiated_percentage",
                  "deidentified_min", "deidentified_max", "median_allowed", "p10_allowed",
                  "p90_allowed", "estimated_amount")
    ) + ", NULL::VARCHAR AS negotiated_algorithm"  # fmt: skip
    bad = edited(path, tmp_path / "null.parquet", replace=prices)
    result = validate_batch(staged(bad, rows), previous_rows=None)
    assert failing(result) == {("expect_column_values_to_be_in_set", "has_price")}
    assert result.outcome == "quarantined" and result.status is None
    assert "has_price" in result.message
    json.dumps(result.as_dict())


def test_negative_prices_are_quarantined(tmp_path: Path, batch: tuple[Path, int]) -> None:
    path, rows = batch
    replace = "-gross_charge AS gross_charge, -negotiated_dollar AS negotiated_dollar"
    bad = edited(path, tmp_path / "neg.parquet", replace=replace)
    result = validate_batch(staged(bad, rows), previous_rows=None)
    blocking = {(o.expectation, o.column) for o in result.failed("blocking")}
    assert blocking == {
        ("expect_column_values_to_be_between", "gross_charge"),
        ("expect_column_values_to_be_between", "negotiated_dollar"),
    }
    # Negated dollars also fall outside [min, max]: recorded as warnings.
    assert {o.column for o in result.failed("warning")} == {"negotiated_dollar,deidentified_min"}
    assert result.outcome == "quarantined"
    gross = next(o for o in result.failed("blocking") if o.column == "gross_charge")
    assert gross.unexpected_count and gross.unexpected_count > 0
    assert all(v < 0 for v in gross.observed_value)


def test_a_few_credit_lines_are_tolerated(tmp_path: Path, batch: tuple[Path, int]) -> None:
    """`mostly`: one negative adjustment line among thousands is not a broken column."""
    path, rows = batch
    replace = "CASE WHEN row_no = 10 THEN -50.0 ELSE gross_charge END AS gross_charge"
    bad = edited(path, tmp_path / "credit.parquet", replace=replace)
    result = validate_batch(staged(bad, rows), previous_rows=None)
    gross = next(
        o for o in result.outcomes
        if o.column == "gross_charge" and o.expectation == "expect_column_values_to_be_between"
    )  # fmt: skip
    assert gross.success and gross.unexpected_count == 1
    assert result.outcome == "passed"


def test_keys_codes_minmax_rowcount_and_enums(tmp_path: Path, batch: tuple[Path, int]) -> None:
    path, rows = batch
    replace = (
        "NULL::VARCHAR AS description, 'ER' AS setting, "
        "[]::STRUCT(type VARCHAR, code VARCHAR)[] AS codes, NULL::VARCHAR AS modifiers, "
        "deidentified_max AS deidentified_min, deidentified_min AS deidentified_max, "
        "CASE WHEN negotiated_percentage IS NOT NULL THEN 5000.0 END AS negotiated_percentage"
    )
    bad = edited(path, tmp_path / "keys.parquet", replace=replace)
    result = validate_batch(staged(bad, rows + 7), previous_rows=None)
    assert {(o.expectation, o.column) for o in result.failed("blocking")} == {
        ("expect_table_row_count_to_equal", None),
        ("expect_column_values_to_not_be_null", "description"),
        ("expect_column_values_to_be_between", "code_count"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "deidentified_max,deidentified_min"),
    }
    warnings = {(o.expectation, o.column) for o in result.failed("warning")}
    assert ("expect_column_values_to_be_in_set", "setting") in warnings
    assert ("expect_column_values_to_be_between", "negotiated_percentage") in warnings
    count = next(o for o in result.outcomes if o.expectation == "expect_table_row_count_to_equal")
    assert count.observed_value == rows
    json.dumps(result.as_dict())


def test_half_the_rows_is_held(tmp_path: Path, batch: tuple[Path, int]) -> None:
    path, rows = batch
    half = edited(path, tmp_path / "half.parquet", where="row_no % 2 = 0")
    kept = duckdb.sql(f"SELECT count(*) FROM '{half}'").fetchall()[0][0]
    result = validate_batch(staged(half, kept), previous_rows=rows)
    assert failing(result) == {("expect_table_row_count_to_be_between", None)}
    assert result.outcome == "held" and result.status == "held"
    assert "hpt accept f1" in result.message and "50%" in result.message
    # Just above the threshold passes.
    result = validate_batch(staged(path, rows), previous_rows=int(rows * 1.9))
    assert result.outcome == "passed"


def test_bad_code_types_warn(tmp_path: Path, batch: tuple[Path, int]) -> None:
    path, rows = batch
    replace = "[{'type': 'XYZ', 'code': '1'}] AS codes"
    bad = edited(path, tmp_path / "codes.parquet", replace=replace)
    result = validate_batch(staged(bad, rows), previous_rows=None)
    assert failing(result) == {("expect_column_values_to_be_null", "unknown_code_type")}
    assert result.outcome == "passed" and "unknown_code_type" in result.message
    (unknown,) = result.failed("warning")
    assert unknown.unexpected_count == rows and unknown.observed_value == ["XYZ"] * 5


SAMPLES = [
    "real/marthas-vineyard-hospital_v3_tall.csv",
    "real/avenues-recovery-valley-forge_v2_tall.csv",
    "cms/v3.0.0_tall.csv",
    "cms/v2.0.0_tall.csv",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_reference_samples_pass_the_gate(samples: Path, wh: Warehouse, name: str) -> None:
    result = ingest_file(samples / name, wh, publish_after=False)
    assert result.outcome == "loaded", result.message
    with writer(wh) as con:
        failed = con.execute(
            "SELECT severity, expectation, \"column\" FROM quality_results "
            "WHERE file_id = ? AND NOT success", [result.file_id]
        ).fetchall()  # fmt: skip
    assert [f for f in failed if f[0] == "blocking"] == []
