"""The tall CSV reader on the CMS examples, real hospital files and every tolerance."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from unittest import mock

import pytest

from devtools.synthetic.model import items, make_hospital
from devtools.synthetic.tall import PATHOLOGIES, tall_file, write_tall
from hpt.pipeline.steps import ingest_file
from ingest import csv_tall
from warehouse.db import Warehouse, reader

TALL_SAMPLES = [
    "cms/v3.0.0_tall.csv",
    "cms/v2.0.0_tall.csv",
    "real/marthas-vineyard-hospital_v3_tall.csv",
    "real/avenues-recovery-valley-forge_v2_tall.csv",
]


def independent_counts(path: Path) -> tuple[int, float]:
    """Data rows and the sum of negotiated dollars, counted with Python's csv module."""
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.replace(" ", "").lower() for h in records[2]]
    column = header.index("standard_charge|negotiated_dollar")
    rows = [r for r in records[3:] if any(cell.strip() for cell in r)]
    total = sum(float(r[column]) for r in rows if column < len(r) and r[column].strip())
    return len(rows), total


@pytest.mark.parametrize("name", TALL_SAMPLES)
def test_sample_loads_every_row_and_dollar(samples: Path, wh: Warehouse, name: str) -> None:
    path = samples / name
    expected_rows, expected_dollars = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.rows == expected_rows
    con = reader(wh)
    count, dollars = con.sql(
        "SELECT count(*), coalesce(sum(negotiated_dollar), 0) FROM standard_charges"
    ).fetchall()[0]
    assert count == expected_rows
    assert dollars == pytest.approx(expected_dollars, rel=1e-9)


def test_real_files_have_the_documented_shape(samples: Path, wh: Warehouse) -> None:
    mv = ingest_file(samples / "real/marthas-vineyard-hospital_v3_tall.csv", wh)
    avenues = ingest_file(samples / "real/avenues-recovery-valley-forge_v2_tall.csv", wh)
    assert (mv.rows, mv.facility_id, mv.version) == (10452, "ma-2042", "3.0.0")
    assert mv.findings.get("encoding.cp1252_bytes") == 1  # stray Windows-1252 bytes noted
    assert (avenues.facility_id, avenues.version) == ("pa-220201", "2.0.0")
    con = reader(wh)
    # Windows-1252 bytes read as their characters, not as replacement marks.
    assert con.sql(
        "SELECT count(*) FROM standard_charges WHERE description LIKE '%\ufffd%'"
    ).fetchall() == [(0,)]
    # `Inpatient` (capitalised in the file) is lower-cased to the CMS vocabulary.
    settings = con.sql(
        "SELECT DISTINCT setting FROM standard_charges WHERE facility_id = 'pa-220201'"
    ).fetchall()
    assert settings == [("inpatient",)]
    # Rows with a blank payer are kept as payer-less rows, not dropped.
    blank_payers = con.sql(
        "SELECT count(*) FROM standard_charges WHERE facility_id='pa-220201' AND payer_name IS NULL"
    ).fetchall()[0][0]
    assert blank_payers > 0
    # Four code columns become a list of (type, code) pairs.
    codes = con.sql(
        "SELECT codes FROM standard_charges WHERE facility_id='ma-2042' AND row_no = 4"
    ).fetchall()[0][0]
    assert {(c["type"], c["code"]) for c in codes} == {
        ("CDM", "PX-30000412"), ("CPT", "82652"), ("RC", "0301")
    }  # fmt: skip


def test_spaces_around_pipes_and_mdy_date(samples: Path, wh: Warehouse) -> None:
    result = ingest_file(samples / "cms/v3.0.0_tall.csv", wh)
    con = reader(wh)
    row = con.sql("SELECT last_updated_on, attestation, license_state FROM files "
                  "JOIN facilities USING (facility_id)").fetchall()[0]  # fmt: skip
    assert str(row[0]) == "2026-04-01" and row[1] is True and row[2] == "CA"
    assert result.findings == {}


def test_every_tolerance_at_once_keeps_every_row(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "messy.csv"
    hospital = make_hospital(7)
    # All but `broken_quotes`, which splits a row in two (tests/ingest/test_csv_rows.py).
    written = write_tall(path, hospital, items(hospital, 300, 7, "2.0.0"), version="2.0.0",
                         pathologies=PATHOLOGIES - {"broken_quotes"}, seed=7)  # fmt: skip
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.rows == written
    con = reader(wh)
    assert con.sql("SELECT DISTINCT setting FROM standard_charges ORDER BY 1").fetchall() == [
        ("both",), ("inpatient",), ("outpatient",)
    ]  # fmt: skip
    # `$1,200.00`-style prices are parsed, none lost.
    assert con.sql(
        "SELECT count(*) FROM standard_charges WHERE gross_charge IS NULL"
    ).fetchall() == [(0,)]
    # Padded descriptions are trimmed; lower-cased code types upper-cased.
    assert con.sql(
        "SELECT count(*) FROM standard_charges WHERE description <> trim(description)"
    ).fetchall() == [(0,)]
    assert con.sql(
        "SELECT DISTINCT code_type FROM standard_charge_codes ORDER BY 1"
    ).fetchall() == [("CDM",), ("CPT",), ("HCPCS",), ("MS-DRG",), ("NDC",), ("RC",)]


def test_quoted_newlines_across_the_readers_chunks(tmp_path: Path, wh: Warehouse) -> None:
    """A file many times the reader's chunk size, with line breaks inside quoted cells
    scattered through it: every record is read whole, wherever a chunk ends."""
    path = tmp_path / "big.csv"
    tall_file(path, target_bytes=8 << 20, seed=5, pathologies=["quoted_newlines"])
    expected, dollars = independent_counts(path)
    text = path.read_text(encoding="utf-8")
    broken = sum(1 for r in list(csv.reader(io.StringIO(text, newline="")))[3:] if "\n" in r[0])
    assert broken > 20  # the pathology is there, many times over
    with mock.patch.object(csv_tall, "CSV_CHUNK_BYTES", 1 << 20):
        result = ingest_file(path, wh)
    assert (result.outcome, result.rows) == ("loaded", expected), result.message
    con = reader(wh)
    count, total, multiline = con.sql(
        "SELECT count(*), sum(negotiated_dollar), count(*) FILTER (description LIKE '%\n%') "
        "FROM standard_charges"
    ).fetchall()[0]
    assert (count, multiline) == (expected, broken)
    assert total == pytest.approx(dollars, rel=1e-9)


def test_mixed_line_endings_and_quoted_newlines(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "mixed.csv"
    tall_file(path, n_items=60, seed=3)
    lines = path.read_bytes().split(b"\n")
    mixed = b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines[:-1]))
    mixed = mixed.replace(b"new patient, 30 minutes", b"new patient,\n30 minutes")
    path.write_bytes(mixed)
    expected, _ = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.rows == expected
    con = reader(wh)
    assert con.sql(
        "SELECT count(*) FROM standard_charges WHERE description LIKE '%\r%'"
    ).fetchall() == [(0,)]
    multiline = "SELECT count(*) FROM standard_charges WHERE description LIKE '%patient,\n30%'"
    assert con.sql(multiline).fetchall()[0][0] > 0
