"""JSON and wide CSV ingest: throughput and peak RSS, beside DuckDB reading the same data.

    python bench/bench_formats.py [--json-sizes 100,1000] [--wide-size 1000] [--with-3gb]
                                  [--no-full] [--no-json-schema] [--repeat N]
                                  [--json-schema-errors N]

Files are generated once into bench/out/ (kept out of git) for a hospital with 120
payer/plan groups (a 1,000+ column wide header). Each measurement runs in its own child
process; wall time, CPU time and peak RSS come from that child's `wait4` rusage.

- ours `core`: `hpt.pipeline.steps.ingest_file(FILE, <fresh warehouse>, publish_after=False)`
  with the conformance checks and quality gate off (`HPT_VALIDATE=0`, `HPT_QUALITY_GATE=off`):
  read, normalise, write Parquet, load the catalog — everything but publishing (the snapshot
  copy and the comparison-mart rebuild, which may use `HPT_MART_MEMORY_LIMIT`, 4 GB).
- ours `full`: `hpt ingest FILE --db <fresh warehouse>` with the defaults (conformance, quality
  gate, publish).
- DuckDB (baseline, same run): JSON — `read_json(format='array')` over the item array (a
  copy of it, as DuckDB cannot stream the array out of the root object), unnested to one
  row per payer; wide CSV — `CREATE TABLE AS SELECT * FROM read_csv(...)`, and the same
  `read_csv` (all text) only parsed into Arrow batches, the floor for any reader built on it.
- tall: our ingest of a tall CSV of the same hospital and size, as the reference for
  the wide reader's target.
- JSON schema checks (unless `--no-json-schema`): what they cost — the core ingest with the
  CMS checks on (`HPT_VALIDATE=1`) and, unless `--no-full`, `hpt ingest` with the defaults,
  each with `HPT_VALIDATE_JSON_SCHEMA` off and on, in alternating order, median of
  `--repeat` runs; and `hpt validate` of a small-item v3 JSON file with a schema error (an
  empty payer note) in each of `--json-schema-errors` items (1,000,000; 0 skips it) — exact
  counts, capped detail, flat memory.

The machine is shared: the load average at start is printed; CPU seconds are less
sensitive to other work than wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import BIN, OUT, warm_cache
from devtools.synthetic.json_file import root_metadata, write_json
from devtools.synthetic.model import items, make_hospital
from devtools.synthetic.tall import write_tall
from devtools.synthetic.wide import write_wide
from ingest.json_locate import locate

PLANS = 120


@dataclass
class Run:
    label: str
    mb: float
    seconds: float
    cpu: float
    rss_mb: float
    rows: int | None = None

    def line(self) -> str:
        rows = f"{self.rows:>12,}" if self.rows is not None else f"{'':>12}"
        return (
            f"{self.label:<34} {self.mb:>8.0f} {self.mb / self.seconds:>8.1f} "
            f"{self.mb / self.cpu:>9.1f} {self.seconds:>8.1f} {self.cpu:>8.1f} "
            f"{self.rss_mb:>8.0f} {rows}"
        )


def child(
    cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float, float, str]:
    """Wall s, CPU s, peak RSS MB and stdout of one child process (exit status in `ok`)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        errors = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        last = (errors.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"exit {code}: {last[:200]} {text[-300:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def generated(kind: str, size_mb: int) -> Path:
    """A synthetic file of about `size_mb` MB (made once)."""
    suffix = "json" if kind == "json" else "csv"
    path = OUT / f"{kind}_v3_{size_mb}MB_{PLANS}plans.{suffix}"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} …", flush=True)
    hospital = make_hospital(size_mb, plans=PLANS)
    writer = {"json": write_json, "wide": write_wide, "tall": write_tall}[kind]
    tmp = path.with_suffix(".tmp")
    writer(tmp, hospital, items(hospital, 10**9, size_mb), max_bytes=size_mb * 1_000_000,
           seed=size_mb)  # fmt: skip
    tmp.rename(path)
    return path


def ours(path: Path, label: str, full: bool, settings: dict[str, str] | None = None) -> Run:
    """Our ingest of `path`: `full` (defaults) or core, with `settings` on top."""
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-", dir=OUT))
    env = dict(os.environ, HPT_WORK_DIR=str(scratch / "work"))
    db = scratch / "hpt.duckdb"
    if full:
        cmd = [str(BIN / "hpt"), "ingest", str(path), "--db", str(db), "--json"]
        env |= settings or {}
    else:
        env |= {"HPT_VALIDATE": "0", "HPT_QUALITY_GATE": "off", **(settings or {})}
        code = (
            "import json; from pathlib import Path; from hpt.pipeline.steps import ingest_file; "
            "from warehouse.db import Warehouse; "
            f"r = ingest_file(Path({str(path)!r}), Warehouse.at(Path({str(db)!r})), "
            "publish_after=False); print(json.dumps(r.as_dict()))"
        )
        cmd = [sys.executable, "-c", code]
    warm_cache(path)
    try:
        seconds, cpu, rss, out = child(cmd, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    start = out.index("{")
    result, _ = json.JSONDecoder().raw_decode(out[start:])
    if result["outcome"] != "loaded":
        raise RuntimeError(f"{path.name}: {result['outcome']}: {result['message']}")
    return Run(label, path.stat().st_size / 1e6, seconds, cpu, rss, result["rows"])


def json_schema_cost(path: Path, size: int, repeat: int, full: bool) -> None:
    """An ingest without and with the JSON schema checks: `checked` (the core ingest with
    the CMS checks) or, if `full`, `hpt ingest` with the defaults."""
    kind = "full" if full else "checked"
    runs: dict[str, list[Run]] = {"0": [], "1": []}
    for n in range(repeat):
        for schema in "01" if n % 2 == 0 else "10":
            label = f"ours JSON {kind} {size} MB, schema {'on' if schema == '1' else 'off'}"
            settings = {"HPT_VALIDATE": "1", "HPT_VALIDATE_JSON_SCHEMA": schema}
            found = ours(path, label, full, settings)
            print(found.line(), flush=True)
            runs[schema].append(found)
    (off, on), (off_cpu, on_cpu) = (
        [statistics.median(getattr(r, field) for r in runs[s]) for s in "01"]
        for field in ("seconds", "cpu")
    )
    print(f"JSON schema checks, {kind} {size} MB, median of {repeat}: wall {off:.1f} → "
          f"{on:.1f} s ({on / off - 1:+.1%}), CPU {off_cpu:.1f} → {on_cpu:.1f} s "
          f"({on_cpu / off_cpu - 1:+.1%})", flush=True)  # fmt: skip


#: One small v3 item whose payer note is empty: one `schema.minLength` error.
_BROKEN_ITEM = (
    '{"description": "Item %d", "code_information": [{"code": "%d", "type": "CDM"}], '
    '"standard_charges": [{"setting": "outpatient", "gross_charge": 120.5, "minimum": 40, '
    '"maximum": 40, "payers_information": [{"payer_name": "Aetna", "plan_name": "PPO", '
    '"methodology": "fee schedule", "standard_charge_dollar": 40, '
    '"additional_payer_notes": ""}]}]}'
)


def json_schema_errors(n_items: int) -> None:
    """`hpt validate` of a JSON file with a schema error in each of `n_items` items: wall,
    CPU, peak RSS, and the exact count."""
    path = OUT / f"json_v3_{n_items}_schema_errors.json"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        root = root_metadata(make_hospital(1), "3.0.0")
        with path.open("w", encoding="utf-8") as sink:
            sink.write(json.dumps(root)[:-1] + ', "standard_charge_information": [\n')
            sink.write(",\n".join(_BROKEN_ITEM % (n, 100000 + n) for n in range(n_items)))
            sink.write("\n]}")
    warm_cache(path)
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-", dir=OUT))
    env = dict(os.environ, HPT_WORK_DIR=str(scratch / "work"))
    cmd = [str(BIN / "hpt"), "validate", str(path), "--json"]
    try:
        seconds, cpu, rss, out = child(cmd, env, ok=(0, 1))  # 1: not valid
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = json.loads(out)
    run = Run(f"hpt validate, {n_items:,} schema errors", path.stat().st_size / 1e6, seconds,
              cpu, rss, report["rows"])  # fmt: skip
    print(run.line(), flush=True)
    print(f"  counts {report['counts']}, stored {len(report['findings'])}", flush=True)


def duckdb_json(path: Path) -> Run:
    """DuckDB over the item array (copied out once), one row per payer entry."""
    items_path = path.with_suffix(".items.json")
    if not items_path.exists():
        layout = locate(path)
        with path.open("rb") as source, items_path.open("wb") as sink:
            source.seek(layout.start)
            left = layout.end - layout.start
            while left > 0 and (chunk := source.read(min(8 << 20, left))):
                sink.write(chunk)
                left -= len(chunk)
    sql = (
        "SELECT count(*), sum(p.standard_charge_dollar) FROM (SELECT unnest(c.payers_information)"
        " AS p FROM (SELECT unnest(standard_charges) AS c FROM read_json("
        f"'{items_path}', format='array', maximum_object_size=67108864)))"
    )
    code = f"import duckdb; print(duckdb.sql({sql!r}).fetchall()[0][0])"
    warm_cache(items_path)
    seconds, cpu, rss, out = child([sys.executable, "-c", code], dict(os.environ))
    rows = int(out.strip().splitlines()[-1])
    return Run("DuckDB read_json (item array)", path.stat().st_size / 1e6, seconds, cpu, rss, rows)


def duckdb_csv_scan(path: Path) -> Run:
    """DuckDB parsing the wide file into Arrow batches, and nothing else: the floor of
    any reader of the file that uses DuckDB's CSV parser."""
    sql = f"SELECT * FROM read_csv('{path}', skip=2, header=true, all_varchar=true)"
    code = (
        f"import duckdb; r = duckdb.sql({sql!r}).to_arrow_reader(100_000); "
        "print(sum(b.num_rows for b in r))"
    )
    warm_cache(path)
    seconds, cpu, rss, out = child([sys.executable, "-c", code], dict(os.environ))
    rows = int(out.strip().splitlines()[-1])
    return Run("DuckDB read_csv → Arrow (wide)", path.stat().st_size / 1e6, seconds, cpu, rss, rows)


def duckdb_csv(path: Path) -> Run:
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-", dir=OUT))
    sql = f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', skip=2, header=true)"
    code = f"import duckdb; duckdb.connect('{scratch / 'native.duckdb'}').execute({sql!r})"
    warm_cache(path)
    try:
        seconds, cpu, rss, _ = child([sys.executable, "-c", code], dict(os.environ))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Run("DuckDB read_csv (wide)", path.stat().st_size / 1e6, seconds, cpu, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-sizes", default="100,1000", help="JSON sizes in MB")
    parser.add_argument("--wide-size", type=int, default=1000, help="wide CSV size in MB (0: skip)")
    parser.add_argument("--with-3gb", action="store_true", help="also a 3 GB JSON (flat RSS)")
    parser.add_argument("--no-full", action="store_true", help="skip the default-settings runs")
    parser.add_argument(
        "--json-schema", action=argparse.BooleanOptionalAction, default=True,
        help="what the JSON schema checks add, per JSON size (default: on)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs per --json-schema setting")
    parser.add_argument(
        "--json-schema-errors", type=int, default=1_000_000, metavar="N",
        help="validate a JSON file with a schema error in each of N items (0: skip)",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = f"{'run':<34} {'file MB':>8} {'MB/s':>8} {'MB/CPU-s':>9} {'wall s':>8} {'CPU s':>8}"
    header += f" {'RSS MB':>8}"
    print(header + f" {'rows':>12}", flush=True)
    sizes = [int(s) for s in args.json_sizes.split(",") if s]
    if args.with_3gb:
        sizes.append(3000)

    def show(label: str, measure: Callable[..., Run], *args: object) -> None:
        try:
            print(measure(*args).line(), flush=True)
        except RuntimeError as error:  # one failed run (e.g. killed) does not stop the rest
            print(f"{label:<34} failed: {error}", flush=True)

    for size in sizes:
        path = generated("json", size)
        show(f"ours JSON core {size} MB", ours, path, f"ours JSON core {size} MB", False)
        if not args.no_full and size <= 1000:
            show(f"ours JSON full {size} MB", ours, path, f"ours JSON full {size} MB", True)
        if size <= 1000:
            show("DuckDB read_json", duckdb_json, path)
        if args.json_schema:
            json_schema_cost(path, size, args.repeat, full=False)
            if not args.no_full and size <= 1000:
                json_schema_cost(path, size, args.repeat, full=True)
    if args.json_schema_errors:
        json_schema_errors(args.json_schema_errors)
    if args.wide_size:
        mb = args.wide_size
        wide = generated("wide", mb)
        show(f"ours wide core {mb} MB", ours, wide, f"ours wide core {mb} MB", False)
        if not args.no_full:
            show(f"ours wide full {mb} MB", ours, wide, f"ours wide full {mb} MB", True)
        show("DuckDB read_csv", duckdb_csv, wide)
        show("DuckDB read_csv → Arrow", duckdb_csv_scan, wide)
        tall = generated("tall", mb)
        show(f"ours tall core {mb} MB", ours, tall, f"ours tall core {mb} MB", False)


if __name__ == "__main__":
    main()
