"""A corpus shaped like real hospitals, loaded with ONE `hpt ingest` call, beside DuckDB's own
native load of the same raw files; and the fixed cost per file inside a batch.

    python bench/bench_corpus.py [--small] [--tiny 200] [--no-fixed]

Corpus: 14 synthetic files of 35–130 MB (~1.1 GB), tall CSV, wide CSV and JSON mixed, one
wide file with 120 payer/plan groups (a ~1,100-column header), each its own hospital;
generated once into bench/out/corpus/ (`--small`: three ~4 MB files, bench/out/corpus-small/).

- ours: `hpt ingest FILE... --db <fresh warehouse> --json`, one process, default settings
  (CMS conformance, Great Expectations gate, one publish with the comparison marts).
- DuckDB: one process loading every file into one database file: CSV with its typed
  `CREATE TABLE t AS SELECT * FROM read_csv(file, skip=2, header=true)`; JSON with
  `CREATE TABLE t AS SELECT * FROM read_json(items, format='array')` over the item array
  (copied out once beforehand, as DuckDB cannot stream it out of the root object).
- floor (bench/floor.py): DuckDB in one process doing, per file, only what our ingest cannot
  skip: the Parquet COPY of the file's rows (the same `read_csv` / `read_json` as above), then
  from that Parquet the per-file aggregates per code × setting × payer × plan (tall: the
  `code|N` columns; wide: UNPIVOT of the `standard_charge|<payer>|<plan>|negotiated_dollar`
  columns; JSON: `code_information` and `standard_charges` → `payers_information` unnested).
  floor/DuckDB is the most a pipeline that stores the rows and derives the per-file aggregates
  can reach, with DuckDB doing just those two.

All three start with the files in the page cache; wall time and peak RSS of each process. Where
our time goes is read from the warehouse it built: per file, the read pass (parse, normalise,
CMS checks, Parquet: `files.seconds`) and the whole ingest (`ingest_log.seconds`: the gate
and the catalog load come on top); the mart rebuild (`mart_builds`); the rest of the wall
time is start-up, the snapshot copy and the Data Docs.

Fixed cost per file: `hpt ingest DIR` of `--tiny` N tiny files (5 items each, the three
layouts in turn) and, apart, of the first N/10 of them; (T_N − T_N/10) / (0.9 N) is what one
more file costs inside a batch, publish included, minus its bytes at the corpus's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.floor import TARGET, floor, reach, source
from bench.measure import BIN, OUT, Measured, measure, warm_cache
from devtools.synthetic.json_file import json_file
from devtools.synthetic.tall import tall_file
from devtools.synthetic.wide import wide_file
from ingest.json_locate import locate


@dataclass(frozen=True)
class Spec:
    kind: str  # tall, wide or json
    mb: float
    plans: int | None = None  # payer/plan groups (default: the hospital's own 6–12)

    def name(self, seed: int) -> str:
        plans = f"_{self.plans}plans" if self.plans else ""
        suffix = "json" if self.kind == "json" else "csv"
        return f"{seed:02d}_{self.kind}_{self.mb:g}MB{plans}.{suffix}"


CORPUS = [
    Spec("tall", 35), Spec("tall", 52), Spec("tall", 70), Spec("tall", 88), Spec("tall", 105),
    Spec("tall", 130), Spec("wide", 40), Spec("wide", 60, 20), Spec("wide", 85, 30),
    Spec("wide", 120, 120), Spec("json", 45), Spec("json", 65), Spec("json", 95),
    Spec("json", 125),
]  # fmt: skip
SMALL = [Spec("tall", 4), Spec("wide", 4, 110), Spec("json", 4)]


def corpus(specs: list[Spec], folder: Path) -> list[Path]:
    """The corpus files (generated once; each its own hospital, seeded by its position)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, spec in enumerate(specs, start=1):
        path = folder / spec.name(seed)
        if not path.exists():
            print(f"generating {path.name} …", flush=True)
            tmp = path.with_suffix(".tmp")
            writer = {"tall": tall_file, "wide": wide_file, "json": json_file}[spec.kind]
            writer(tmp, target_bytes=int(spec.mb * 1e6), seed=500 + seed, plans=spec.plans)
            tmp.rename(path)
        paths.append(path)
    return paths


def tiny_files(count: int) -> list[Path]:
    """`count` tiny files (5 items), tall, wide and JSON in turn, each its own hospital."""
    folder = OUT / f"tiny-{count}"
    if not (folder / ".done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"generating {count} tiny files …", flush=True)
        for i in range(count):
            kind = ("tall", "wide", "json")[i % 3]
            writer = {"tall": tall_file, "wide": wide_file, "json": json_file}[kind]
            writer(folder / f"{i:04d}_{kind}.{'json' if kind == 'json' else 'csv'}",
                   n_items=5, seed=2000 + i)  # fmt: skip
        (folder / ".done").touch()
    return sorted(p for p in folder.iterdir() if p.name != ".done")


def item_array(path: Path) -> Path:
    """The JSON file's item array as a file of its own (made once), for DuckDB's read_json."""
    items = path.with_name(path.name + ".items")
    if not items.exists():
        layout = locate(path)
        tmp = items.with_suffix(".tmp")
        with path.open("rb") as source, tmp.open("wb") as sink:
            source.seek(layout.start)
            left = layout.end - layout.start
            while left > 0 and (chunk := source.read(min(8 << 20, left))):
                sink.write(chunk)
                left -= len(chunk)
        tmp.rename(items)
    return items


def duckdb_native(paths: list[Path], scratch: Path) -> tuple[Measured, list[float]]:
    """DuckDB loading every file into one database, typed, in one process; and the
    seconds of each file's load."""
    statements = []
    for n, path in enumerate(paths):
        readable = item_array(path) if path.suffix == ".json" else path
        statements.append(f"CREATE TABLE t{n} AS SELECT * FROM {source(readable)}")
    code = (
        "import duckdb, json, time\n"
        f"con = duckdb.connect({str(scratch / 'native.duckdb')!r})\n"
        "times = []\n"
        f"for s in {statements!r}:\n"
        "    started = time.perf_counter(); con.execute(s)\n"
        "    times.append(time.perf_counter() - started)\n"
        "print(json.dumps(times))"
    )
    warm_cache(*(item_array(p) if p.suffix == ".json" else p for p in paths))
    done = measure([sys.executable, "-c", code])
    return done, json.loads(done.stdout.strip().splitlines()[-1])


def hpt_ingest(args: list[str], scratch: Path, warm: list[Path]) -> tuple[Measured, Path]:
    """`hpt ingest ARGS --json` into a fresh warehouse: the measurement and the catalog."""
    db = scratch / "hpt.duckdb"
    env = {**os.environ, "HPT_WORK_DIR": str(scratch / "work"), "HPT_DB": str(db)}
    warm_cache(*warm)
    cmd = [str(BIN / "hpt"), "ingest", *args, "--db", str(db), "--json"]
    try:
        return measure(cmd, env=env), db
    except RuntimeError as error:  # exit 1: a file failed; show which
        raise SystemExit(f"hpt ingest failed: {str(error)[-1500:]}") from None


def outcomes(stdout: str) -> list[dict[str, object]]:
    results: list[dict[str, object]] = json.loads(stdout[stdout.index("[") :])
    return results


def breakdown(db: Path, wall: float) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Where the batch's wall time went, from the published snapshot of its warehouse; and
    per file (by source) its read pass and its whole ingest, in seconds."""
    from warehouse.db import Warehouse, reader

    con = reader(Warehouse.at(db))
    try:
        per_file = {
            str(source): (float(read), float(whole))
            for source, read, whole in con.sql(
                "SELECT f.source, f.seconds, l.seconds FROM files f JOIN ingest_log l "
                "USING (file_id)"
            ).fetchall()
        }
        marts = con.sql("SELECT seconds FROM mart_builds ORDER BY built_at DESC LIMIT 1")
        mart_s = (marts.fetchall() or [(0.0,)])[0][0]
    finally:
        con.close()
    read = sum(r for r, _ in per_file.values())
    ingest = sum(w for _, w in per_file.values())
    return {
        "read, normalise, CMS checks, Parquet": read,
        "quality gate and catalog load": ingest - read,
        "publish: comparison marts": mart_s,
        "start-up, snapshot copy, Data Docs": wall - ingest - mart_s,
    }, per_file


def run_corpus(specs: list[Spec], folder: Path) -> float:
    """Ours and DuckDB on the corpus; prints both; returns our MB/s."""
    paths = corpus(specs, folder)
    mb = sum(p.stat().st_size for p in paths) / 1e6
    layouts = ", ".join(f"{sum(s.kind == k for s in specs)} {k}" for k in ("tall", "wide", "json"))
    print(f"corpus: {len(paths)} files ({layouts}), {mb:,.0f} MB", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-corpus-", dir=OUT))
    try:
        ours, db = hpt_ingest([str(p) for p in paths], scratch, paths)
        results = outcomes(ours.stdout)
        bad = [r for r in results if r["outcome"] != "loaded"]
        if bad:
            raise SystemExit(f"not loaded: {[(r['source'], r['message']) for r in bad]}")
        rows = sum(int(str(r["rows"])) for r in results)
        stages, per_file = breakdown(db, ours.seconds)
        duck, duck_files = duckdb_native(paths, scratch)
        sources = [item_array(p) if p.suffix == ".json" else p for p in paths]
        warm_cache(*sources)
        least, least_files = floor(sources, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'':<40} {'wall s':>8} {'MB/s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for label, run in (("ours: one `hpt ingest` of every file", ours),
                       ("DuckDB native load of the same files", duck),
                       ("floor: DuckDB's Parquet + aggregates", least)):  # fmt: skip
        print(f"{label:<40} {run.seconds:>8.1f} {mb / run.seconds:>8.1f} "
              f"{run.cpu_seconds:>8.1f} {run.peak_rss_mb:>12.0f}")  # fmt: skip
    print(f"rows loaded: {rows:,}")
    ratio = duck.seconds / ours.seconds
    verdict = "meets" if ratio >= TARGET else "below"
    print(f"ours/DuckDB: {ratio:.2f}× ({verdict} the {TARGET}× target)")
    floor_ratio = duck.seconds / least.seconds
    print(f"floor/DuckDB: {floor_ratio:.2f}× (the most a pipeline that stores the rows and "
          "derives the per-file aggregates can reach, with DuckDB doing just those two); "
          f"the {TARGET}× target is {reach(floor_ratio)}")  # fmt: skip
    print("where our time went:")
    for stage, seconds in stages.items():
        print(f"  {stage:<40} {seconds:>8.1f} s  ({seconds / ours.seconds:>4.0%})")
    print(f"by layout {'MB':>14} {'DuckDB s':>9} {'floor s':>8} {'Parquet s':>10} "
          f"{'aggr. s':>8} {'floor/DuckDB':>13} {'ours: read s':>13} {'gate+load s':>12} "
          f"{'DuckDB/read':>12}")  # fmt: skip
    for kind in ("tall", "wide", "json"):
        chosen = [n for n, s in enumerate(specs) if s.kind == kind]
        if not chosen:
            continue
        kind_mb = sum(paths[n].stat().st_size for n in chosen) / 1e6
        native = sum(duck_files[n] for n in chosen)
        copy = sum(least_files[n][0] for n in chosen)
        aggregate = sum(least_files[n][1] for n in chosen)
        read = sum(per_file[str(paths[n])][0] for n in chosen)
        gate = sum(per_file[str(paths[n])][1] for n in chosen) - read
        print(f"  {kind:<10} {kind_mb:>12,.0f} {native:>9.1f} {copy + aggregate:>8.1f} "
              f"{copy:>10.1f} {aggregate:>8.1f} {native / (copy + aggregate):>12.2f}× "
              f"{read:>13.1f} {gate:>12.1f} {native / read:>11.2f}×")  # fmt: skip
    return mb / ours.seconds


def run_fixed(count: int, mb_per_s: float) -> None:
    """What one more tiny file costs inside a batch (see the module doc)."""
    files = tiny_files(count)
    few = files[: max(1, count // 10)]
    seconds, cpu = {}, {}
    for label, chosen, args in (("all", files, [str(files[0].parent)]),
                                ("few", few, [str(p) for p in few])):  # fmt: skip
        scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-tiny-", dir=OUT))
        try:
            done, _ = hpt_ingest(args, scratch, chosen)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results = outcomes(done.stdout)
        if len(results) != len(chosen) or any(r["outcome"] != "loaded" for r in results):
            raise SystemExit(f"tiny files not all loaded: {results[:3]}")
        seconds[label], cpu[label] = done.seconds, done.cpu_seconds
        print(f"`hpt ingest` of {len(chosen)} tiny files: {done.seconds:.1f} s "
              f"({done.cpu_seconds:.1f} CPU-s), peak RSS {done.peak_rss_mb:.0f} MB",
              flush=True)  # fmt: skip
    extra = len(files) - len(few)
    per_file = (seconds["all"] - seconds["few"]) / extra
    mb = sum(p.stat().st_size for p in files[len(few) :]) / 1e6 / extra
    fixed = per_file - mb / mb_per_s
    cpu_per_file = (cpu["all"] - cpu["few"]) / extra
    print(f"fixed cost per file inside a batch: {fixed:.3f} s wall, {cpu_per_file:.3f} CPU-s "
          f"(target ≤ 0.3 s; {per_file:.3f} s per extra file of {mb * 1000:.0f} KB, "
          "publish included)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="three ~4 MB files, 40 tiny ones")
    parser.add_argument("--tiny", type=int, help="tiny files for the fixed cost (default 200)")
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-cost runs")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    specs, folder = (SMALL, OUT / "corpus-small") if args.small else (CORPUS, OUT / "corpus")
    mb_per_s = run_corpus(specs, folder)
    if not args.no_fixed:
        run_fixed(args.tiny or (40 if args.small else 200), mb_per_s)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
