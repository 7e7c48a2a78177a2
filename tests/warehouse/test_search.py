"""Service search over a published warehouse: the words patients type, ranked by how well
they match and how many hospitals price the service."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from importlib import resources

import duckdb
import pytest

from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader
from warehouse.publish import publish
from warehouse.search import catalogue, search_codes

#: (code type, code, description as hospitals publish it, facilities pricing it).
PRICED = [
    ("CPT", "77065", "MAMMO DIAG UNILAT", 2),
    ("CPT", "77067", "MAMMO SCREEN BILAT 3D", 3),
    ("CPT", "45378", "COLONOSCOPY DX", 2),
    ("CPT", "45385", "COLONOSCOPY W/ POLYPECTOMY", 1),
    ("CPT", "43235", "EGD DIAGNOSTIC", 4),  # more hospitals than any colonoscopy
    ("CPT", "73721", "MRI LOWER EXTREMITY JOINT W/O", 3),
    ("CPT", "73562", "XR KNEE 3 VW", 4),
    ("CPT", "70450", "CT HEAD W/O CONTRAST", 4),
    ("CPT", "59510", "OB CARE CESAREAN", 1),
    ("MS-DRG", "788", "CESAREAN SECTION W/O STERILIZATION W/O CC/MCC", 2),
    ("MS-DRG", "470", "MAJOR JOINT REPLACEMENT", 2),
    ("CPT", "85025", "CBC W/ AUTO DIFF", 4),
    ("CPT", "99203", "NEW PT OFFICE VISIT LEVEL 3", 4),
    ("CPT", "97110", "PT THERAPEUTIC EXERCISE 15 MIN", 2),
    ("CPT", "85610", "PROTHROMBIN TIME", 1),
]
SHAPES = {"CPT": r"[0-9]{4}[0-9FTU]", "HCPCS": r"[A-Z][0-9]{4}", "MS-DRG": r"[0-9]{3}"}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    wh = Warehouse.at(tmp_path_factory.mktemp("search") / "hpt.duckdb")
    for i in range(4):
        rows = [
            rate(code, "Aetna", "PPO", 100.0 + i, code_type=code_type, description=description,
                 setting="inpatient" if code_type == "MS-DRG" else "outpatient")
            for code_type, code, description, facilities in PRICED
            if i < facilities
        ]  # fmt: skip
        load_facility(wh, f"tx-{i}", rows)
    publish(wh)
    connection = reader(wh)
    yield connection
    connection.close()


def keys(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[str]:
    found = search_codes(con, text, limit=limit)
    return [f"{t}:{c}" for t, c in found.select("code_type", "code").rows()]


def test_mammogram_finds_mammography_most_priced_first(con: duckdb.DuckDBPyConnection) -> None:
    assert keys(con, "mammogram")[:2] == ["CPT:77067", "CPT:77065"]


def test_colonoscopy_lists_colonoscopies_before_upper_endoscopy(
    con: duckdb.DuckDBPyConnection,
) -> None:
    found = keys(con, "colonoscopy")
    assert found[:2] == ["CPT:45378", "CPT:45385"]
    assert "CPT:43235" not in found[:2]


def test_synonyms_patients_type(con: duckdb.DuckDBPyConnection) -> None:
    assert keys(con, "knee scan")[0] == "CPT:73721"
    assert set(keys(con, "c-section")[:2]) == {"MS-DRG:788", "CPT:59510"}
    assert set(keys(con, "cesarean")[:2]) == {"MS-DRG:788", "CPT:59510"}
    assert keys(con, "CT head")[0] == "CPT:70450"
    assert keys(con, "blood test")[0] == "CPT:85025"
    assert keys(con, "new patient visit")[0] == "CPT:99203"
    assert keys(con, "physical therapy")[0] == "CPT:97110"
    assert keys(con, "knee replacement")[0] == "MS-DRG:470"


def test_whole_words_and_all_words_first(con: duckdb.DuckDBPyConnection) -> None:
    # "knee x-ray": the knee X-ray has both words; the knee MRI only "knee".
    found = keys(con, "knee x-ray")
    assert found.index("CPT:73562") < found.index("CPT:73721")
    # "pt" is a whole word of physical therapy and of PT/INR, a part of no word counted.
    assert set(keys(con, "pt")) >= {"CPT:97110", "CPT:85610"}


def test_a_misspelling_still_finds_the_service(con: duckdb.DuckDBPyConnection) -> None:
    assert keys(con, "colonoscpy")[:2] == ["CPT:45378", "CPT:45385"]
    assert keys(con, "mamogram")[0] == "CPT:77067"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("73721", "CPT:73721"), ("CPT:73721", "CPT:73721"), ("HCPCS:73721", "CPT:73721"),
     ("DRG 470", "MS-DRG:470"), ("ms-drg 788", "MS-DRG:788")],
)  # fmt: skip
def test_codes_typed_directly(con: duckdb.DuckDBPyConnection, text: str, expected: str) -> None:
    assert keys(con, text) == [expected]


def test_nothing_for_words_nowhere(con: duckdb.DuckDBPyConnection) -> None:
    assert keys(con, "zebra crossing") == []
    assert keys(con, "") == []
    assert keys(con, "mri", limit=1) == ["CPT:73721"]


def test_every_catalogue_code_is_valid_in_shape() -> None:
    text = resources.files("transform").joinpath("data", "service_synonyms.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len({(r["code_type"], r["code"]) for r in rows}) == len(rows), "one row per code"
    for r in rows:
        assert re.fullmatch(SHAPES[r["code_type"]], r["code"]), r
        terms = r["synonyms"].split(";")
        assert all(t.strip() == t and t == t.lower() and t for t in terms), r
    shoppable = resources.files("transform").joinpath("data", "shoppable_services.csv")
    curated = {(r["code_type"], r["code"]) for r in csv.DictReader(io.StringIO(
        shoppable.read_text()))}  # fmt: skip
    assert curated <= {(r["code_type"], r["code"]) for r in rows}, "every service has synonyms"
    assert "mammogram" in catalogue().synonyms["CPT:77067"]
