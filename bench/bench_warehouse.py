"""The dashboard's reads at scale: a warehouse of ≥ 50 M rates built through the per-file
path, then the dashboard's queries on its published snapshot, and Find a price in a browser.

    python bench/bench_warehouse.py [--facilities 500] [--rates 100000] [--workers 2]
                                    [--keep] [--browser | --no-browser] [--repeat 3]

1. Build (skipped with `--keep` when bench/out/warehouse/ holds a published warehouse):
   `facilities` files of `rates` standard charges each, generated vectorised with Polars
   from the synthetic model's distributions (hospitals in 20 states, their payers and
   plans, price levels, the shoppable services and drugs, 8,000 chargemaster CPT codes with
   Zipf-like popularity, 15 % percentage rates, a few pennies and algorithm-only rates).
   Each file is stored as an ingest stores it — Parquet parts, then its share of the marts
   derived beside them (`warehouse.marts.stage_file`) — in `--workers` processes, and
   loaded into the catalog with `warehouse.load.load_staged`, the charge views refreshed
   once by the publish, as in a batch `hpt ingest`. Then `hpt -v publish` folds every file
   into the marts and writes the snapshot; a second `hpt -v publish` has nothing to fold.
   Each step runs in a child process of bench/measure.py: wall, CPU, peak RSS.
2. Queries on the published snapshot, through the functions the dashboard calls:
   `search_codes` (60 searches), `compare` (100 codes; alone, with a state, with a payer),
   `reads.facility_prices` (Find a price's main read; alone and with a state). Cold: the
   first query on a freshly opened snapshot (a new connection per sample, as after a
   publish); warm: the same connection, every code queried once. p50 / p95 / max in ms.
3. `--browser` (default when /usr/bin/chromium exists): `hpt dashboard --db` on that
   warehouse, driven by Chromium through Playwright at 1,280 px, `--repeat` times: Find a
   price's first meaningful paint (the first visit after the server started, then a new
   session), "knee mri" + Enter to ranked prices, a state, an insurer.

Results: tables, and JSON in bench/out/bench_warehouse-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import BIN, OUT, ROOT, measure
from core.files import FileMeta, Layout, StagedFile
from core.schema import CHARGE_ROW_GROUP, STORED_SCHEMA
from core.warehouse_files import open_snapshot
from dashboard import reads
from devtools.synthetic.model import DRUGS, PAYER_FACTOR, SHOPPABLE, make_hospital
from hpt.pipeline.read import PARQUET_COMPRESSION
from warehouse.db import Warehouse, writer
from warehouse.load import load_staged
from warehouse.marts import stage_file
from warehouse.queries import compare, search_codes
from warehouse.views import views_deferred

STATES = ("CA", "TX", "NY", "FL", "PA", "OH", "IL", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ",
          "MA", "TN", "IN", "MO", "MD", "WI")  # fmt: skip
VOCABULARY = 8000  # distinct chargemaster CPT codes across all hospitals
#: Sixty searches as people type them: services, body parts, tests, codes, partial words.
SEARCHES = (
    "knee mri", "mri", "knee", "colonoscopy", "office visit", "blood test", "ct scan",
    "delivery", "joint replacement", "99213", "73721", "ultrasound", "panel", "x-ray",
    "mammography", "mri brain", "lumbar spine", "cbc", "lipid panel", "metabolic panel",
    "urinalysis", "psychotherapy", "ecg", "echocardiogram", "sleep study", "cataract",
    "tonsil", "gallbladder", "hernia", "breast", "prostate", "upper gi", "endoscopy",
    "emergency", "preventive visit", "specialist", "thyroid", "a1c", "glucose", "psa",
    "vaginal delivery", "cesarean", "hip", "shoulder", "arthroscopy", "ct head",
    "cpt:70551", "hcpcs:73721", "470", "ms-drg 470", "chargemaster item", "item 4",
    "injection", "infusion", "physical therapy", "urine culture", "x-ray chest",
    "cardiac", "biopsy", "ultrasound pregnancy",
)  # fmt: skip
#: Payers asked for with `compare(payer=…)`, in turn (canonical and as typed).
PAYERS = ("Aetna", "UnitedHealthcare", "Cigna", "bcbs", "Humana")


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
    n_items = max(-(-rates // len(plans)), len(SHOPPABLE) + len(DRUGS) + 1)
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


def _stage_one(job: tuple[str, int, int]) -> tuple[int, str, str, str, int, int]:
    """Generate facility `seed`'s charges and store them as an ingest does: Parquet parts
    in `<folder>.part/`, the file's share of the marts derived beside them
    (`warehouse.marts.stage_file`), the folder renamed at the end. In a worker process."""
    root, seed, rates = job
    wh = Warehouse.at(root)
    frame = facility_frame(seed, rates, _vocabulary(np.random.default_rng(7)))
    facility_id, file_id = frame["facility_id"][0], frame["file_id"][0]
    folder = wh.charges_path(facility_id, file_id)
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # Parts of at most 200,000 rows, as the readers' batches are written.
    for number, offset in enumerate(range(0, frame.height, 200_000)):
        part = tmp / f"part-{number:05d}.parquet"
        frame.slice(offset, 200_000).write_parquet(
            part, compression=PARQUET_COMPRESSION, row_group_size=CHARGE_ROW_GROUP
        )
    stage_file(tmp, (), STATES[seed % len(STATES)])
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    return seed, facility_id, file_id, str(folder), frame.height, size


def _missing(wh: Warehouse, facilities: int) -> list[int]:
    """The facilities (seeds 1 to `facilities`) without a file in the catalog yet."""
    seeds = range(1, facilities + 1)
    if not wh.db_path.exists():
        return list(seeds)
    with writer(wh) as con:
        loaded = {r[0] for r in con.execute("SELECT facility_id FROM files").fetchall()}
    return [s for s in seeds if f"{STATES[s % len(STATES)].lower()}-{s:05d}" not in loaded]


def build(wh: Warehouse, facilities: int, rates: int, workers: int) -> None:
    """Generate, store and derive the file of every facility not in the catalog yet, in
    `workers` processes; load each into the catalog (`load_staged`, the charge views
    refreshed once at the publish, as a batch `hpt ingest` does)."""
    started = time.monotonic()
    jobs = [(str(wh.db_path), seed, rates) for seed in _missing(wh, facilities)]
    # Spawned, not forked: a fork of a process running Polars or DuckDB threads can hang.
    with multiprocessing.get_context("spawn").Pool(workers) as pool, writer(wh), views_deferred():
        for done, result in enumerate(pool.imap_unordered(_stage_one, jobs), 1):
            seed, facility_id, file_id, folder, rows, size = result
            hospital = make_hospital(seed, state=STATES[seed % len(STATES)])
            meta = FileMeta(
                hospital_name=hospital.name, last_updated_on=hospital.last_updated_on,
                version="3.0.0", license_number=f"{seed:05d}", license_state=hospital.state,
            )  # fmt: skip
            staged = StagedFile(
                facility_id=facility_id, file_id=file_id, source=f"bench:{seed}",
                sha256=hashlib.sha256(file_id.encode()).hexdigest(), bytes=int(size),
                layout=Layout.CSV_TALL, encoding="utf-8", meta=meta, data_path=folder,
                row_count=rows, item_count=None,
                findings=pl.DataFrame(schema={"rule": pl.String, "severity": pl.String,
                                              "row_no": pl.Int64, "column": pl.String,
                                              "value": pl.String, "message": pl.String}),
                finding_counts={}, seconds=0.0,
            )  # fmt: skip
            load_staged(wh, staged)
            if done % 50 == 0:
                print(f"  {done} facilities, {time.monotonic() - started:,.0f} s", flush=True)


# -- measuring ----------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
#: The mart fold's log line at -v ("marts: 500 file(s) folded in, 0 out (…), in 812.31 s").
MARTS_LOG = re.compile(r"marts: (\d+) file\(s\) folded in.* in ([\d.]+) s")


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def step(name: str, cmd: list[str]) -> dict[str, Any]:
    """`cmd` in a child of bench/measure.py: wall, CPU, peak RSS, and the load around it."""
    before = load()
    done = measure(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out: dict[str, Any] = {
        "seconds": done.seconds, "cpu_seconds": done.cpu_seconds,
        "peak_rss_mb": done.peak_rss_mb, "load_before": before, "load_after": load(),
    }  # fmt: skip
    folded = MARTS_LOG.findall(done.stdout)
    if folded:
        out["folded_in"], out["marts_seconds"] = int(folded[-1][0]), float(folded[-1][1])
    marts = (
        f", marts {out['marts_seconds']:,.1f} s ({out['folded_in']} files folded in)"
        if "marts_seconds" in out
        else ""
    )
    print(f"  {name}: {done.seconds:,.1f} s wall, {done.cpu_seconds:,.1f} s CPU, peak RSS "
          f"{done.peak_rss_mb:,.0f} MB{marts} (load {before} → {out['load_after']})",
          flush=True)  # fmt: skip
    return out


def publish_cmd(wh: Warehouse) -> list[str]:
    """`hpt -v publish`, its log on stdout (read for the marts' line)."""
    script = (
        "import sys; sys.stderr = sys.stdout; from hpt.cli import app; "
        f"app(['-v', 'publish', '--db', {str(wh.db_path)!r}])"
    )
    return [sys.executable, "-c", script]


def describe(wh: Warehouse) -> dict[str, Any]:
    """The published warehouse: rates, facilities, codes, mart rows, sizes."""
    con = open_snapshot(wh.published_path.resolve())
    try:

        def one(sql: str) -> Any:
            return con.sql(sql).fetchall()[0][0]

        out = {
            "rates": one("SELECT sum(row_count) FROM current_files"),
            "facilities": one("SELECT count(*) FROM current_files"),
            "states": one("SELECT count(DISTINCT state) FROM facility_locations"),
            "codes": one("SELECT count(*) FROM code_catalog"),
            "price_compare_rows": one("SELECT count(*) FROM price_compare"),
            "code_summary_rows": one("SELECT count(*) FROM code_summary"),
            "snapshot_mb": wh.published_path.resolve().stat().st_size / 1e6,
            "charges_gb": sum(f.stat().st_size for f in wh.charges_dir.rglob("*.parquet")) / 1e9,
        }
    finally:
        con.close()
    print(f"  warehouse: {out['rates']:,} rates, {out['facilities']} facilities in "
          f"{out['states']} states, {out['codes']:,} codes, price_compare "
          f"{out['price_compare_rows']:,} rows, snapshot {out['snapshot_mb']:,.1f} MB, Parquet "
          f"{out['charges_gb']:,.2f} GB", flush=True)  # fmt: skip
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {"n": len(ms), "p50_ms": ms[len(ms) // 2], "p95_ms": p95, "max_ms": ms[-1]}


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _codes(con: Any, count: int) -> list[tuple[str, str]]:
    """`count` codes to look up: the curated shoppable services first, then codes drawn at
    random from the catalog (most of them priced by few hospitals)."""
    rows = con.sql(
        "SELECT code_type, code, curated FROM code_catalog ORDER BY curated DESC, code"
    ).fetchall()
    curated = [(t, c) for t, c, cur in rows if cur][: count // 2]
    rest = [(t, c) for t, c, cur in rows if not cur]
    return curated + random.Random(1).sample(rest, count - len(curated))


def bench_queries(wh: Warehouse) -> dict[str, Any]:
    """The dashboard's query functions on the published snapshot, cold and warm."""
    path = wh.published_path.resolve()
    con = open_snapshot(path)
    codes = _codes(con, 100)
    states = [s for s in reads.states(con)]
    con.close()
    rng = random.Random(2)
    kinds: dict[str, Callable[[Any, int], Any]] = {
        "search_codes": lambda c, i: search_codes(c, SEARCHES[i % len(SEARCHES)]),
        "compare": lambda c, i: compare(c, f"{codes[i][0]}:{codes[i][1]}"),
        "compare, a state": lambda c, i: compare(
            c, f"{codes[i][0]}:{codes[i][1]}", state=states[i % len(states)]
        ),
        "compare, a payer": lambda c, i: compare(
            c, f"{codes[i][0]}:{codes[i][1]}", payer=PAYERS[i % len(PAYERS)]
        ),
        "facility_prices": lambda c, i: reads.facility_prices(c, codes[i][0], codes[i][1]),
        "facility_prices, a state": lambda c, i: reads.facility_prices(
            c, codes[i][0], codes[i][1], states[i % len(states)]
        ),
    }
    counts = {"search_codes": len(SEARCHES)}
    out: dict[str, Any] = {"load_start": load()}
    # Cold: the first query of a connection just opened on the snapshot (as after a publish),
    # the database closed between samples so nothing (Parquet footers) stays cached.
    opens: list[float] = []
    cold: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(10):
        for kind, query in kinds.items():
            started = time.perf_counter()
            c = open_snapshot(path)
            opened = time.perf_counter()
            query(c, rng.randrange(counts.get(kind, len(codes))))
            cold[kind].append(time.perf_counter() - opened)
            opens.append(opened - started)
            c.close()
    out["open"] = percentiles(opens)
    con = open_snapshot(path)
    warm = {}
    try:
        compare(con, "CPT:73721")  # the connection's first query: footers read
        for kind, query in kinds.items():
            n = counts.get(kind, len(codes))
            warm[kind] = [timed(lambda q=query, i=i: q(con, i)) for i in range(n)]  # type: ignore[misc]
    finally:
        con.close()
    out["cold"] = {k: percentiles(v) for k, v in cold.items()}
    out["warm"] = {k: percentiles(v) for k, v in warm.items()}
    out["load_end"] = load()
    print(f"  queries (load {out['load_start']} → {out['load_end']}); opening the snapshot "
          f"p50 {out['open']['p50_ms']:,.0f} ms", flush=True)  # fmt: skip
    print(f"  {'query':28} {'n':>4} {'warm p50':>9} {'p95':>7} {'max':>7}   {'cold p50':>9} "
          f"{'p95':>7} {'max':>7}  (ms)")  # fmt: skip
    for kind in kinds:
        w, c = out["warm"][kind], out["cold"][kind]
        print(f"  {kind:28} {w['n']:>4} {w['p50_ms']:>9,.0f} {w['p95_ms']:>7,.0f} "
              f"{w['max_ms']:>7,.0f}   {c['p50_ms']:>9,.0f} {c['p95_ms']:>7,.0f} "
              f"{c['max_ms']:>7,.0f}", flush=True)  # fmt: skip
    return out


# -- in a browser ---------------------------------------------------------------------------

#: Steps of one browser repetition, in order: key, what the table prints.
BROWSER_STEPS = (
    ("first_visit_after_start_s", "Find a price, the first visit after `hpt dashboard` started"),
    ("first_paint_s", "Find a price, first meaningful paint of a new session"),
    ("search_to_ranked_prices_s", 'type "knee mri" + Enter → ranked prices'),
    ("choose_state_s", "choose a state → table updated"),
    ("choose_insurer_s", "choose an insurer → the insurer's prices"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard(wh: Warehouse) -> Iterator[str]:
    """`hpt dashboard --db` on a free port until it answers its health check; Ctrl-C at
    the end."""
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "hpt"), "dashboard", "--db", str(wh.db_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the dashboard did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _idle(tab: Any) -> None:
    """Until the script run has finished."""
    tab.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
    )
    tab.wait_for_timeout(200)


def _choose(tab: Any, label: str, option: str) -> float:
    """Pick a selectbox option; returns when it was clicked (the interaction starts)."""
    tab.get_by_label(label, exact=True).click()
    item = tab.get_by_role("option", name=option, exact=True)
    item.wait_for()
    picked = time.monotonic()
    item.click()
    return picked


#: True when every row of the ranked table is in the state (and there is one).
_ALL_IN_STATE = """state => {
    const t = document.querySelector('[data-testid=stTable] table');
    if (!t) return false;
    const head = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
    const i = head.indexOf('State');
    const rows = [...t.querySelectorAll('tbody tr')];
    return i >= 0 && rows.length > 0 && rows.every(r => r.children[i].innerText.trim() === state);
}"""


def _one_visit(browser: Any, wh: Warehouse, state: str, payer: str) -> dict[str, float]:
    """A fresh server; its first visit, then a new session: search, a state, an insurer."""
    out: dict[str, float] = {}
    with dashboard(wh) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 2000})
        tab = context.new_page()
        started = time.monotonic()
        tab.goto(base)
        tab.get_by_text("Type what you need above").wait_for(timeout=120_000)
        out["first_visit_after_start_s"] = time.monotonic() - started
        context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 2000})
        tab = context.new_page()
        tab.set_default_timeout(120_000)
        started = time.monotonic()
        tab.goto(base)
        tab.get_by_text("Type what you need above").wait_for()
        out["first_paint_s"] = time.monotonic() - started
        _idle(tab)
        box = tab.get_by_label("What do you need?")
        box.fill("knee mri")
        started = time.monotonic()
        box.press("Enter")
        tab.get_by_text("Lowest cash price").wait_for()
        tab.locator('[data-testid="stTable"] tbody tr').first.wait_for()
        out["search_to_ranked_prices_s"] = time.monotonic() - started
        out["rows_all_states"] = tab.locator('[data-testid="stTable"] tbody tr').count()
        _idle(tab)
        started = _choose(tab, "State", state)
        tab.wait_for_function(_ALL_IN_STATE, arg=state)
        out["choose_state_s"] = time.monotonic() - started
        out["rows_in_state"] = tab.locator('[data-testid="stTable"] tbody tr').count()
        _idle(tab)
        started = _choose(tab, "Insurer", payer)
        tab.get_by_text(f"Lowest {payer} price").wait_for()
        out["choose_insurer_s"] = time.monotonic() - started
        _idle(tab)
        if tab.locator('[data-testid="stException"]').count():
            raise SystemExit("the page shows an exception")
        context.close()
    return out


def bench_browser(wh: Warehouse, repeat: int) -> dict[str, Any]:
    """Find a price in Chromium at 1,280 px, `repeat` times, each on a new server."""
    from playwright.sync_api import sync_playwright

    con = open_snapshot(wh.published_path.resolve())
    try:  # the state and insurer with the most hospitals pricing a knee MRI
        state, payer = con.sql(
            "SELECT any_value(l.state), p.payer FROM price_compare p "
            "JOIN facility_locations l USING (facility_id) WHERE p.code = '73721' "
            "AND p.payer IS NOT NULL AND p.rates > 0 GROUP BY p.payer "
            "ORDER BY count(DISTINCT facility_id) DESC, p.payer LIMIT 1"
        ).fetchall()[0]
    finally:
        con.close()
    out: dict[str, Any] = {"load_start": load(), "state": state, "payer": payer, "runs": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                out["runs"].append({**_one_visit(browser, wh, state, payer), "load": load()})
        finally:
            browser.close()
    out["load_end"] = load()
    print(f"  in Chromium at 1,280 px, {repeat} runs, {state}, {payer} "
          f"(load {out['load_start']} → {out['load_end']}); ranked rows: "
          f"{out['runs'][0]['rows_all_states']} all states, "
          f"{out['runs'][0]['rows_in_state']} in {state}", flush=True)  # fmt: skip
    for key, label in BROWSER_STEPS:
        values = ", ".join(f"{r[key]:.2f}" for r in out["runs"])
        print(f"  {label:62} {values} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=500)
    parser.add_argument("--rates", type=int, default=100_000, help="rates per facility")
    parser.add_argument("--workers", type=int, default=2, help="processes generating files")
    parser.add_argument(
        "--keep", action="store_true", help="keep the warehouse built before; add what it lacks"
    )
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=CHROMIUM.exists(),
        help="also time Find a price in Chromium (default: when /usr/bin/chromium exists)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="browser repetitions")
    parser.add_argument("--step", choices=("build",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = OUT / "warehouse"
    wh = Warehouse.at(root / "hpt.duckdb")
    if args.step == "build":
        build(wh, args.facilities, args.rates, args.workers)
        return
    started = dt.datetime.now()
    report: dict[str, Any] = {"started": started.isoformat(timespec="seconds"),
                              "cpus": os.cpu_count(), "load_start": load()}  # fmt: skip
    print(f"load average at start: {report['load_start']}", flush=True)
    kept = args.keep and wh.db_path.exists()
    if not kept:
        shutil.rmtree(root, ignore_errors=True)
    missing = len(_missing(wh, args.facilities))
    if missing:  # with --keep: the facilities beyond those built before
        cmd = [sys.executable, str(Path(__file__).resolve()), "--step", "build",
               "--facilities", str(args.facilities), "--rates", str(args.rates),
               "--workers", str(args.workers)]  # fmt: skip
        report["build"] = step(f"build: {missing} facilities × {args.rates:,} rates", cmd)
    if missing or not wh.published_path.exists():
        report["publish"] = step("publish", publish_cmd(wh))
    report["publish_again"] = step("publish again (nothing changed)", publish_cmd(wh))
    report["warehouse"] = describe(wh)
    report["queries"] = bench_queries(wh)
    if args.browser:
        report["browser"] = bench_browser(wh, args.repeat)
    report["load_end"] = load()
    path = OUT / f"bench_warehouse-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"results: {path}; load average at end: {report['load_end']}")


if __name__ == "__main__":
    main()
