"""The offline registry check (`hpt sources check`), and the shipped national registry."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from core.ids import FACILITY_ID
from ingest.ccn import ccn_state, valid_ccn
from ingest.registry import load_sources
from ingest.registry_check import check_registry

ROOT = Path(__file__).resolve().parents[2]
NATIONAL = ROOT / "registry" / "us-hospitals.csv"


def test_each_problem_is_found_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    path.write_text(
        "# a comment line\n"
        "facility_id,name,state,city,zip,website,mrf_url,ccn,latitude,longitude,geo_precision\n"
        "050101,Good,CA,Fresno,93721,https://good.org/,,050101,36.74,-119.78,zip\n"
        "050101,Twin,CA,Fresno,,https://twin.org/,,,,,\n"
        "Bad Id,Spaces,CA,,,https://bad.org/,,,,,\n"
        "x1,No Source,CA,,,,,,,,\n"
        "x2,Ftp,CA,,,ftp://files.org/,file:///etc/passwd,,,,\n"
        "x3,Wrong State,ZZ,,,https://z.org/,,,,,\n"
        "x4,CCN Elsewhere,TX,,,https://t.org/,,050104,,,\n"
        "x5,Bad CCN,TX,,,https://t.org/,,5X,,,\n"
        "x6,Far Away,TX,,75201,https://t.org/,,,47.6,-122.3,zip\n"
        "x7,Zip Elsewhere,TX,,93721,https://t.org/,,,,,\n"
        "x8,No Precision,TX,,,https://t.org/,,,32.7,-96.8,\n"
    )
    checked = check_registry(path)
    found = {(p.line, p.rule) for p in checked.problems}
    assert found == {
        (4, "id.duplicate"), (5, "id.invalid"), (6, "entry.source"), (7, "url.scheme"),
        (8, "state.unknown"), (9, "ccn.state"), (10, "ccn.invalid"),
        (11, "geo.outside_state"), (12, "zip.state"), (13, "geo.precision"),
    }  # fmt: skip
    assert sum(p.rule == "url.scheme" for p in checked.problems) == 2  # website and mrf_url
    assert checked.entries == 11 and checked.errors == 9  # ccn.state, zip.state: warnings


def test_unknown_columns_are_one_error(tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    path.write_text("name,website,colour\nMercy,m.org,red\n")
    checked = check_registry(path)
    assert [(p.rule, p.message) for p in checked.problems] == [
        ("schema.columns", "unknown column(s) colour")
    ]


def test_the_demo_registry_passes() -> None:
    assert check_registry(ROOT / "sources.csv").problems == []


def test_the_national_registry_passes_fast() -> None:
    started = time.perf_counter()
    checked = check_registry(NATIONAL)
    assert time.perf_counter() - started < 5
    assert checked.errors == 0, checked.problems[:5]
    entries = load_sources(NATIONAL)
    roots = [e for e in entries if e.website.count("/") == 3 and e.website.startswith("http")]
    good = [e for e in roots if valid_ccn(e.ccn) and ccn_state(e.ccn) and e.state]
    assert len(good) >= 6500
    assert all(FACILITY_ID.fullmatch(e.key) and e.key == e.ccn.lower() for e in entries)
    assert sum(e.geo_precision == "city" for e in entries) >= 6500
    # Every source row is in the registry or listed as rejected, with its reason.
    with (ROOT / "registry" / "us-hospitals-import-report.csv").open(encoding="utf-8") as f:
        report = list(csv.DictReader(f))
    rejected = [r for r in report if r["verdict"] == "rejected"]
    assert all(r["reason"] and r["detail"] for r in report)
    header = NATIONAL.read_text().split("\nfacility_id,")[0]
    rows = int(header.split(" rows:")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert len(entries) + len(rejected) == rows == 7160
