"""One service, one key: hospitals that type the same codes differently compare as one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dashboard import reads
from hpt.cli import app
from hpt.pipeline.steps import ingest_file
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader
from warehouse.publish import publish
from warehouse.queries import compare, payer_matrix, search_codes
from warehouse.service_codes import create_macros


def pair(code_type: str, code: str) -> list[dict[str, str]]:
    return [{"type": code_type, "code": code}, {"type": "CDM", "code": f"C{code}"}]


@pytest.fixture(scope="module")
def typed_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Three hospitals typing the same codes their own way (as real ones do)."""
    wh = Warehouse.at(tmp_path_factory.mktemp("typed") / "hpt.duckdb")
    load_facility(
        wh,
        "tx-a",
        [
            rate("73721", "Aetna", "PPO", 1000.0, code_type="CPT"),
            rate("73721", "Cigna", "PPO", 1100.0, code_type="CPT"),
            rate("J1100", "Aetna", "PPO", 5.0, codes=pair("HCPCS", "J1100")),
            rate("470", "Aetna", "PPO", 30000.0, setting="inpatient", codes=pair("MS-DRG", "470")),
            # One charge listing the code under both types: one rate of one service.
            rate("77067", "Aetna", "PPO", 200.0,
                 codes=[{"type": "CPT", "code": "77067"}, {"type": "HCPCS", "code": "77067"}]),
            rate("G0439", "Aetna", "PPO", 150.0, codes=pair("CPT", "G0439")),  # Level II as CPT
        ],
        state="TX",
    )  # fmt: skip
    load_facility(
        wh,
        "ca-b",
        [
            rate("73721", "Aetna", "PPO", 1300.0, codes=pair("HCPCS", "73721")),
            rate("J1100", "Aetna", "PPO", 6.0, codes=pair("HCPCS", "J1100")),
            rate("470", "Aetna", "PPO", 35000.0, setting="inpatient", codes=pair("APR-DRG", "470")),
            rate("77067", "Aetna", "PPO", 220.0, codes=pair("HCPCS", "77067")),
            rate("0042T", "Aetna", "PPO", 400.0, codes=pair("HCPCS", "0042T")),
            rate("G0439", "Aetna", "PPO", 160.0, codes=pair("HCPCS", "G0439")),
        ],
        state="CA",
    )  # fmt: skip
    load_facility(
        wh,
        "nm-c",
        [rate("73721", "Aetna", "PPO", 1200.0, codes=pair("hcpcs", "73721"))],  # any case
        state="NM",
    )
    publish(wh)
    return wh


@pytest.fixture
def con(typed_wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = reader(typed_wh)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("code_type", "code", "service_type"),
    [
        ("CPT", "99213", "CPT"),
        ("HCPCS", "99213", "CPT"),
        ("hcpcs", "73721", "CPT"),
        ("HCPCS", "0001F", "CPT"),  # Category II
        ("HCPCS", "0042T", "CPT"),  # Category III
        ("HCPCS", "0001U", "CPT"),  # PLA
        ("HCPCS", "J1100", "HCPCS"),
        ("CPT", "G0439", "HCPCS"),
        ("HCPCS", "G04391", "HCPCS"),  # no rule fits: as published
        ("MS-DRG", "470", "MS-DRG"),
        ("APR-DRG", "470", "APR-DRG"),
        ("RC", "0450", "RC"),
        ("NDC", "12345", "NDC"),
    ],
)
def test_service_code_type(code_type: str, code: str, service_type: str) -> None:
    con = duckdb.connect()
    create_macros(con)
    assert con.execute("SELECT service_code_type(?, ?)", [code_type, code]).fetchone() == (
        service_type,
    )


def test_code_summary_counts_every_hospital_under_one_key(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT code_type, code, facilities, rates FROM code_summary WHERE state = 'ALL'"
    ).fetchall()
    assert sorted(rows) == [
        ("APR-DRG", "470", 1, 1),  # MS-DRG and APR-DRG never merge
        ("CPT", "0042T", 1, 1),
        ("CPT", "73721", 3, 4),
        ("CPT", "77067", 2, 2),  # the charge listing it under both types is one rate
        ("HCPCS", "G0439", 2, 2),
        ("HCPCS", "J1100", 2, 2),
        ("MS-DRG", "470", 1, 1),
    ]
    catalog = con.execute("SELECT code_type, code, facilities FROM code_catalog").fetchall()
    assert sorted(catalog) == [(t, c, n) for t, c, n, _ in sorted(rows)]


def test_the_published_type_is_kept(con: duckdb.DuckDBPyConnection) -> None:
    published = con.execute(
        "SELECT facility_id, code_type, published_code_type FROM standard_charge_codes "
        "WHERE code = '73721' ORDER BY facility_id, published_code_type"
    ).fetchall()
    assert published == [
        ("ca-b", "CPT", "HCPCS"),
        ("nm-c", "CPT", "hcpcs"),
        ("tx-a", "CPT", "CPT"),
        ("tx-a", "CPT", "CPT"),
    ]
    # Per charge, standard_charge_codes keeps every published pair; the comparison one.
    assert con.execute(
        "SELECT list(published_code_type ORDER BY published_code_type) "
        "FROM standard_charge_codes WHERE facility_id = 'tx-a' AND code = '77067'"
    ).fetchone() == (["CPT", "HCPCS"],)
    assert con.execute(
        "SELECT code_type, published_code_type FROM comparable_charge_codes "
        "WHERE facility_id = 'tx-a' AND code = '77067'"
    ).fetchall() == [("CPT", "CPT")]
    for table in ("price_compare", "facility_code_prices"):
        rows = con.execute(
            f"SELECT facility_id, code_type, published_code_type FROM {table} "
            "WHERE code IN ('73721', 'G0439') ORDER BY ALL"
        ).fetchall()
        assert set(rows) == {
            ("ca-b", "CPT", "HCPCS"), ("nm-c", "CPT", "hcpcs"), ("tx-a", "CPT", "CPT"),
            ("ca-b", "HCPCS", "HCPCS"), ("tx-a", "HCPCS", "CPT"),
        }  # fmt: skip


@pytest.mark.parametrize("code", ["HCPCS:73721", "CPT:73721", "cpt:73721", "73721"])
def test_compare_finds_every_hospital_under_either_spelling(
    con: duckdb.DuckDBPyConnection, code: str
) -> None:
    rows = compare(con, code)
    assert set(rows["code_type"]) == {"CPT"}
    assert sorted(rows["facility_id"]) == ["ca-b", "nm-c", "tx-a", "tx-a"]
    assert payer_matrix(con, code)["facility_id"].to_list() == ["ca-b", "nm-c", "tx-a"]


def test_drg_families_stay_apart(con: duckdb.DuckDBPyConnection) -> None:
    assert compare(con, "MS-DRG:470")["facility_id"].to_list() == ["tx-a"]
    assert compare(con, "APR-DRG:470")["facility_id"].to_list() == ["ca-b"]
    assert sorted(compare(con, "470")["code_type"]) == ["APR-DRG", "MS-DRG"]


@pytest.mark.parametrize("text", ["hcpcs 73721", "HCPCS:73721", "73721", "cpt 73721"])
def test_search_finds_the_code_under_either_spelling(
    con: duckdb.DuckDBPyConnection, text: str
) -> None:
    found = search_codes(con, text)
    assert (found["code_type"][0], found["code"][0]) == ("CPT", "73721")


def test_dashboard_reads_take_either_spelling(con: duckdb.DuckDBPyConnection) -> None:
    entry = reads.code_entry(con, "HCPCS", "73721")
    assert (entry["code_type"][0], entry["facilities"][0]) == ("CPT", 3)
    assert reads.facility_prices(con, "HCPCS", "73721")["facility_id"].sort().to_list() == [
        "ca-b", "nm-c", "tx-a",
    ]  # fmt: skip
    notes = reads.rate_notes(con, "HCPCS", "73721", ["ca-b", "nm-c", "tx-a"])
    assert notes.height == 3
    assert reads.code_entry(con, "CPT", "J1100")["code_type"].to_list() == ["HCPCS"]


def test_hpt_compare_takes_either_spelling(typed_wh: Warehouse) -> None:
    result = CliRunner().invoke(app, ["compare", "HCPCS:73721", "--db", str(typed_wh.db_path)])
    assert result.exit_code == 0, result.output
    assert "MRI of knee joint" in result.output
    for state in ("TX", "CA", "NM"):  # the three hospitals, each typing 73721 its own way
        assert f" {state} " in result.output


def test_real_hospital_typing_cpt_codes_as_hcpcs(samples: Path, wh: Warehouse) -> None:
    """Martha's Vineyard types 77065–77067 and 87635 `HCPCS` (87635 and G0439 both ways)."""
    path = samples / "real" / "marthas-vineyard-hospital_v3_tall.csv"
    assert ingest_file(path, wh).outcome == "loaded"
    with reader(wh) as con:
        published = dict(
            con.execute(
                "SELECT code, list(DISTINCT published_code_type ORDER BY published_code_type) "
                "FROM standard_charge_codes WHERE code IN ('77067', '87635', 'G0439') "
                "GROUP BY code"
            ).fetchall()
        )
        catalog = con.execute(
            "SELECT code, list(code_type) FROM code_catalog "
            "WHERE code IN ('77065', '77066', '77067', '87635', 'G0439') GROUP BY code "
            "ORDER BY code"
        ).fetchall()
        level_one_as_hcpcs = con.execute(
            "SELECT count(*) FROM code_catalog WHERE code_type = 'HCPCS' "
            "AND regexp_full_match(code, '[0-9]{4}[0-9FTU]')"
        ).fetchone()
        drgs = con.execute("SELECT count(*) FROM code_catalog WHERE code_type = 'DRG'").fetchone()
    assert published == {"77067": ["HCPCS"], "87635": ["CPT", "HCPCS"], "G0439": ["CPT", "HCPCS"]}
    assert catalog == [
        ("77065", ["CPT"]),
        ("77066", ["CPT"]),
        ("77067", ["CPT"]),
        ("87635", ["CPT"]),
        ("G0439", ["HCPCS"]),
    ]
    assert level_one_as_hcpcs == (0,)
    assert drgs is not None and drgs[0] > 0  # other types as published
