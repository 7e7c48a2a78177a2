"""Tall CSV ingest: our end-to-end throughput and peak RSS against DuckDB's native load, and
the DuckDB floor.

    python bench/bench_tall.py [--sizes 100,1000] [--pathologies multiline_notes,extra_cells]

For each size a synthetic v3.0 tall file is generated once into bench/out/ (kept out of
git). Ours: the default command a user types, `hpt ingest FILE --db <fresh warehouse>` —
read, normalise, CMS conformance, Great Expectations gate, Parquet, catalog load and the
publish (views, comparison marts, read snapshot). DuckDB: `CREATE TABLE t AS SELECT * FROM
read_csv(FILE, skip=2, header=true)` into a fresh database file (typed by DuckDB's sniffer).
Floor (bench/floor.py): DuckDB doing only the two things our ingest cannot skip, in one
process — the Parquet COPY of the rows, then the per-file aggregates per code × setting ×
payer × plan from that Parquet — the most a pipeline that stores the rows and derives the
per-file aggregates can reach, against the same native load. Same machine, same run; each
command in its own process (wall time, peak RSS). "core" is the same `hpt ingest` with
`HPT_VALIDATE=0 HPT_QUALITY_GATE=off`: without the CMS conformance checks and the Great
Expectations gate. `--pathologies` writes the file with those of
`devtools.synthetic.tall.PATHOLOGIES` (a file of its own in bench/out/), for what odd rows
cost; DuckDB may refuse such a file (nan).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.floor import TARGET, floor, reach
from bench.measure import BIN, OUT, Measured, measure, warm_cache
from devtools.synthetic.tall import tall_file


def bench_file(size_mb: int, pathologies: list[str]) -> Path:
    suffix = "".join(f"_{name}" for name in sorted(pathologies))
    path = OUT / f"tall_v3_{size_mb}MB{suffix}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} …", flush=True)
        tall_file(path.with_suffix(".tmp"), target_bytes=size_mb * 1_000_000, seed=size_mb,
                  pathologies=pathologies)  # fmt: skip
        path.with_suffix(".tmp").rename(path)
    return path


def run(size_mb: int, pathologies: list[str]) -> dict[str, float]:
    path = bench_file(size_mb, pathologies)
    mb = path.stat().st_size / 1e6
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-"))
    try:
        env = {"HPT_WORK_DIR": str(scratch / "work"), "PATH": str(BIN)}
        db = str(scratch / "hpt.duckdb")
        ingest = [str(BIN / "hpt"), "ingest", str(path), "--db"]
        warm_cache(path)
        ours = measure([*ingest, db], env=env)
        core_env = {**env, "HPT_VALIDATE": "0", "HPT_QUALITY_GATE": "off"}
        warm_cache(path)
        core = measure([*ingest, str(scratch / "core.duckdb")], env=core_env)
        sql = f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', skip=2, header=true)"
        warm_cache(path)
        native = f"import duckdb; duckdb.connect('{scratch / 'native.duckdb'}').execute({sql!r})"
        try:
            duck: Measured | None = measure([sys.executable, "-c", native])
        except RuntimeError:  # DuckDB refused the file
            duck = None
        warm_cache(path)
        try:
            least: Measured | None = floor([path], scratch)[0]
        except (RuntimeError, KeyError, ValueError):  # DuckDB refused it, or no such column
            least = None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "mb": mb,
        "ours_mb_s": mb / ours.seconds,
        "ours_rss": ours.peak_rss_mb,
        "core_mb_s": mb / core.seconds,
        "duck_mb_s": mb / duck.seconds if duck else math.nan,
        "duck_rss": duck.peak_rss_mb if duck else math.nan,
        "floor_mb_s": mb / least.seconds if least else math.nan,
        "floor_rss": least.peak_rss_mb if least else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="file sizes in MB, comma-separated")
    parser.add_argument("--pathologies", default="", help="synthetic pathologies, comma-separated")
    args = parser.parse_args()
    pathologies = [name for name in args.pathologies.split(",") if name]
    print(
        f"{'file MB':>8} {'ours MB/s':>10} {'ours RSS MB':>12} {'DuckDB MB/s':>12} "
        f"{'DuckDB RSS MB':>14} {'ours/DuckDB':>12} {'core MB/s':>10} {'core/DuckDB':>12} "
        f"{'floor MB/s':>11} {'floor RSS MB':>13} {'floor/DuckDB':>13}"
    )
    verdicts = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = run(size, pathologies)
        floor_ratio = r["floor_mb_s"] / r["duck_mb_s"]
        print(
            f"{r['mb']:>8.0f} {r['ours_mb_s']:>10.1f} {r['ours_rss']:>12.0f} "
            f"{r['duck_mb_s']:>12.1f} {r['duck_rss']:>14.0f} "
            f"{r['ours_mb_s'] / r['duck_mb_s']:>12.2f} {r['core_mb_s']:>10.1f} "
            f"{r['core_mb_s'] / r['duck_mb_s']:>12.2f} {r['floor_mb_s']:>11.1f} "
            f"{r['floor_rss']:>13.0f} {floor_ratio:>13.2f}",
            flush=True,
        )
        verdicts.append((r["mb"], floor_ratio, r["ours_mb_s"] / r["duck_mb_s"]))
    print(
        "floor/DuckDB: the most a pipeline that stores the rows and derives the per-file "
        "aggregates can reach, with DuckDB doing just those two"
    )
    for mb, floor_ratio, ours_ratio in verdicts:
        print(
            f"{mb:,.0f} MB: ours/DuckDB {ours_ratio:.2f}×; "
            f"the {TARGET}× target is {reach(floor_ratio)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
