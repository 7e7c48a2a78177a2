"""Publish time after ONE changed facility, at warehouse sizes of 10, 100 and 1,000
facilities; and, with `--nightly N`, a nightly `hpt run` over N served facilities, twice.

    python bench/bench_publish.py [--sizes 10,100,1000] [--rates-per-file 20000]
                                  [--codes 2000] [--nightly 1000] [--keep] [--reuse]

The facilities' files (generated once into bench/out/publish-files-<rates>-<codes>/, in two
processes): one file per facility, the layouts in turn (tall CSV, JSON, wide CSV), template
3.0.0, each its own hospital (`devtools.synthetic.model.make_hospital`: 6–12 payer/plan
groups), items from `devtools.synthetic.model.items` (the 40 shoppable services, 7 drugs,
then chargemaster lines) until the file holds `--rates-per-file` payer rates. The
chargemaster lines' CPT codes are drawn from one vocabulary of `--codes` codes shared by all
hospitals, Zipf-like (a few codes everywhere, most in a few files), so hospitals share codes
as real ones do. At the defaults a file holds 20,009 rates on ~1,800 item × setting lines,
with ~750 distinct service codes (CPT, HCPCS, NDC, MS-DRG; ~2,800 with the hospital's own
chargemaster and revenue codes): 3.1 MB as tall CSV.

Per size N, in bench/out/publish-<N>/ (removed afterwards unless `--keep`):

1. build: ONE `hpt ingest FILE... --db` of the N files (defaults: CMS checks, quality gate,
   one publish at the end). With `--keep` the warehouse as built is also kept in
   bench/out/publish-<N>-built/ (Parquet files hard-linked, the rest copied), and `--reuse` starts
   from a copy of it instead of building again (the 1,000-facility build takes 10–20 min);
2. one facility changes (its file again with other prices and a later date):
   `hpt -v ingest FILE --db --json`, the default command, as a user runs it — read, CMS
   checks, gate, load, publish. Its publish is read from its `-v` log ("published … in N s":
   the snapshot with its marts fold, and the Data Docs pages), as is the mart rebuild's
   own time; the JSON also keeps an estimate by difference (wall less the file's ingest,
   `seconds` in its JSON, less the process's fixed cost: wall less `seconds` of step 3's run);
3. the same facility changes again, loaded with `--no-publish`, then the publish alone in a
   process of its own: `hpt.pipeline.steps.publish_checked(wh)` (what `hpt run` and the
   nightly DAG call: views, marts, snapshot copy, the warehouse check, Data Docs), timed in
   the process, with the mart rebuild (its log line) and the warehouse check (its result)
   apart.

`--nightly N` (default 1,000; 0: none): a universe of N hospital websites (each a `cms-hpt.txt`
naming its file, the files above) under bench/out/publish-nightly-<N>/, served by the demo
server in this process, and `hpt run --sources … --db <fresh warehouse>` twice: the second
run, nothing changed upstream, must download 0 MRF bytes (counted by the server) and take at
most 10 % of the first.

Every command runs in a child process of `bench/measure.py`'s wrapper: wall time, CPU time
and peak RSS from its rusage. Results: a table, and JSON in bench/out/bench_publish-<time>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import measure as measure_module
from bench.measure import BIN, OUT, ROOT, Measured, warm_cache
from devtools.synthetic.json_file import write_json
from devtools.synthetic.model import Hospital, Item, LayoutWriter, items, make_hospital
from devtools.synthetic.tall import write_tall
from devtools.synthetic.wide import write_wide

LAYOUTS: tuple[tuple[str, LayoutWriter, str], ...] = (
    ("tall", write_tall, "csv"), ("json", write_json, "json"), ("wide", write_wide, "csv"),
)  # fmt: skip
NIGHTLY_TARGET = 0.10
#: Price level factors of the changed facility's new versions (steps 2 and 3).
CHANGES = (1.07, 1.15)
#: The mart build's log line(s) at -v ("marts rebuilt in 3.2 s", "marts: … in 0.52 s").
MARTS_LOG = re.compile(r"\bmarts\b.*? in ([\d.]+) s")
#: The publish's own log line at -v ("published hpt-….duckdb in 1.23 s").
PUBLISHED_LOG = re.compile(r"\bpublished \S+ in ([\d.]+) s")
OUR_LOG = re.compile(r" (INFO|WARNING|ERROR) hpt[.:]")

# What the publish-alone child runs: `publish_checked` timed in the process, with our log.
PUBLISH_CHILD = """
import json, logging, sys, time
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
ours = logging.getLogger("hpt")
ours.addHandler(Keep())
ours.setLevel(logging.INFO)
from hpt.pipeline.steps import publish_checked
from warehouse.db import Warehouse
wh = Warehouse.at(sys.argv[1])
started = time.perf_counter()
published = publish_checked(wh)
seconds = time.perf_counter() - started
check = published.check
print(json.dumps({"seconds": seconds, "check": str(getattr(check, "outcome", "")),
                  "check_seconds": float(getattr(check, "seconds", 0.0) or 0.0),
                  "log": lines}))
"""


# -- the facilities' files ---------------------------------------------------------------


def vocabulary(size: int) -> tuple[list[str], list[float]]:
    """`size` CPT codes shared by every hospital, with Zipf-like cumulative weights."""
    rng = random.Random(20_260_101)
    codes = [str(c) for c in rng.sample(range(10021, 99499), size)]
    weights = [1.0 / (rank**0.8) for rank in range(1, size + 1)]
    return codes, list(itertools.accumulate(weights))


def facility_items(
    hospital: Hospital, seed: int, rates: int, vocab: tuple[list[str], list[float]]
) -> Iterator[Item]:
    """The hospital's items until they hold `rates` payer rates; chargemaster lines coded
    from the shared vocabulary. The same seed gives the same items (codes, settings,
    payers) whatever the hospital's price level: a new version changes prices only."""
    codes, cum = vocab
    rng = random.Random(seed)
    count = 0
    for item in items(hospital, 10**9, seed):
        if item.description.startswith("Chargemaster item"):
            cpt = rng.choices(codes, cum_weights=cum)[0]
            cdm, _, rc = item.codes
            item = dataclasses.replace(
                item, description=f"Chargemaster item {cpt}", codes=(cdm, ("CPT", cpt), rc)
            )
        yield item
        count += sum(len(charge.payers) for charge in item.charges)
        if count >= rates:
            return


def write_facility(
    path: Path, index: int, rates: int, codes: int, price_factor: float = 1.0
) -> int:
    """Facility `index`'s file (its layout by index); `price_factor` ≠ 1: a new version."""
    _, writer, _ = LAYOUTS[index % len(LAYOUTS)]
    seed = 10_000 + index
    hospital = make_hospital(seed)
    if price_factor != 1.0:
        hospital = dataclasses.replace(
            hospital,
            price_level=round(hospital.price_level * price_factor, 4),
            last_updated_on=hospital.last_updated_on + dt.timedelta(days=30),
        )
    tmp = path.with_suffix(".tmp")
    writer(tmp, hospital, facility_items(hospital, seed, rates, vocabulary(codes)), seed=seed)
    tmp.rename(path)
    return index


def _write_one(job: tuple[str, int, int, int, float]) -> int:
    path, index, rates, codes, factor = job
    return write_facility(Path(path), index, rates, codes, factor)


def facility_files(count: int, rates: int, codes: int) -> tuple[list[Path], list[Path]]:
    """The first `count` facilities' files, and facility 0's two new versions (made once)."""
    folder = OUT / f"publish-files-{rates}-{codes}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        layout, _, ext = LAYOUTS[index % len(LAYOUTS)]
        paths.append(folder / f"{index:05d}_{layout}.{ext}")
    changed = [folder / "changed" / f"00000_tall_v{n}.csv" for n in (2, 3)]
    changed[0].parent.mkdir(exist_ok=True)
    jobs = [(str(p), i, rates, codes, 1.0) for i, p in enumerate(paths) if not p.exists()]
    jobs += [
        (str(p), 0, rates, codes, f)
        for p, f in zip(changed, CHANGES, strict=True)
        if not p.exists()
    ]
    if jobs:
        started = time.perf_counter()
        print(f"generating {len(jobs)} files into {folder} …", flush=True)
        with multiprocessing.Pool(min(2, os.cpu_count() or 1)) as pool:
            for done, _ in enumerate(pool.imap_unordered(_write_one, jobs, chunksize=4), 1):
                if done % 200 == 0:
                    print(f"  {done}/{len(jobs)}", flush=True)
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
    return paths, changed


def describe(path: Path) -> str:
    """Rates, items, distinct codes and size of one generated tall file (for the record):
    service codes (CPT, HCPCS, MS-DRG, NDC: what the marts compare) and all (with the
    hospital's own CDM and revenue codes)."""
    import polars as pl

    frame = pl.read_csv(path, skip_rows=2, infer_schema=False)
    pairs = pl.concat(
        frame.select(code=pl.col(f"code|{i}"), type=pl.col(f"code|{i}|type")) for i in (1, 2, 3)
    ).drop_nulls()
    service = pairs.filter(~pl.col("type").is_in(["CDM", "RC", "LOCAL"])).unique().height
    items = frame.select("description", "code|1", "setting").n_unique()
    return (
        f"{frame.height:,} rates, {items:,} item × setting lines, {service:,} distinct service "
        f"codes ({pairs.unique().height:,} with CDM and revenue codes), "
        f"{path.stat().st_size / 1e6:.1f} MB"
    )


# -- measuring ---------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    measured: Measured
    stderr: str
    returncode: int


def run(cmd: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> Run:
    """`cmd` in a child of bench/measure.py's wrapper: wall, CPU, peak RSS; and its stderr."""
    wrapper = [sys.executable, measure_module.__file__, "--", *cmd]
    done = subprocess.run(wrapper, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode not in ok:
        raise SystemExit(
            f"{' '.join(cmd[:4])} … failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    *lines, last = done.stdout.rstrip("\n").split("\n")
    stats = json.loads(last)
    measured = Measured(
        stats["seconds"], stats["peak_rss_mb"], "\n".join(lines), stats.get("cpu_seconds", 0.0)
    )
    return Run(measured, done.stderr, done.returncode)


def json_out(stdout: str) -> Any:
    start = min(i for i in (stdout.find("{"), stdout.find("[")) if i >= 0)
    return json.loads(stdout[start:])


def marts_seconds(lines: list[str]) -> float | None:
    found = [float(m.group(1)) for line in lines if (m := MARTS_LOG.search(line))]
    return sum(found) if found else None


def published_seconds(lines: list[str]) -> float | None:
    found = [float(m.group(1)) for line in lines if (m := PUBLISHED_LOG.search(line))]
    return found[-1] if found else None


def _link_or_copy(src: str, dst: str) -> None:
    """A built warehouse's files for a reused copy: Parquet files hard-linked (charges and
    marts are written once, never rewritten), everything else (the catalog, snapshots, Data
    Docs) copied, as those may be written in place."""
    if src.endswith(".parquet"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def tree_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def load() -> float:
    return os.getloadavg()[0]


def bench_size(
    n: int, files: list[Path], changed: list[Path], keep: bool, reuse: bool = False
) -> dict[str, Any]:
    root = OUT / f"publish-{n}"
    built = OUT / f"publish-{n}-built"  # the warehouse as built, kept with --keep
    shutil.rmtree(root, ignore_errors=True)
    db = root / "hpt.duckdb"
    env = {**os.environ, "HPT_WORK_DIR": str(root / "work"), "HPT_DB": str(db)}
    hpt = str(BIN / "hpt")
    out: dict[str, Any] = {"facilities": n, "load_start": load()}
    print(f"== {n:,} facilities (load average {out['load_start']:.1f})", flush=True)
    try:
        if reuse and (built / "build.json").exists():
            shutil.copytree(built, root, symlinks=True, copy_function=_link_or_copy)
            out["build"] = json.loads((root / "build.json").read_text())
            out["build"]["reused"] = str(built)
            print(f"  build: reused {built} (built in {out['build']['seconds']:.1f} s)")
        else:
            root.mkdir(parents=True)
            warm_cache(*files[:n])
            build = run([hpt, "ingest", *map(str, files[:n]), "--db", str(db), "--json"], env)
            results = json_out(build.measured.stdout)
            bad = [r for r in results if r.get("outcome") != "loaded"]
            if bad:
                raise SystemExit(f"not loaded: {[(r['source'], r['message']) for r in bad[:5]]}")
            rows = sum(int(r.get("rows", 0)) for r in results)
            b = build.measured
            out["build"] = {"seconds": b.seconds, "peak_rss_mb": b.peak_rss_mb,
                            "cpu_seconds": b.cpu_seconds, "rows": rows}  # fmt: skip
            print(f"  build: one `hpt ingest` of {n} files, {rows:,} rates: "
                  f"{b.seconds:.1f} s, peak RSS {b.peak_rss_mb:.0f} MB", flush=True)  # fmt: skip
            if keep:
                (root / "build.json").write_text(json.dumps(out["build"]))
                shutil.rmtree(built, ignore_errors=True)
                shutil.copytree(root, built, symlinks=True, copy_function=_link_or_copy)
        out["catalog_mb"] = db.stat().st_size / 1e6
        out["charges_mb"] = tree_mb(root / "hpt-charges")
        print(f"  catalog {out['catalog_mb']:.0f} MB, Parquet {out['charges_mb']:.0f} MB",
              flush=True)  # fmt: skip

        warm_cache(changed[0])
        full = run([hpt, "-v", "ingest", str(changed[0]), "--db", str(db), "--json"], env)
        result = json_out(full.measured.stdout)
        if result.get("outcome") != "loaded":
            raise SystemExit(f"changed file not loaded: {result}")
        warm_cache(changed[1])
        cmd = [hpt, "ingest", str(changed[1]), "--db", str(db), "--no-publish", "--json"]
        nopub = run(cmd, env)
        result2 = json_out(nopub.measured.stdout)
        if result2.get("outcome") != "loaded":
            raise SystemExit(f"second changed file not loaded: {result2}")
        fixed = nopub.measured.seconds - float(result2["seconds"])
        publish_in = full.measured.seconds - float(result["seconds"]) - fixed
        alone = run([sys.executable, "-c", PUBLISH_CHILD, str(db)], env)
        stats = json.loads(alone.measured.stdout.strip().splitlines()[-1])
        out["ingest"] = {
            "seconds": full.measured.seconds, "cpu_seconds": full.measured.cpu_seconds,
            "peak_rss_mb": full.measured.peak_rss_mb, "file_seconds": result["seconds"],
            "publish_seconds_est": publish_in,
            "publish_seconds": published_seconds(full.stderr.splitlines()),
            "marts_seconds": marts_seconds(full.stderr.splitlines()),
            "log": [line for line in full.stderr.splitlines() if OUR_LOG.search(line)][-20:],
        }  # fmt: skip
        out["ingest_no_publish"] = {
            "seconds": nopub.measured.seconds, "peak_rss_mb": nopub.measured.peak_rss_mb,
            "file_seconds": result2["seconds"], "fixed_seconds": fixed,
        }  # fmt: skip
        out["publish_alone"] = {
            "seconds": stats["seconds"], "process_seconds": alone.measured.seconds,
            "cpu_seconds": alone.measured.cpu_seconds, "peak_rss_mb": alone.measured.peak_rss_mb,
            "marts_seconds": marts_seconds(stats["log"]), "check": stats["check"],
            "check_seconds": stats["check_seconds"], "log": stats["log"][-20:],
        }  # fmt: skip
        snapshot = (root / "hpt-published" / "current.duckdb").resolve()
        out["snapshot_mb"] = snapshot.stat().st_size / 1e6
        out["load_end"] = load()
        ing, pub = out["ingest"], out["publish_alone"]
        print(f"  `hpt ingest` of 1 changed file: {ing['seconds']:.1f} s "
              f"(file {ing['file_seconds']:.1f} s, publish {_s(ing['publish_seconds'])}, "
              f"marts {_s(ing['marts_seconds'])}), "
              f"peak RSS {ing['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
        print(f"  publish alone: {pub['seconds']:.1f} s (marts {_s(pub['marts_seconds'])}, "
              f"warehouse check {pub['check']} {pub['check_seconds']:.1f} s), process "
              f"{pub['process_seconds']:.1f} s, peak RSS {pub['peak_rss_mb']:.0f} MB",
              flush=True)  # fmt: skip
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return out


def _s(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} s"


# -- the nightly run ---------------------------------------------------------------------


def universe(folder: Path, files: list[Path], base_url: str) -> Path:
    """N websites, each a `cms-hpt.txt` naming its file (a hard link to the generated
    one); returns the registry."""
    from ingest.registry import SourceEntry, write_sources

    sites = folder / "sites"
    shutil.rmtree(sites, ignore_errors=True)
    entries = []
    for index, source in enumerate(files):
        hospital = make_hospital(10_000 + index)
        site = f"h{index:05d}"
        name = f"{hospital.name} {index}"
        target = sites / site / "files" / f"{index:05d}_standardcharges{source.suffix}"
        target.parent.mkdir(parents=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        url = f"{base_url}/{site}/files/{target.name}"
        (sites / site / "cms-hpt.txt").write_text(
            f"location-name: {name}\nsource-page-url: {base_url}/{site}/\nmrf-url: {url}\n"
            f"contact-name: Pricing Office\ncontact-email: prices@{site}.example\n",
            encoding="utf-8",
        )
        entries.append(SourceEntry(name=name, facility_id=f"bench-{index:05d}",
                                   state=hospital.state, city=hospital.city, zip=hospital.zip,
                                   website=f"{base_url}/{site}/"))  # fmt: skip
    registry = folder / "sources.csv"
    write_sources(registry, entries)
    return registry


def bench_nightly(files: list[Path], keep: bool) -> dict[str, Any]:
    from devtools.demo_server import running

    n = len(files)
    folder = OUT / f"publish-nightly-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "hpt.duckdb"
    env = {**os.environ, "HPT_WORK_DIR": str(folder / "work"),
           "HPT_LANDING": str(folder / "landing"), "HPT_DB": str(db)}  # fmt: skip
    out: dict[str, Any] = {"facilities": n, "load_start": load(), "runs": []}
    print(f"== nightly: `hpt run` over {n:,} served facilities, twice "
          f"(load average {out['load_start']:.1f})", flush=True)  # fmt: skip
    try:
        with running(folder) as server:
            registry = universe(folder, files, server.base_url)
            warm_cache(*files)
            cmd = [str(BIN / "hpt"), "run", "--sources", str(registry), "--db", str(db)]
            for number in (1, 2):
                before = Counter(server.sent)
                done = run(cmd, env, ok=(0, 1))
                sent = Counter(server.sent) - before
                txt = sum(v for path, v in sent.items() if path.endswith("/cms-hpt.txt"))
                mrf = sum(sent.values()) - txt
                summary = [ln for ln in done.measured.stdout.splitlines() if " ok, " in ln]
                out["runs"].append({
                    "seconds": done.measured.seconds, "cpu_seconds": done.measured.cpu_seconds,
                    "peak_rss_mb": done.measured.peak_rss_mb, "mrf_bytes": mrf,
                    "txt_bytes": txt, "exit": done.returncode,
                    "summary": summary[-1].strip() if summary else "",
                })  # fmt: skip
                m = done.measured
                print(f"  run {number}: {m.seconds:.1f} s, peak RSS {m.peak_rss_mb:.0f} MB, "
                      f"MRF bytes {mrf:,}, cms-hpt.txt bytes {txt:,}, exit {done.returncode} "
                      f"({out['runs'][-1]['summary']})", flush=True)  # fmt: skip
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    first, second = out["runs"]
    out["ratio"] = second["seconds"] / first["seconds"]
    out["load_end"] = load()
    verdict = "OK" if out["ratio"] <= NIGHTLY_TARGET and second["mrf_bytes"] == 0 else "MISSED"
    print(f"  second run: {out['ratio']:.1%} of the first (target ≤ {NIGHTLY_TARGET:.0%}), "
          f"{second['mrf_bytes']:,} MRF bytes (target 0): {verdict}", flush=True)  # fmt: skip
    return out


# -- report ------------------------------------------------------------------------------


def table(sizes: list[dict[str, Any]]) -> None:
    head = ("facilities", "rates", "build s", "ingest 1 s", "its publish s", "ingest RSS MB",
            "publish alone s", "marts s", "check s", "publish RSS MB", "snapshot MB")  # fmt: skip
    print(" | ".join(head))
    for s in sizes:
        ing, pub = s["ingest"], s["publish_alone"]
        cells = (f"{s['facilities']:,}", f"{s['build']['rows']:,}", f"{s['build']['seconds']:.1f}",
                 f"{ing['seconds']:.1f}", _s(ing.get("publish_seconds")).removesuffix(" s"),
                 f"{ing['peak_rss_mb']:.0f}", f"{pub['seconds']:.1f}", _s(pub["marts_seconds"]),
                 f"{pub['check_seconds']:.1f}", f"{pub['peak_rss_mb']:.0f}",
                 f"{s['snapshot_mb']:.0f}")  # fmt: skip
        print(" | ".join(cells))
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        ratio = big["publish_alone"]["seconds"] / small["publish_alone"]["seconds"]
        whole = big["ingest"]["seconds"] / small["ingest"]["seconds"]
        inside = [s["ingest"].get("publish_seconds") for s in (small, big)]
        if None not in inside:
            print(f"publish inside `hpt ingest` of the changed file: {inside[1]:.2f} s at "
                  f"{big['facilities']:,} facilities (target ≤ 2 s), {inside[1] / inside[0]:.1f}× "
                  f"the {inside[0]:.2f} s at {small['facilities']:,} (target ≤ 1.5×)")  # fmt: skip
        print(f"publish({big['facilities']:,}) / publish({small['facilities']:,}): {ratio:.1f}× "
              f"(publish alone); `hpt ingest` of the changed file: {whole:.1f}×")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="warehouse sizes (facilities)")
    parser.add_argument("--rates-per-file", type=int, default=20_000)
    parser.add_argument("--codes", type=int, default=2_000, help="shared CPT vocabulary")
    parser.add_argument(
        "--nightly", type=int, default=1000, help="facilities of the nightly run (0: none)"
    )
    parser.add_argument(
        "--keep", action="store_true",
        help="keep the warehouses (bench/out/publish-N/, and as built: publish-N-built/)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="start each size from its kept publish-N-built/ (from an earlier --keep run) "
        "instead of building it again",
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    started = dt.datetime.now()
    print(f"load average at start: {load():.1f} on {os.cpu_count()} CPUs", flush=True)
    files, changed = facility_files(max([*sizes, args.nightly, 1]), args.rates_per_file, args.codes)
    shape = describe(files[0])
    print(f"per file: {shape} (facility 0, tall; layouts in turn: tall, JSON, wide)", flush=True)
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "rates_per_file": args.rates_per_file, "codes": args.codes, "file_shape": shape,
        "sizes": [bench_size(n, files, changed, args.keep, args.reuse) for n in sizes],
    }  # fmt: skip
    if args.nightly:
        report["nightly"] = bench_nightly(files[: args.nightly], args.keep)
    report["load_end"] = load()
    if report["sizes"]:
        table(report["sizes"])
    path = OUT / f"bench_publish-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"results: {path}; load average at end: {report['load_end']:.1f}")


if __name__ == "__main__":
    main()
