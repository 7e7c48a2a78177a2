"""Query functions and `hpt compare` on the known-answer warehouse's published snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from typer.testing import CliRunner

from hpt.cli import app
from warehouse.db import Warehouse, reader
from warehouse.queries import compare, facility_profile, payer_matrix, search_codes


@pytest.fixture
def con(known_wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = reader(known_wh)
    yield connection
    connection.close()


def test_compare_cheapest_first(con: duckdb.DuckDBPyConnection) -> None:
    rows = compare(con, "99213")
    assert rows["median_dollar"].to_list() == [60.0, 80.0, 100.0, 110.0, 120.0, 300.0, 300.0]
    assert rows["facility_id"][0] == "tx-c"
    assert rows["hospital_name"][0] == "Hospital tx-c"


def test_compare_filters(con: duckdb.DuckDBPyConnection) -> None:
    assert set(compare(con, "99213", state="ca")["facility_id"]) == {"ca-b"}
    bcbs = compare(con, "99213", payer="bcbs")  # any published spelling of the payer
    # A generic Blue name is the Texas Blue company at a Texas hospital and stays generic in
    # California (two Blue companies there); "bcbs" finds both.
    assert set(bcbs["payer"]) == {"Blue Cross and Blue Shield of Texas", "Blue Cross Blue Shield"}
    assert sorted(bcbs["median_dollar"]) == [100.0, 110.0, 300.0]
    ppo = compare(con, "99213", plan_type="commercial_ppo", state="TX")
    assert sorted(ppo["median_dollar"]) == [100.0, 120.0]
    assert compare(con, "99213", setting="inpatient").is_empty()
    assert compare(con, "CPT:99213").height == 7
    assert compare(con, "MS-DRG:99213").is_empty()


def test_compare_takes_user_text_as_data(con: duckdb.DuckDBPyConnection) -> None:
    assert compare(con, "99213' OR '1'='1").is_empty()
    assert compare(con, "99213", payer="x' OR 1=1 --").is_empty()


def test_compare_drug_per_unit(con: duckdb.DuckDBPyConnection) -> None:
    rows = compare(con, "HCPCS:J2405")
    assert rows.select("facility_id", "price_unit", "median_dollar").rows() == [
        ("ca-b", "ML", 5.0),
        ("tx-a", "ML", 10.0),
    ]


def test_search_codes(con: duckdb.DuckDBPyConnection) -> None:
    visits = search_codes(con, "office VISIT")
    assert visits["code"].to_list() == ["99213"]
    assert visits["display_name"][0] == "Office visit, established patient, 25 minutes"
    assert search_codes(con, "99213")["code"][0] == "99213"
    by_description = search_codes(con, "item 7055")  # hospital descriptions are searched too
    assert set(by_description["code"]) >= {"70552", "70555"}
    assert search_codes(con, "item", limit=2).height == 2
    assert search_codes(con, "").is_empty()
    assert search_codes(con, "no such service").is_empty()


def test_facility_profile(con: duckdb.DuckDBPyConnection) -> None:
    profile = facility_profile(con, "ca-b")
    assert profile.height == 1
    assert profile.select("state", "rates", "share_comparable").row(0) == ("CA", 4, 1.0)
    assert facility_profile(con, "nowhere").is_empty()


def test_payer_matrix(con: duckdb.DuckDBPyConnection) -> None:
    matrix = payer_matrix(con, "99213")
    assert matrix["facility_id"].to_list() == ["ca-b", "tx-a", "tx-c"]
    row = matrix.filter(facility_id="tx-a").row(0, named=True)
    # BCBS at tx-a: PPO 100 and HMO 110 -> the median of the plan-type medians.
    assert row["Blue Cross and Blue Shield of Texas"] == 105.0
    assert row["UnitedHealthcare"] == 120.0
    assert row["Humana"] is None
    assert payer_matrix(con, "00000").is_empty()


def test_hpt_compare(known_wh: Warehouse) -> None:
    result = CliRunner().invoke(
        app, ["compare", "99213", "--state", "TX", "--payer", "UHC", "--db", str(known_wh.db_path)]
    )
    assert result.exit_code == 0, result.output
    assert "Office visit, established patient" in result.output
    assert "$120.00" in result.output
    assert "$60.00" not in result.output  # tx-c has no UnitedHealthcare rate
    missing = CliRunner().invoke(app, ["compare", "00000", "--db", str(known_wh.db_path)])
    assert missing.exit_code == 1
