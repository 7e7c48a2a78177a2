"""The `facility_compliance` view in the published warehouse: verdict, counts, score."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from core.files import FileMeta, Layout, StagedFile
from core.findings import FINDINGS_SCHEMA, Severity
from core.schema import STORED_SCHEMA
from hpt.pipeline.steps import ingest_file
from tests.quality.builders import charge, write_tall
from tests.warehouse.charges import rate
from warehouse.db import Warehouse, reader, writer
from warehouse.load import load_staged
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


def staged_with_findings(
    wh: Warehouse, facility_id: str, rows: int, counts: dict[str, tuple[Severity, int]]
) -> StagedFile:
    """A staged file of `rows` charges whose checks found `counts` (rule → severity, count),
    as the ingest pass hands it to the loader (the schema checks' `schema.*` findings
    arrive the same way as every other finding)."""
    file_id = f"{facility_id}-1"
    frame = pl.DataFrame(
        [{"file_id": file_id, "facility_id": facility_id, "row_no": i, **rate("70551", "A", "P",
          100.0)} for i in range(rows)],
        schema=STORED_SCHEMA,
    )  # fmt: skip
    folder = wh.charges_path(facility_id, file_id)
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "part-00000.parquet")
    meta = FileMeta(hospital_name="H", last_updated_on=dt.date.today(), version="3.0.0",
                    license_number="1", license_state="TX", attestation=True)  # fmt: skip
    return StagedFile(
        facility_id=facility_id, file_id=file_id, source="test", sha256=file_id, bytes=1,
        layout=Layout.JSON, encoding="utf-8", meta=meta, data_path=str(folder),
        row_count=rows, item_count=rows, findings=pl.DataFrame(schema=FINDINGS_SCHEMA),
        finding_counts=counts, seconds=0.0,
    )  # fmt: skip


def test_every_error_finding_weighs_schema_ones_included(wh: Warehouse) -> None:
    counts = {
        "schema.type": (Severity.ERROR, 3),  # e.g. a v3 `count` given as a number
        "schema.required": (Severity.ERROR, 1),
        "rule.1": (Severity.ERROR, 2),
        "header.bad_state": (Severity.ERROR, 1),
        "header.blank_column": (Severity.ALERT, 1),  # tolerated in v3.0: an alert
        "alert.nine_nines": (Severity.ALERT, 5),
    }
    load_staged(wh, staged_with_findings(wh, "schema", 100, counts))
    publish(wh)
    row = compliance(wh)["schema"]
    assert (row["valid"], row["error_count"], row["alert_count"]) == (False, 7, 6)
    assert row["errors_by_rule"] == {
        "header.bad_state": 1, "rule.1": 2, "schema.required": 1, "schema.type": 3,
    }  # fmt: skip
    # header.* rules weigh per distinct rule; every other error per finding, as row errors.
    assert (row["file_rules_broken"], row["row_errors"]) == (1, 6)
    assert (row["score_valid"], row["score_header"]) == (0, 15)
    assert row["score_data"] == pytest.approx(25 * (1 - 10 * 6 / 100))
    assert row["compliance_score"] == round(15 + 25 * 0.4 + 15 + 10, 1)
    # Schema errors alone make the file invalid: the verdict is the complete one.
    only_schema = {"schema.type": counts["schema.type"]}
    load_staged(wh, staged_with_findings(wh, "only-schema", 100, only_schema))
    publish(wh)
    assert compliance(wh)["only-schema"]["score_valid"] == 0
