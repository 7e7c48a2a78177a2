"""Comparison marts at scale: mart rebuild time and warm query latency on a big warehouse.

    python bench/bench_warehouse.py [--facilities 500] [--rates 100000] [--keep]

Builds a warehouse of `facilities` × `rates` standard charges under bench/out/warehouse:
one Parquet charge file per facility, generated vectorised with Polars from the synthetic
model's distributions (hospitals, payers and plans, price levels, the shoppable services and
drugs, a shared vocabulary of chargemaster CPT codes with Zipf-like popularity, 15 %
percentage rates, a few pennies and algorithm-only rates), registered in the catalog through
`warehouse.load.load_staged` exactly as an ingest would. Then it times `publish()` (mart
rebuild + snapshot copy), a second publish (nothing changed), and `compare` / `search_codes`
on the published snapshot (warm: p50/p95 over many calls).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT
from core.files import FileMeta, StagedFile
from core.schema import STORED_SCHEMA
from devtools.synthetic.model import DRUGS, PAYER_FACTOR, SHOPPABLE, make_hospital
from warehouse.db import Warehouse, reader
from warehouse.load import load_staged
from warehouse.publish import publish
from warehouse.queries import compare, search_codes

STATES = ("CA", "TX", "NY", "FL", "PA", "OH", "IL", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ",
          "MA", "TN", "IN", "MO", "MD", "WI")  # fmt: skip
VOCABULARY = 8000  # distinct chargemaster CPT codes across all hospitals
SEARCH_TERMS = (
    "mri", "knee", "colonoscopy", "office visit", "blood", "ct scan", "delivery",
    "joint replacement", "99213", "chargemaster item 4", "ultrasound", "panel",
)  # fmt: skip


def _vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CPT codes, their base prices and popularity weights (a few codes everywhere)."""
    codes = rng.choice(np.arange(10021, 99499), size=VOCABULARY, replace=False).astype(str)
    base = np.round(rng.lognormal(5.0, 1.2, size=VOCABULARY), 2)
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** 0.6
    return codes, base, weights / weights.sum()


def facility_frame(seed: int, rates: int, vocab: tuple[np.ndarray, ...]) -> pl.DataFrame:
    """One facility's stored charges: items × the hospital's payer plans."""
    hospital = make_hospital(seed, state=STATES[seed % len(STATES)])
    rng = np.random.default_rng(seed)
    plans = hospital.payer_plans
    n_items = max(rates // len(plans), len(SHOPPABLE) + len(DRUGS) + 1)
    codes, base, weights = vocab
    extra = n_items - len(SHOPPABLE) - len(DRUGS)
    picked = rng.choice(VOCABULARY, size=extra, p=weights)
    item_desc = [s[0] for s in SHOPPABLE] + [d[0] for d in DRUGS]
    item_desc += [f"Chargemaster item {codes[i]}" for i in picked]
    code_type = [s[1] for s in SHOPPABLE] + ["HCPCS"] * len(DRUGS) + ["CPT"] * extra
    code = [s[2] for s in SHOPPABLE] + [d[1] for d in DRUGS] + list(codes[picked])
    setting = [s[3] for s in SHOPPABLE] + ["both"] * len(DRUGS)
    setting += list(np.where(rng.random(extra) < 0.3, "inpatient", "outpatient"))
    price = [s[4] for s in SHOPPABLE] + [d[5] for d in DRUGS] + list(base[picked])
    ndc = [None] * len(SHOPPABLE) + [d[2] for d in DRUGS] + [None] * extra
    unit = [None] * len(SHOPPABLE) + [d[3] for d in DRUGS] + [None] * extra
    utype = [None] * len(SHOPPABLE) + [d[4] for d in DRUGS] + [None] * extra
    items = pl.DataFrame(
        {
            "item": np.arange(n_items),
            "description": item_desc,
            "ctype": code_type,
            "code": code,
            "setting": setting,
            "base": np.array(price) * hospital.price_level,
            "ndc": ndc,
            "drug_unit": unit,
            "drug_unit_type": utype,
        },
        schema_overrides={"drug_unit": pl.Float64, "ndc": pl.String, "drug_unit_type": pl.String},
    ).with_columns(
        gross_charge=(pl.col("base") * rng.uniform(2.2, 3.5, n_items)).round(2),
        cdm=(pl.col("item") + 100000).cast(pl.String),
    )
    payers = pl.DataFrame(
        {
            "payer_name": [p for p, _ in plans],
            "plan_name": [q for _, q in plans],
            "factor": [PAYER_FACTOR.get(p, 1.0) for p, _ in plans],
        }
    )
    rows = items.join(payers, how="cross").head(rates)
    n = rows.height
    u = rng.random(n)
    pct = np.round(rng.uniform(35, 85, n), 1)
    dollar = np.round(rows["base"].to_numpy() * rows["factor"].to_numpy()
                      * rng.uniform(0.85, 1.2, n), 2)  # fmt: skip
    is_pct, is_algo, is_penny = u < 0.15, (u >= 0.15) & (u < 0.16), (u >= 0.16) & (u < 0.162)
    gross = rows["gross_charge"].to_numpy()
    code_struct = pl.struct(type=pl.col("ctype"), code=pl.col("code"))
    cdm_struct = pl.struct(type=pl.lit("CDM"), code=pl.col("cdm"))
    ndc_struct = pl.struct(type=pl.lit("NDC"), code=pl.col("ndc"))
    frame = rows.with_columns(
        negotiated_dollar=pl.Series(np.where(is_pct | is_algo, np.nan, np.where(is_penny, 0.01,
                                                                                dollar))),
        negotiated_percentage=pl.Series(np.where(is_pct, pct, np.nan)),
        median_allowed=pl.Series(np.where(is_pct, np.round(gross * pct / 100, 2), np.nan)),
        negotiated_algorithm=pl.when(pl.Series(is_algo)).then(pl.lit("Per contract schedule")),
        methodology=pl.when(pl.Series(is_pct)).then(pl.lit("percent of total billed charges"))
        .when(pl.Series(is_algo)).then(pl.lit("other")).otherwise(pl.lit("fee schedule")),
        discounted_cash=(pl.col("gross_charge") * 0.7).round(2),
        codes=pl.when(pl.col("ndc").is_null()).then(pl.concat_list(code_struct, cdm_struct))
        .otherwise(pl.concat_list(code_struct, ndc_struct, cdm_struct)),
    ).with_columns(pl.col("negotiated_dollar", "negotiated_percentage", "median_allowed")
                   .fill_nan(None))  # fmt: skip
    facility_id = f"{hospital.state.lower()}-{seed:05d}"
    return (
        frame.with_columns(
            file_id=pl.lit(f"{facility_id}-bench"),
            facility_id=pl.lit(facility_id),
            row_no=pl.int_range(pl.len(), dtype=pl.Int64) + 4,
        )
        .select(
            [
                pl.col(c)
                if c in frame.columns or c in {"file_id", "facility_id", "row_no"}
                else pl.lit(None).alias(c)
                for c in STORED_SCHEMA
            ]
        )
        .cast(STORED_SCHEMA)
    )


def build(wh: Warehouse, facilities: int, rates: int) -> float:
    vocab = _vocabulary(np.random.default_rng(7))
    started = time.monotonic()
    for seed in range(1, facilities + 1):
        frame = facility_frame(seed, rates, vocab)
        facility_id, file_id = frame["facility_id"][0], frame["file_id"][0]
        folder = wh.charges_path(facility_id, file_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "part-00000.parquet"
        frame.write_parquet(path, compression="zstd", row_group_size=200_000)
        hospital = make_hospital(seed, state=STATES[seed % len(STATES)])
        meta = FileMeta(
            hospital_name=hospital.name, last_updated_on=hospital.last_updated_on,
            version="3.0.0", license_number=f"{seed:05d}", license_state=hospital.state,
        )  # fmt: skip
        staged = StagedFile(
            facility_id=facility_id, file_id=file_id, source=f"bench:{seed}",
            sha256=hashlib.sha256(file_id.encode()).hexdigest(), bytes=path.stat().st_size,
            layout="csv_tall", encoding="utf-8", meta=meta, data_path=str(folder),
            row_count=frame.height, item_count=None,
            findings=pl.DataFrame(schema={"rule": pl.String, "severity": pl.String,
                                          "row_no": pl.Int64, "column": pl.String,
                                          "value": pl.String, "message": pl.String}),
            finding_counts={}, seconds=0.0,
        )  # fmt: skip
        load_staged(wh, staged)
        if seed % 50 == 0:
            print(f"  {seed} facilities, {time.monotonic() - started:,.0f} s", flush=True)
    return time.monotonic() - started


def _percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)]
    return f"p50 {statistics.median(ms):,.0f} ms, p95 {p95:,.0f} ms, max {ms[-1]:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=500)
    parser.add_argument("--rates", type=int, default=100_000, help="rates per facility")
    parser.add_argument("--keep", action="store_true", help="reuse an existing bench warehouse")
    args = parser.parse_args()
    root = OUT / "warehouse"
    wh = Warehouse.at(root / "hpt.duckdb")
    if not (args.keep and wh.db_path.exists()):
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {args.facilities} facilities × {args.rates:,} rates …", flush=True)
        print(f"generated and loaded in {build(wh, args.facilities, args.rates):,.0f} s")
    started = time.monotonic()
    publish(wh)
    print(f"publish with mart rebuild: {time.monotonic() - started:,.1f} s")
    started = time.monotonic()
    publish(wh)
    print(f"publish again (nothing changed): {time.monotonic() - started:,.1f} s")
    con = reader(wh)
    total, facilities = con.sql(
        "SELECT count(*), count(DISTINCT facility_id) FROM standard_charges"
    ).fetchall()[0]
    heavy = con.sql(
        "SELECT seconds FROM mart_builds WHERE heavy ORDER BY built_at DESC LIMIT 1"
    ).fetchall()[0][0]
    sizes = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
             for t in ("price_compare", "code_summary", "code_catalog")}  # fmt: skip
    print(
        f"warehouse: {total:,} rates, {facilities} facilities; mart rebuild {heavy:,.1f} s; "
        f"rows {sizes}; snapshot {wh.published_path.resolve().stat().st_size / 1e9:,.2f} GB"
    )
    rng = random.Random(1)
    codes = [c for (c,) in con.sql("SELECT code FROM code_catalog").fetchall()]
    sample = [s[2] for s in SHOPPABLE] + rng.sample(codes, 60)
    for code in sample[:10]:
        compare(con, code)  # warm
    timings = []
    for code in sample:
        t = time.monotonic()
        compare(con, code, state=rng.choice((None, "CA", "TX")))
        timings.append(time.monotonic() - t)
    print(f"compare over {len(sample)} codes: {_percentiles(timings)}")
    for term in SEARCH_TERMS:
        search_codes(con, term)  # warm
    timings = []
    for _ in range(5):
        for term in SEARCH_TERMS:
            t = time.monotonic()
            search_codes(con, term)
            timings.append(time.monotonic() - t)
    print(f"search_codes over {len(timings)} searches: {_percentiles(timings)}")
    con.close()


if __name__ == "__main__":
    main()
