"""One code's rates at a few facilities are read from the row groups holding them (each
file's `code_rows` index), with the same answers as a read of the whole files."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from core.schema import CHARGE_ROW_GROUP
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, reader
from warehouse.marts import CODE_ROWS, MARTS, scoped_comparable

pytestmark = pytest.mark.slow

#: The rates of one code, as the dashboard reads those behind a price.
RATES = """
SELECT facility_id, file_id, row_no, code_type, code, payer_name, plan_name, payer,
       plan_type, price_basis, comparable_dollar, price_unit, exclusion_reason
FROM comparable_charge_codes
WHERE code = $code AND ($code_type IS NULL OR code_type = service_code_type($code_type, $code))
ORDER BY ALL
"""


@pytest.fixture(scope="module")
def big_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Two hospitals whose files hold several row groups of charges."""
    root = tmp_path_factory.mktemp("code-rows")
    wh = Warehouse.at(root / "hpt.duckdb")
    for seed in (3, 4):
        path = root / f"h{seed}.csv"
        tall_file(path, n_items=4_000, seed=seed)
        assert ingest_file(path, wh).outcome == "loaded"
    return wh


def folders(con: duckdb.DuckDBPyConnection) -> dict[str, Path]:
    rows = con.sql("SELECT facility_id, data_path FROM current_files").fetchall()
    return {facility: Path(con.sql("SELECT current_setting('file_search_path')").fetchall()[0][0])
            / path for facility, path in rows}  # fmt: skip


def codes_to_try(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """A code every facility prices, codes of one facility only, and rare ones."""
    return [
        (r[0], r[1])
        for r in con.sql(
            "SELECT code_type, code FROM (SELECT code_type, code, count(*) AS n, "
            "count(DISTINCT facility_id) AS f FROM comparable_charge_codes GROUP BY ALL) "
            "ORDER BY f DESC, n DESC, code LIMIT 3"
        ).fetchall()
        + con.sql(
            "SELECT code_type, code FROM (SELECT code_type, code, count(*) AS n, "
            "count(DISTINCT facility_id) AS f FROM comparable_charge_codes GROUP BY ALL) "
            "ORDER BY f, n, code LIMIT 3"
        ).fetchall()
    ]


def read(con: duckdb.DuckDBPyConnection, ids: list[str], code_type: str | None, code: str,
         indexed: bool) -> pl.DataFrame:  # fmt: skip
    scoped = scoped_comparable(con, ids, *((code_type, code) if indexed else ()))
    return con.sql(scoped + RATES, params={"code": code, "code_type": code_type}).pl()


def test_charges_are_stored_in_row_groups(big_wh: Warehouse) -> None:
    with reader(big_wh) as con:
        for folder in folders(con).values():
            groups = con.sql(
                "SELECT row_group_num_rows FROM parquet_metadata($path) "
                "GROUP BY file_name, row_group_id, row_group_num_rows",
                params={"path": str(folder / "*.parquet")},
            ).pl()["row_group_num_rows"]
            assert groups.len() > 1 and groups.max() <= CHARGE_ROW_GROUP


def test_a_codes_rates_read_from_its_rows_equal_the_whole_files(big_wh: Warehouse) -> None:
    with reader(big_wh) as con:
        ids = sorted(folders(con))
        tried = codes_to_try(con)
        assert len(tried) == 6
        for code_type, code in tried:
            whole = read(con, ids, code_type, code, indexed=False)
            assert whole.height > 0
            for kind in (code_type, None):
                assert read(con, ids, kind, code, indexed=True).equals(whole), (code_type, code)


def test_only_the_rows_of_the_code_are_read(big_wh: Warehouse) -> None:
    with reader(big_wh) as con:
        where = folders(con)
        ids = sorted(where)
        sql = scoped_comparable(con, ids, "CPT", "73721")  # a knee MRI: a few rows a file
        assert sql.count("WHERE row_no BETWEEN") == 1  # one scan of both files
        assert all(str(folder) in sql for folder in where.values())
        # The rows it reads: a stretch around the code's rows, not the whole files.
        body = sql[sql.index("(") + 1 : sql.index("),\ncomparable_charges")]
        read_rows = con.sql(f"SELECT count(*) FROM ({body})").fetchall()[0][0]
        total = con.sql("SELECT count(*) FROM standard_charges").fetchall()[0][0]
        assert 0 < read_rows < total / 20
        # A code that no facility prices reads no file.
        assert "row_no BETWEEN" not in scoped_comparable(con, ids, "CPT", "00000")
        assert "read_parquet" not in scoped_comparable(con, ids, "CPT", "00000")


def test_a_file_without_the_index_is_read_whole(big_wh: Warehouse, tmp_path: Path) -> None:
    with reader(big_wh) as con:
        where = folders(con)
        ids = sorted(where)
        code_type, code = codes_to_try(con)[0]
        whole = read(con, ids, code_type, code, indexed=False)
        index = where[ids[0]] / MARTS / CODE_ROWS
        shutil.move(index, tmp_path / CODE_ROWS)
        try:
            sql = scoped_comparable(con, ids, code_type, code)
            assert sql.count("WHERE row_no BETWEEN") == 1 and sql.count("read_parquet") == 2
            assert read(con, ids, code_type, code, indexed=True).equals(whole)
        finally:
            shutil.move(tmp_path / CODE_ROWS, index)
