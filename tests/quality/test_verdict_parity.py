"""`hpt validate` and the ingest give a file the same verdict and the same findings: both
run the one pass of `hpt.pipeline.read`, and the warehouse keeps what the ingest found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.findings import Severity
from hpt.pipeline.steps import ingest_file
from tests.quality.builders import charge, check, write_json, write_tall, write_wide
from warehouse.db import Warehouse, reader
from warehouse.publish import publish

PCT = {
    "standard_charge__negotiated_dollar": "",
    "standard_charge__negotiated_percentage": "50",
    "median_amount": "300",
    "10th_percentile": "200",
    "90th_percentile": "400",
    "count": "14",
}
FLAWED = [
    charge(),
    charge(description="B", standard_charge__min=""),  # rule.6
    charge(description="C", standard_charge__methodology="capitation"),  # value.enum
    charge(description="D", **{**PCT, "median_amount": "999999999"}),  # alert
]


def count_as_number(path: Path) -> Path:
    """The JSON file with a v3 `count` written as a number (the schema wants a string)."""
    root = json.loads(path.read_text(encoding="utf-8"))
    for item in root["standard_charge_information"]:
        for standard in item["standard_charges"]:
            for payer in standard.get("payers_information", []):
                if "count" in payer:
                    payer["count"] = int(payer["count"])
    path.write_text(json.dumps(root), encoding="utf-8")
    return path


def files(folder: Path) -> dict[str, Path]:
    return {
        "tall-valid": write_tall(folder / "tall-valid.csv", [charge()] * 3),
        "tall-invalid": write_tall(folder / "tall-invalid.csv", FLAWED, statement="false"),
        "wide-invalid": write_wide(folder / "wide-invalid.csv", FLAWED, "2.2.0"),
        "json-valid": write_json(folder / "json-valid.json", [charge(), charge(**PCT)]),
        "json-invalid": count_as_number(write_json(folder / "json-invalid.json", FLAWED)),
        "json-v2-invalid": write_json(folder / "json-v2-invalid.json", FLAWED, "2.0.0"),
        # Only the JSON schema finds this one wrong (a v3 count must be a string).
        "json-schema-invalid": count_as_number(
            write_json(folder / "json-schema-invalid.json", [charge(**PCT)])
        ),
    }


COLUMNS = 'rule, severity, row_no, "column", value, message'


def test_ingest_and_validate_agree(tmp_path: Path, wh: Warehouse) -> None:
    checked = {}
    for name, path in files(tmp_path).items():
        validation = check(path)
        ingested = ingest_file(path, wh, facility_id=name, publish_after=False)
        assert ingested.outcome == "loaded", (name, ingested.message)
        assert (ingested.valid, ingested.findings) == (
            validation.valid,
            validation.log.by_rule(),
        ), name
        checked[name] = (validation, ingested.file_id)
    assert {name: v.valid for name, (v, _) in checked.items()} == {
        "tall-valid": True,
        "tall-invalid": False,
        "wide-invalid": False,
        "json-valid": True,
        "json-invalid": False,
        "json-v2-invalid": False,
        "json-schema-invalid": False,
    }
    publish(wh)
    con = reader(wh)
    for name, (validation, file_id) in checked.items():
        [compliance] = con.sql(
            "SELECT valid, error_count, alert_count, errors_by_rule, alerts_by_rule "
            "FROM facility_compliance WHERE facility_id = ?",
            params=[name],
        ).fetchall()
        log = validation.log
        by_severity = {
            severity: {r: n for r, n in log.by_rule().items() if log.severities[r] == severity}
            for severity in ("error", "alert")
        }
        assert compliance == (
            validation.valid,
            log.count(Severity.ERROR),
            log.count(Severity.ALERT),
            by_severity["error"],
            by_severity["alert"],
        ), name
        stored = con.sql(
            f"SELECT {COLUMNS} FROM findings WHERE file_id = ?", params=[file_id]
        ).fetchall()
        assert sorted(stored, key=_order) == sorted(log.frame().rows(), key=_order), name


def _order(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple((value is None, value) for value in row)


@pytest.mark.parametrize("name", ["cms/v3.0.0.json", "cms/v2.0.0_tall.csv"])
def test_samples_agree(samples: Path, wh: Warehouse, name: str) -> None:
    validation = check(samples / name)
    ingested = ingest_file(samples / name, wh, facility_id="sample", publish_after=False)
    assert ingested.valid is validation.valid is True
    assert ingested.findings == validation.log.by_rule()
