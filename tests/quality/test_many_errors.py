"""A file full of errors finishes with exact counts and capped detail, in `hpt validate`
and in the ingest's single pass (findings stored in the warehouse)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from hpt.pipeline.steps import ingest_file
from tests.quality.builders import ITEM, PAYER_V3, TAIL, charge, check, general
from warehouse.db import Warehouse, writer

ROWS = 200_000
CAP = 50
COLUMNS = [*ITEM, "payer_name", "plan_name", *PAYER_V3, *TAIL]


def broken_file(path: Path, rows: int) -> Path:
    """`rows` data rows, each breaking three rules: a `$` number, no methodology (rule 1),
    no min (rule 6); every 7th row also has an unknown code type."""
    names, values = general("3.0.0")
    bad = charge(
        standard_charge__gross="$1,200.00", standard_charge__methodology="", standard_charge__min=""
    )
    odd = {**bad, "code|1|type": "CPT4"}
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerows([names, values, COLUMNS])
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow([bad.get(c, "") for c in COLUMNS])
    odd_line = io.StringIO()
    csv.writer(odd_line, lineterminator="\n").writerow([odd.get(c, "") for c in COLUMNS])
    block = line.getvalue() * 6 + odd_line.getvalue()
    body = block * (rows // 7) + line.getvalue() * (rows % 7)
    path.write_text(buffer.getvalue() + body, encoding="utf-8")
    return path


EXPECTED = {"value.number": ROWS, "rule.1": ROWS, "rule.6": ROWS, "value.enum": ROWS // 7}


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_FINDINGS_CAP", str(CAP))


@pytest.mark.usefixtures("capped")
def test_validate_counts_every_error_and_keeps_capped_detail(tmp_path: Path) -> None:
    result = check(broken_file(tmp_path / "broken.csv", ROWS))
    assert result.rows == ROWS
    assert result.log.by_rule() == EXPECTED
    stored = result.log.frame()
    assert stored.group_by("rule").len().sort("rule").rows() == [(r, CAP) for r in sorted(EXPECTED)]
    # Detail points at real rows, in file order: data starts at row 4.
    first = stored.filter(rule="rule.1")["row_no"].to_list()
    assert first == list(range(4, 4 + CAP))


@pytest.mark.usefixtures("capped")
def test_max_errors_stops_early(tmp_path: Path) -> None:
    from hpt.pipeline.read import validate_path

    result = validate_path(broken_file(tmp_path / "broken.csv", 1000), max_errors=10)
    assert not result.valid
    assert result.stopped_after is not None and result.stopped_after >= 10


@pytest.mark.usefixtures("capped")
def test_ingest_stores_exact_counts_and_capped_findings(tmp_path: Path, wh: Warehouse) -> None:
    rows = 20_000  # the ingest adds Parquet writing and loading: fewer rows, same point
    outcome = ingest_file(broken_file(tmp_path / "broken.csv", rows), wh, publish_after=False)
    assert outcome.rows == rows
    with writer(wh) as con:
        counts = dict(
            con.execute(
                "SELECT rule, finding_count FROM finding_counts WHERE file_id = ?",
                [outcome.file_id],
            ).fetchall()
        )
        stored = dict(
            con.execute(
                "SELECT rule, count(*) FROM findings WHERE file_id = ? GROUP BY rule",
                [outcome.file_id],
            ).fetchall()
        )
    expected = {"value.number": rows, "rule.1": rows, "rule.6": rows, "value.enum": rows // 7}
    for rule, n in expected.items():
        assert counts[rule] == n
        assert stored[rule] == CAP


def test_ingest_without_validation_records_only_reader_and_normaliser_findings(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = broken_file(tmp_path / "broken.csv", 70)
    monkeypatch.setenv("HPT_VALIDATE", "0")
    quiet = ingest_file(path, wh, publish_after=False, facility_id="off")
    monkeypatch.setenv("HPT_VALIDATE", "1")
    checked = ingest_file(path, wh, publish_after=False, facility_id="on")
    assert quiet.rows == checked.rows == 70
    assert "rule.1" not in quiet.findings and checked.findings["rule.1"] == 70
