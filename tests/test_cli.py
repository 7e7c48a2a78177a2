"""`hpt ingest` on good and bad input: a summary or one clear line, never a traceback."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.files import FileMeta
from devtools.synthetic.tall import tall_file
from hpt.cli import app
from hpt.pipeline.steps import facility_id_for
from warehouse.db import Warehouse, reader

runner = CliRunner()


def ingest(path: Path, wh: Warehouse, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", str(path), "--db", str(wh.db_path), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def rows_in(wh: Warehouse) -> int:
    if not wh.published_path.exists():
        return 0
    return int(reader(wh).sql("SELECT count(*) FROM standard_charges").fetchall()[0][0])


def test_summary_of_a_good_file(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "good.csv"
    rows = tall_file(path, n_items=30, seed=1)
    code, out = ingest(path, wh)
    assert code == 0
    for word in ("loaded", "csv_tall", "3.0.0", f"{rows:,}", "MB/s"):
        assert word in out
    assert rows_in(wh) == rows


def test_json_summary(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "good.csv"
    tall_file(path, n_items=5, seed=1)
    code, out = ingest(path, wh, "--json")
    assert code == 0 and '"outcome": "loaded"' in out


BAD_FILES = {
    "captcha.csv": (b"<!DOCTYPE html><html><body>Please verify you are human</body></html>",
                    "not a CMS machine-readable file (found: an HTML page)"),
    "empty.csv": (b"", "empty file"),
    "two_rows.csv": (b"hospital_name,version\nX,3.0.0\n", "only 2 row(s)"),
    "not_cms.csv": (b"a,b\n1,2\nx,y\n1,2\n", "not a CMS machine-readable file (found: a CSV"),
    "report.xlsx": (b"", "not a CMS machine-readable file (found: an XLSX"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_files_one_line_and_warehouse_unchanged(
    tmp_path: Path, wh: Warehouse, name: str
) -> None:
    good = tmp_path / "good.csv"
    rows = tall_file(good, n_items=10, seed=2)
    assert ingest(good, wh)[0] == 0
    content, message = BAD_FILES[name]
    bad = tmp_path / name
    if name.endswith(".xlsx"):  # a real (minimal) workbook archive
        with zipfile.ZipFile(bad, "w") as book:
            book.writestr("[Content_Types].xml", "<Types/>")
            book.writestr("xl/workbook.xml", "<workbook/>")
    else:
        bad.write_bytes(content)
    code, out = ingest(bad, wh, "--facility-id", "some-hospital")
    assert code == 1
    assert message in out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 2
    assert rows_in(wh) == rows


def test_file_cut_off_mid_row(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "cut.csv"
    tall_file(path, n_items=20, seed=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])
    code, out = ingest(path, wh)
    assert code == 1 and "truncated" in out
    assert rows_in(wh) == 0


def _with_row(tmp_path: Path, transform: str) -> Path:
    path = tmp_path / "edited.csv"
    tall_file(path, n_items=3, seed=4)
    records = list(csv.reader(io.StringIO(path.read_text(), newline="")))
    if transform == "unknown_column":
        records[2].append("internal_cost")
        for record in records[3:]:
            record.append("12")
    elif transform == "extra_cells":
        records[5] += ["surprise", "cells"]
    elif transform == "non_numeric":
        records[4][records[2].index("standard_charge|gross")] = "call for price"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    path.write_text(out.getvalue())
    return path


@pytest.mark.parametrize(
    ("transform", "rule"),
    [("unknown_column", "header.unknown_column"), ("extra_cells", "csv.extra_cells"),
     ("non_numeric", "value.number")],
)  # fmt: skip
def test_recoverable_problems_are_findings(
    tmp_path: Path, wh: Warehouse, transform: str, rule: str
) -> None:
    path = _with_row(tmp_path, transform)
    data_rows = len(list(csv.reader(io.StringIO(path.read_text(), newline="")))) - 3
    code, out = ingest(path, wh)
    assert code == 0 and rule in out
    assert rows_in(wh) == data_rows  # every row kept
    con = reader(wh)
    stored = con.sql("SELECT rule, row_no, value FROM findings WHERE rule = ?", params=[rule])
    found = stored.fetchall()
    assert found, f"{rule} not stored"
    if transform == "non_numeric":
        assert found == [("value.number", 5, "call for price")]
        assert con.sql("SELECT gross_charge FROM standard_charges WHERE row_no = 5").fetchall() == [
            (None,)
        ]


def test_windows_1252_file(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "cp1252.csv"
    tall_file(path, n_items=5, seed=5)
    text = path.read_text().replace("Office visit", "Visite de médecin — “office”", 1)
    path.write_bytes(text.encode("cp1252"))
    code, out = ingest(path, wh)
    assert code == 0, out
    con = reader(wh)
    found = con.sql("SELECT count(*) FROM standard_charges WHERE description LIKE "
                    "'Visite de médecin — “office”%'").fetchall()  # fmt: skip
    assert found[0][0] >= 1


def test_facility_id_rule() -> None:
    assert facility_id_for(FileMeta(license_number="50056", license_state="CA")) == "ca-50056"
    assert facility_id_for(FileMeta(npis=["0000000000", "1194866210"])) == "npi-1194866210"
    assert facility_id_for(FileMeta(hospital_name="St. Luke's Hospital")) == "st-luke-s-hospital"


def test_help_is_useful() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "ingest" in top.output
    sub = runner.invoke(app, ["ingest", "--help"])
    assert "--facility-id" in sub.output and "--db" in sub.output
