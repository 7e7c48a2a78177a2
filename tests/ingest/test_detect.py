"""Layout detection by content: archives, encodings, and files that are not CMS files."""

from __future__ import annotations

import codecs
import gzip
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.synthetic.json_file import json_file
from devtools.synthetic.tall import tall_file
from devtools.synthetic.wide import wide_file
from hpt.cli import app
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, reader


def _loaded_rows(wh: Warehouse) -> int:
    return int(reader(wh).sql("SELECT count(*) FROM standard_charges").fetchall()[0][0])


def _failed(wh: Warehouse, path: Path) -> str:
    result = ingest_file(path, wh)
    assert result.outcome == "failed", result
    assert "\n" not in result.message
    assert _none_loaded(wh)
    return result.message


def _none_loaded(wh: Warehouse) -> bool:
    return reader(wh).sql("SELECT count(*) FROM files").fetchall()[0][0] == 0


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """One small file per layout, without extensions (downloads often have none)."""
    out = {
        "json": tmp_path / "download-1",
        "csv_tall": tmp_path / "download-2",
        "csv_wide": tmp_path / "download-3",
    }
    json_file(out["json"], n_items=50, seed=2)
    tall_file(out["csv_tall"], n_items=50, seed=2)
    wide_file(out["csv_wide"], n_items=50, seed=2)
    return out


def test_layout_from_content_not_name(files: dict[str, Path], wh: Warehouse) -> None:
    for layout, path in files.items():
        result = ingest_file(path, wh, facility_id=f"f-{layout}".replace("_", "-"))
        assert (result.outcome, result.layout) == ("loaded", layout), result.message


def test_gzip_and_zip_are_unpacked(files: dict[str, Path], tmp_path: Path, wh: Warehouse) -> None:
    plain = ingest_file(files["json"], wh, facility_id="plain", publish_after=False)
    gz = tmp_path / "mrf.json.gz"
    with files["json"].open("rb") as source, gzip.open(gz, "wb") as sink:
        shutil.copyfileobj(source, sink)
    zipped = tmp_path / "mrf.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(files["csv_wide"], "data/standardcharges.csv")
        archive.writestr("__MACOSX/data/._standardcharges.csv", b"\x00\x05junk")
        archive.writestr(".DS_Store", b"junk")
    from_gz = ingest_file(gz, wh, facility_id="gz", publish_after=False)
    from_zip = ingest_file(zipped, wh, facility_id="zip")
    assert (from_gz.outcome, from_gz.layout, from_gz.rows) == ("loaded", "json", plain.rows)
    assert (from_zip.outcome, from_zip.layout) == ("loaded", "csv_wide")
    # Unpacked copies are scratch: nothing is left in the work directory.
    work = tmp_path / "work"
    assert not [p for p in work.rglob("*") if p.is_file()] if work.exists() else True


def test_corrupt_gzip(files: dict[str, Path], tmp_path: Path, wh: Warehouse) -> None:
    gz = tmp_path / "broken.gz"
    gz.write_bytes(gzip.compress(files["csv_tall"].read_bytes())[:2000])
    message = _failed(wh, gz)
    assert "corrupt gzip" in message


def test_zip_with_two_data_files(files: dict[str, Path], tmp_path: Path, wh: Warehouse) -> None:
    zipped = tmp_path / "two.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(files["csv_tall"], "a.csv")
        archive.write(files["json"], "b.json")
    message = _failed(wh, zipped)
    assert "2 data files" in message and "a.csv" in message


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_archive_bomb_is_refused_before_it_fills_the_disk(
    tmp_path: Path, wh: Warehouse, kind: str
) -> None:
    """64 MB of zeros pack into ~64 KB: past the first 8 MB, a 1,000x expansion is refused."""
    bomb = tmp_path / f"bomb.{kind}"
    zeros = bytes(64 << 20)
    if kind == "gzip":
        bomb.write_bytes(gzip.compress(zeros))
    else:
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mrf.csv", zeros)
    message = _failed(wh, bomb)
    assert "refused as an archive bomb" in message and "200x" in message
    work = tmp_path / "work"  # the partial copy is gone
    assert not [p for p in work.rglob("*") if p.is_file()] if work.exists() else True


def test_archive_larger_than_the_cap_is_refused(
    files: dict[str, Path], tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    gz = tmp_path / "mrf.csv.gz"
    gz.write_bytes(gzip.compress(files["csv_tall"].read_bytes()))
    monkeypatch.setenv("HPT_DOWNLOAD_MAX_BYTES", "1000")
    assert "unpacks to more than the cap of 1,000 bytes" in _failed(wh, gz)


def test_xlsx_workbook(tmp_path: Path, wh: Warehouse) -> None:
    xlsx = tmp_path / "prices.xlsx"
    with zipfile.ZipFile(xlsx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    assert _failed(wh, xlsx) == "not a CMS machine-readable file (found: an XLSX workbook)"


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", "an HTML page"),
        (b'<?xml version="1.0"?><prices><item/></prices>', "an XML document"),
        (b"%PDF-1.7\n...", "a PDF document"),
        (b"CDM|DESCRIPTION|PRICE|DEPT\n1001|MRI BRAIN|1200|RAD\n", "a pipe-delimited text file"),
    ],
)
def test_not_cms_files_are_named(tmp_path: Path, wh: Warehouse, content: bytes, found: str) -> None:
    path = tmp_path / "download"
    path.write_bytes(content)
    assert _failed(wh, path) == f"not a CMS machine-readable file (found: {found})"


def test_legacy_chargemaster_csv(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "cdm.csv"
    path.write_text("CDM,Description,Price\n1001,MRI BRAIN,1200\n1002,CT HEAD,900\n1003,X,1\n")
    message = _failed(wh, path)
    assert message.startswith("not a CMS machine-readable file (found: a CSV without the CMS")


def test_ambiguous_csv_header(files: dict[str, Path], tmp_path: Path, wh: Warehouse) -> None:
    lines = files["csv_wide"].read_text().split("\n")
    lines[2] += ",payer_name,plan_name"
    path = tmp_path / "both.csv"
    path.write_text("\n".join(lines))
    assert "ambiguous CSV" in _failed(wh, path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_json_in_utf16_or_with_bom(
    files: dict[str, Path], tmp_path: Path, wh: Warehouse, encoding: str
) -> None:
    path = tmp_path / f"mrf-{encoding}"
    path.write_text(files["json"].read_text(encoding="utf-8"), encoding=encoding)
    assert path.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF8))
    result = ingest_file(path, wh)
    assert (result.outcome, result.layout) == ("loaded", "json"), result.message
    assert result.rows == _loaded_rows(wh) > 0


def test_cli_reports_unreadable_file_in_one_line(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_text("<html><body>Please verify you are human</body></html>")
    outcome = CliRunner().invoke(app, ["ingest", str(page)])
    assert "not a CMS machine-readable file (found: an HTML page)" in outcome.output
    assert "Traceback" not in outcome.output
