"""The comparison marts on hand-built warehouses with known answers, and through real ingest."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from tests.warehouse.charges import known_warehouse, load_facility, rate
from warehouse.db import Warehouse, reader, writer
from warehouse.marts import rebuild
from warehouse.publish import publish


@pytest.fixture
def con(known_wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = reader(known_wh)
    yield connection
    connection.close()


def one(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> tuple:
    rows = con.execute(sql, list(params)).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(
    ("code", "basis", "dollar", "reason"),
    [
        ("70551", "derived_from_percentage", 500.0, None),  # 50 % of its own $1,000 charge
        ("70552", "none", None, "percentage_without_base"),  # 120 % of a fee schedule
        ("70553", "median_allowed", 321.0, None),
        ("70554", "none", None, "algorithm_only"),
        ("70555", "negotiated_dollar", 99999999.0, "placeholder"),
        ("70556", "negotiated_dollar", 0.01, "zero_or_penny"),
        ("70557", "negotiated_dollar", 0.0, "zero_or_penny"),
        ("70558", "none", None, "no_payer_rate"),
        ("J2405", "negotiated_dollar", 10.0, None),  # $20 for 2 ML
        ("J9999", "negotiated_dollar", None, "drug_unit_not_normalisable"),  # no unit
        ("J1111", "negotiated_dollar", 2.0, None),  # $2,000 per gram = $2 per mg
    ],
)
def test_comparable_price_rules(
    con: duckdb.DuckDBPyConnection, code: str, basis: str, dollar: float | None, reason: str
) -> None:
    got = one(
        con,
        "SELECT price_basis, comparable_dollar, exclusion_reason FROM comparable_charge_codes "
        "WHERE facility_id = 'tx-a' AND code = ?",
        code,
    )
    assert got == (basis, pytest.approx(dollar) if dollar is not None else None, reason)


def test_rows_are_never_dropped(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(con, "SELECT count(*) FROM comparable_charges")[0]
        == one(con, "SELECT count(*) FROM standard_charges")[0]
    )


def test_outlier_is_far_beyond_a_robust_band(con: duckdb.DuckDBPyConnection) -> None:
    reasons = dict(
        con.execute(
            "SELECT negotiated_dollar, exclusion_reason FROM comparable_charge_codes "
            "WHERE code = '80053'"
        ).fetchall()
    )
    assert reasons[3000.0] == "outlier"  # ~94× the median
    assert reasons[250.0] is None  # ~8× the median: an expensive price, not an error
    assert reasons[29.0] is None
    lower, median, upper = one(
        con,
        "SELECT lower_dollar, median_dollar, upper_dollar FROM code_price_bounds "
        "WHERE code = '80053'",
    )
    # From 1 %-wide bins of log price: within 1 % of the exact figures.
    assert median == pytest.approx(32.0, rel=0.01)
    assert (lower, upper) == (pytest.approx(3.2, rel=0.01), pytest.approx(320.0, rel=0.01))


def test_price_compare_groups_by_canonical_payer_and_plan_type(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT payer, plan_type, rates, min_dollar, median_dollar, max_dollar, gross_charge, "
        "discounted_cash FROM price_compare WHERE facility_id = 'tx-a' AND code = '99213' "
        "ORDER BY payer, plan_type"
    ).fetchall()
    assert rows == [
        # `Medicare Advantage HMO`: the MA network is a plan type of its own since stage v4.
        ("Aetna", "medicare_advantage_hmo", 1, 80.0, 80.0, 80.0, 400.0, 300.0),
        # A generic Blue name at a Texas hospital: the Texas Blue company.
        (
            "Blue Cross and Blue Shield of Texas",
            "commercial_hmo",
            1,
            110.0,
            110.0,
            110.0,
            420.0,
            310.0,
        ),
        (
            "Blue Cross and Blue Shield of Texas",
            "commercial_ppo",
            1,
            100.0,
            100.0,
            100.0,
            400.0,
            300.0,
        ),
        ("UnitedHealthcare", "commercial_ppo", 1, 120.0, 120.0, 120.0, 400.0, 300.0),
    ]
    drug = one(
        con,
        "SELECT price_unit, median_dollar, gross_charge FROM price_compare "
        "WHERE facility_id = 'tx-a' AND code = 'J2405' AND code_type = 'HCPCS'",
    )
    assert drug == ("ML", 10.0, 30.0)  # per ML, the gross charge too


def test_code_summary_spread_ratio(con: duckdb.DuckDBPyConnection) -> None:
    row = one(
        con,
        "SELECT facilities, median_dollar, min_facility_dollar, max_facility_dollar, "
        "spread_ratio, cheapest_facility_id, most_expensive_facility_id FROM code_summary "
        "WHERE code = '99213' AND state = 'ALL'",
    )
    # tx-a: median of 80, 100, 110, 120 = 105; ca-b: 300; tx-c: 60.
    assert row == (3, 105.0, 60.0, 300.0, 5.0, "tx-c", "ca-b")
    tx = one(
        con,
        "SELECT facilities, spread_ratio FROM code_summary WHERE code = '99213' AND state = 'TX'",
    )
    assert tx == (2, pytest.approx(1.75))
    drug = one(
        con,
        "SELECT price_unit, spread_ratio FROM code_summary WHERE code = 'J2405' "
        "AND code_type = 'HCPCS' AND state = 'ALL'",
    )
    assert drug == ("ML", 2.0)  # $10/ML vs $5/ML, though packs of 2 ML and 100 ML
    grams = one(
        con,
        "SELECT spread_ratio FROM code_summary WHERE code = 'J1111' AND code_type = 'HCPCS' "
        "AND state = 'ALL'",
    )
    assert grams == (1.0,)  # $2,000 per gram and $1,000 per 500 mg are the same price


def test_code_catalog_names(con: duckdb.DuckDBPyConnection) -> None:
    curated = one(
        con, "SELECT display_name, curated, facilities FROM code_catalog WHERE code = '99213'"
    )
    assert curated == ("Office visit, established patient, 25 minutes", True, 3)
    plain = one(
        con,
        "SELECT display_name, curated FROM code_catalog WHERE code = '70552' AND code_type = 'CPT'",
    )
    assert plain == ("Item 70552", False)
    hospital = one(con, "SELECT hospital_description FROM code_catalog WHERE code = '99213'")
    assert hospital == ("OFFICE VISIT EST LEVEL 3",)  # the description most facilities use


def test_facility_summary(con: duckdb.DuckDBPyConnection) -> None:
    row = one(
        con,
        "SELECT hospital_name, state, current_file_id, rates, share_payer_mapped "
        "FROM facility_summary WHERE facility_id = 'ca-b'",
    )
    assert row == ("Hospital ca-b", "CA", "ca-b-a", 4, 1.0)
    # The conformance engine's score, as its facility_compliance view gives it.
    score = "SELECT compliance_score FROM {} WHERE facility_id = 'ca-b'"
    assert one(con, score.format("facility_summary")) == one(
        con, score.format("facility_compliance")
    )
    comparable = one(
        con, "SELECT rates, share_comparable FROM facility_summary WHERE facility_id = 'tx-a'"
    )
    # 21 payer rates; excluded: 70552, 70554, 70555, 70556, 70557, J9999 (70558 has no payer).
    assert comparable == (21, pytest.approx(15 / 21))


def test_compliance_score_follows_the_compliance_view(wh: Warehouse) -> None:
    load_facility(wh, "tx-a", [rate("99213", "Aetna", "PPO", 100.0)])
    with writer(wh) as con:
        con.execute(
            "CREATE OR REPLACE VIEW facility_compliance AS SELECT 'tx-a' AS facility_id, "
            "0.75 AS compliance_score"
        )
    publish(wh)
    with reader(wh) as con:
        assert one(con, "SELECT compliance_score FROM facility_summary")[0] == 0.75
    with writer(wh) as con:
        con.execute("DROP VIEW facility_compliance")
    publish(wh)
    with reader(wh) as con:  # no compliance view: the column is there, empty
        assert one(con, "SELECT compliance_score FROM facility_summary")[0] is None


def test_rebuild_is_idempotent_and_skips_unchanged_work(wh: Warehouse) -> None:
    known_warehouse(wh)
    marts = ("price_compare", "facility_code_prices", "code_price_bounds", "code_summary",
             "code_catalog", "payer_map")  # fmt: skip
    with writer(wh) as con:
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in marts}
        again = rebuild(con, wh)
        assert again.skipped_heavy and again.folded_in == 0
        forced = rebuild(con, wh, force=True)  # every file derived and judged again
        assert not forced.skipped_heavy and forced.folded_in == 3
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in marts}
        assert after == before
        for (path,) in con.execute("SELECT price_compare_path FROM mart_files").fetchall():
            codes = [r[0] for r in con.execute(f"SELECT code FROM '{path}'").fetchall()]
            assert codes == sorted(codes)  # stored in code order, for quick lookups


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """A table's rows in order, without build times."""
    exclude = "EXCLUDE (built_at)" if table == "facility_summary" else ""
    return con.execute(f"SELECT * {exclude} FROM {table} ORDER BY ALL").fetchall()


def test_a_publish_folds_in_only_what_changed(wh: Warehouse) -> None:
    """One facility's new file: only it is judged; the cross-facility marts equal those of
    a build from scratch."""
    known_warehouse(wh)
    load_facility(wh, "ca-b", [rate("99213", "Aetna", "PPO", 200.0)], state="CA", version="b")
    marts = ("price_compare", "facility_code_prices", "code_price_bounds", "code_summary",
             "code_catalog", "facility_summary")  # fmt: skip
    with writer(wh) as con:
        report = rebuild(con, wh)
        assert (report.folded_in, report.folded_out) == (1, 1)
        folded = {t: rows(con, t) for t in marts}
        rebuild(con, wh, force=True)
        scratch = {t: rows(con, t) for t in marts}
        ca = con.execute(
            "SELECT facilities, median_dollar FROM code_summary "
            "WHERE code = '99213' AND state = 'CA'"
        ).fetchall()
    assert folded == scratch
    assert ca == [(1, 200.0)]


def test_a_facility_that_moves_state_moves_in_code_summary(wh: Warehouse) -> None:
    known_warehouse(wh)
    with writer(wh) as con:
        con.execute("UPDATE facilities SET license_state = 'NM' WHERE facility_id = 'tx-c'")
    publish(wh)
    with reader(wh) as con:
        states = con.execute(
            "SELECT state, facilities FROM code_summary WHERE code = '99213' ORDER BY state"
        ).fetchall()
    assert states == [("ALL", 3), ("CA", 1), ("NM", 1), ("TX", 1)]


def test_new_file_replaces_the_facility_prices(wh: Warehouse) -> None:
    load_facility(wh, "tx-a", [rate("99213", "Aetna", "PPO", 100.0)])
    publish(wh)
    load_facility(wh, "tx-a", [rate("99213", "Aetna", "PPO", 140.0)], version="b")
    publish(wh)
    with reader(wh) as con:
        assert con.execute("SELECT median_dollar FROM price_compare").fetchall() == [(140.0,)]


def test_a_per_diem_rate_is_compared_only_per_day(wh: Warehouse) -> None:
    """A per-diem rate is a price per day of a stay: its own price unit ('day'), so its
    group never mixes with case rates (a price per stay)."""
    load_facility(wh, "tx-a", [
        rate("99221", "Aetna", "PPO", 12000.0, methodology="case rate"),
        rate("99221", "Cigna", "PPO", 2500.0, methodology="per diem"),
    ])  # fmt: skip
    load_facility(wh, "tx-b", [rate("99221", "Aetna", "PPO", 2000.0, methodology="per diem")])
    publish(wh)
    with reader(wh) as con:
        units = con.execute(
            "SELECT facility_id, methodology, price_unit, exclusion_reason "
            "FROM comparable_charge_codes ORDER BY ALL"
        ).fetchall()
        compared = con.execute(
            "SELECT facility_id, payer, price_unit, median_dollar FROM price_compare ORDER BY ALL"
        ).fetchall()
        summary = con.execute(
            "SELECT price_unit, facilities, spread_ratio FROM code_summary "
            "WHERE state = 'ALL' ORDER BY ALL"
        ).fetchall()
    assert units == [
        ("tx-a", "case rate", None, None),
        ("tx-a", "per diem", "day", None),
        ("tx-b", "per diem", "day", None),
    ]
    # Not one median of $12,000 and $2,500: a price per stay and one per day, apart.
    assert compared == [
        ("tx-a", "Aetna", None, 12000.0),
        ("tx-a", "Cigna", "day", 2500.0),
        ("tx-b", "Aetna", "day", 2000.0),
    ]
    assert summary == [("day", 2, 1.25), (None, 1, None)]  # one hospital: no spread


def test_marts_through_real_ingest(wh: Warehouse, tmp_path: Path) -> None:
    for seed in (1, 2):
        path = tmp_path / f"h{seed}.csv"
        tall_file(path, n_items=60, seed=seed)
        assert ingest_file(path, wh).outcome == "loaded"
    with reader(wh) as con:
        mapped, comparable = one(
            con, "SELECT min(share_payer_mapped), min(share_comparable) FROM facility_summary"
        )
        facilities, ratio = one(
            con,
            "SELECT facilities, spread_ratio FROM code_summary WHERE code = '73721' "
            "AND state = 'ALL' AND price_unit IS NULL",
        )
        units = con.execute(
            "SELECT DISTINCT methodology FROM comparable_charges WHERE price_unit = 'day'"
        ).fetchall()
    assert units == [("per diem",)]  # the generated per-diem rates, a unit of their own
    assert mapped == 1.0  # every synthetic payer is a known canonical payer
    assert comparable == 1.0  # dollars, or percentages of the item's own gross charge
    assert facilities == 2 and ratio > 1.0


def test_deriving_again_keeps_what_the_published_snapshot_reads(wh: Warehouse) -> None:
    """A forced rebuild derives each file's share again (replacing its `marts/` folder);
    readers of the snapshot published before still read its judged marts."""
    known_warehouse(wh)
    with reader(wh) as old:
        before = old.execute("SELECT * FROM price_compare ORDER BY ALL").fetchall()
        with writer(wh) as con:
            rebuild(con, wh, force=True)
        assert old.execute("SELECT * FROM price_compare ORDER BY ALL").fetchall() == before


def test_a_generic_blue_name_is_the_blue_company_of_the_hospitals_state(wh: Warehouse) -> None:
    """`BlueCrossBlueShield` at a Texas hospital and `BCBS OF TEXAS [1045]` at another are
    one insurer; in California, which two Blue companies share, the name stays generic. The
    analyst's comparable_charges maps each charge with its own file's map."""
    blue = "Blue Cross and Blue Shield of Texas"
    load_facility(wh, "tx-a", [rate("99213", "BlueCrossBlueShield", "PPO", 100.0)], state="TX")
    load_facility(wh, "tx-b", [rate("99213", "BCBS OF TEXAS [1045]", "PPO", 110.0)], state="TX")
    load_facility(wh, "ca-c", [rate("99213", "BlueCrossBlueShield", "PPO", 120.0)], state="CA")
    publish(wh)
    with reader(wh) as con:
        marts = dict(con.execute("SELECT facility_id, payer FROM price_compare").fetchall())
        charges = dict(con.execute("SELECT facility_id, payer FROM comparable_charges").fetchall())
        [(compared,)] = con.execute(
            "SELECT count(DISTINCT facility_id) FROM price_compare WHERE payer = ?", [blue]
        ).fetchall()
    assert marts == {"tx-a": blue, "tx-b": blue, "ca-c": "Blue Cross Blue Shield"}
    assert charges == marts
    assert compared == 2


def test_bounds_are_the_median_and_mad_of_the_binned_prices() -> None:
    """`code_price_bounds` from random bins equals the median and median absolute deviation
    of the bins' values spelled out one by one (statistics.median), group by group."""
    import random
    import statistics

    from warehouse.db import migrate
    from warehouse.marts import _bounds

    draw = random.Random(7)
    con = duckdb.connect()
    migrate(con)
    expected = {}
    for k in range(1, 41):
        bins = {draw.randint(-50, 900): draw.randint(1, 4) for _ in range(draw.randint(1, 30))}
        con.executemany("INSERT INTO mart_price_bins VALUES (?, ?, ?)",
                        [[k, b, n] for b, n in bins.items()])  # fmt: skip
        con.execute("INSERT INTO mart_keys VALUES (?, 'CPT', ?, 'outpatient', NULL)", [k, str(k)])
        values = [b / 100 for b, n in bins.items() for _ in range(n)]
        if len(values) >= 5:  # fewer rates: no band
            middle = statistics.median(values)
            mad = statistics.median(abs(v - middle) for v in values)
            expected[k] = (len(values), middle, mad)
    con.execute("CREATE TEMP TABLE affected_keys AS SELECT DISTINCT k FROM mart_price_bins")
    _bounds(con)
    got = {
        k: (rates, median, upper)
        for k, rates, median, upper in con.execute(
            "SELECT k, rates, median_dollar, upper_dollar FROM code_price_bounds"
        ).fetchall()
    }
    assert got.keys() == expected.keys()
    for k, (rates, middle, mad) in expected.items():
        width = max(4 * 1.4826 * mad, math.log(10))
        assert got[k] == (rates, pytest.approx(math.exp(middle)),
                          pytest.approx(math.exp(middle + width)))  # fmt: skip


def test_marts_built_under_an_equivalent_earlier_signature_are_not_derived_again(
    wh: Warehouse,
) -> None:
    from warehouse.marts import SAME_RULES

    known_warehouse(wh)
    with writer(wh) as con:
        con.execute("UPDATE mart_builds SET signature = ?", [min(SAME_RULES)])
        assert rebuild(con, wh).skipped_heavy  # nothing to fold in, nothing derived again
        con.execute("UPDATE mart_builds SET signature = 'rules of another release'")
        assert rebuild(con, wh).folded_in == 3  # other rules: every file derived again


def test_stage_file_reuses_one_emptied_connection(
    known_wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process derives file after file on one in-memory DuckDB: each file's tables and
    views are dropped after it (a file derived after another one gives what it gives on a
    fresh connection); a failure discards the connection; a big file gets its own."""
    import shutil

    import polars as pl

    from warehouse import marts

    staged = [p.parent for p in known_wh.db_path.parent.rglob(marts.MARTS) if p.is_dir()]
    assert len(staged) >= 2
    copies = []
    for n, folder in enumerate(sorted(staged)[:2]):
        copies.append(tmp_path / str(n))
        shutil.copytree(folder, copies[-1], ignore=shutil.ignore_patterns(marts.MARTS))

    def derived(folder: Path) -> dict[str, pl.DataFrame]:
        marts.stage_file(folder)
        return {
            p.name: pl.read_parquet(p).sort(pl.all())
            for p in sorted((folder / marts.MARTS).glob("*.parquet"))
        }

    marts._stage_local.con = None
    fresh = derived(copies[0])
    kept = marts._stage_local.con
    assert kept is not None
    derived(copies[1])
    again = derived(copies[0])
    assert marts._stage_local.con is kept  # one connection for the three derivations
    assert kept.execute("SHOW ALL TABLES").fetchall() == []
    assert fresh.keys() == again.keys()
    assert all(fresh[name].equals(again[name]) for name in fresh)
    (tmp_path / "empty").mkdir()
    with pytest.raises(duckdb.Error):
        marts.stage_file(tmp_path / "empty")
    assert marts._stage_local.con is None  # discarded after the failure
    assert derived(copies[0]).keys() == fresh.keys()  # a fresh one for the next file
    kept = marts._stage_local.con
    monkeypatch.setattr(marts, "_REUSE_BYTES", 0)  # every file is big now
    big = derived(copies[0])
    assert marts._stage_local.con is kept  # not used, not replaced
    assert kept.execute("SHOW ALL TABLES").fetchall() == []
    assert all(fresh[name].equals(big[name]) for name in fresh)
