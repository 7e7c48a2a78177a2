"""The `facility_compliance` view in the published warehouse: verdict, counts, score."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from hpt.pipeline.steps import ingest_file
from tests.quality.builders import charge, write_tall
from warehouse.db import Warehouse, reader, writer
from warehouse.publish import publish


def compliance(wh: Warehouse) -> dict[str, dict[str, object]]:
    frame = reader(wh).sql("SELECT * FROM facility_compliance").pl()
    return {row["facility_id"]: row for row in frame.iter_rows(named=True)}


def test_valid_fresh_attested_file_scores_100(tmp_path: Path, wh: Warehouse) -> None:
    today = dt.date.today().isoformat()
    path = write_tall(tmp_path / "f.csv", [charge()] * 5, last_updated_on=today)
    assert ingest_file(path, wh, facility_id="good").outcome == "loaded"
    row = compliance(wh)["good"]
    assert row["valid"] is True
    assert (row["error_count"], row["alert_count"], row["days_since_update"]) == (0, 0, 0)
    assert row["errors_by_rule"] == {} and row["attestation"] is True
    assert row["compliance_score"] == 100.0


def test_score_components_of_a_flawed_file(tmp_path: Path, wh: Warehouse) -> None:
    old = (dt.date.today() - dt.timedelta(days=500)).isoformat()
    rows = [charge()] * 19 + [charge(standard_charge__methodology="")]
    path = write_tall(tmp_path / "f.csv", rows, last_updated_on=old, statement="false")
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"license_number\|[A-Z]{2}", "license_number|ZZ", text, count=1))
    ingest_file(path, wh, facility_id="flawed")
    row = compliance(wh)["flawed"]
    assert row["valid"] is False
    assert row["errors_by_rule"] == {"header.bad_state": 1, "rule.1": 1}
    assert row["alerts_by_rule"] == {"alert.attestation_false": 1}
    assert (row["file_rules_broken"], row["row_errors"]) == (1, 1)
    freshness = 15 * (730 - 500) / 365
    assert row["score_valid"] == 0 and row["score_header"] == 15
    assert row["score_data"] == pytest.approx(25 * (1 - 10 * 1 / 20))
    assert row["score_freshness"] == pytest.approx(freshness)
    assert row["score_attestation"] == 0
    assert row["compliance_score"] == round(15 + 12.5 + freshness, 1)


def test_facility_without_a_file_scores_0(tmp_path: Path, wh: Warehouse) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()])
    ingest_file(path, wh, facility_id="good")
    with writer(wh) as con:
        con.execute("INSERT INTO facilities (facility_id, hospital_name) VALUES ('none', 'X')")
    publish(wh)
    row = compliance(wh)["none"]
    assert row["file_id"] is None and row["valid"] is False
    assert row["compliance_score"] == 0
