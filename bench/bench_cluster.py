"""The distributed profile with one Celery worker, then two: wall time of the nightly DAG
over the same ≥ 200 hospitals, and whether both runs publish the same warehouse.

    python bench/bench_cluster.py [--facilities 200] [--concurrency 1[,2]] [--batch 6] [--keep]

The demo universe is generated once into bench/out/cluster-<N>/universe: the 25 hand-made
hospitals plus healthy ones (`hpt demo generate --facilities`, deterministic by seed) until
it holds N healthy hospitals; the registry lists those N (the 7 broken on purpose are left
out: their retries would time Airflow's retry delays, not the work). The facilities are
mapped in batches of `--batch` (6: how the national registry of ~6,000 is mapped, 1,000
batches; `HPT_AIRFLOW_MAX_MAPPED` = N / batch), so a task's fixed cost — a process, its
imports, Great Expectations' — is paid per batch as it would be at scale. Then, per slot
count K of `--concurrency` (a comma list runs each):

1. `devtools.cluster.up` with ONE worker of K task slots on a fresh state folder (PostgreSQL,
   Redis, the S3 server, the demo server, scheduler, DAG processor, API server; no
   dashboard), `hpt_nightly` triggered through the REST API and waited for; the run's wall
   time is its `end_date − start_date` from the API; per task instance its duration and
   worker; the published snapshot's contents (rows, dollars, codes, files, summary per
   facility — as tests/dags/test_cluster.py reads them); then `down` (the state purged);
2. the same with TWO workers of K slots each, same universe, fresh state and ports (but the
   demo server's, which the universe's URLs name).

The ingest pool (`HPT_AIRFLOW_INGEST_SLOTS`) is sized to every slot of the run so that it
does not cap the second worker, and a retry waits 5 s (`HPT_AIRFLOW_RETRY_DELAY`) instead
of 5 min; retries are counted. Prints both wall times, the ratio two/one (target ≤ 0.65),
task counts and busy seconds per worker, per-task durations, and whether the contents are
identical; JSON in bench/out/bench_cluster-<time>.json. Not in `make bench` (four runs of
200 hospitals take over an hour on 2 cores): `make bench-cluster`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT
from devtools.cluster import CONTENTS, DAG_ID, PORTS, Api, Cluster, down, free_port, up
from devtools.synthetic.universe import HOSPITALS, generate

TARGET = 0.65
RUN_TIMEOUT = 4 * 3600.0


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def universe(folder: Path, facilities: int, port: int) -> Path:
    """The universe with `facilities` healthy hospitals, and a registry of those only."""
    from ingest.registry import write_sources

    broken = {h.name for h in HOSPITALS if h.broken}
    started = time.perf_counter()
    entries = generate(folder, f"http://127.0.0.1:{port}", facilities=facilities + len(broken))
    healthy = [e for e in entries if e.name not in broken][:facilities]
    registry = folder / "healthy.csv"
    write_sources(registry, healthy)
    size = sum(p.stat().st_size for p in (folder / "sites").rglob("*") if p.is_file())
    print(f"universe: {len(entries)} hospitals, {len(healthy)} healthy in {registry.name}, "
          f"{size / 1e6:,.1f} MB, generated in {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip
    return registry


def contents(cluster: Cluster) -> dict[str, list[list[Any]]]:
    """The published snapshot per facility (its charges are read from the S3 server)."""
    from warehouse.db import Warehouse, reader

    os.environ.update(cluster.reader_env())
    con = reader(Warehouse.at(cluster.hpt_db))
    try:
        return {k: [list(r) for r in con.sql(sql).fetchall()] for k, sql in CONTENTS.items()}
    finally:
        con.close()


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _seconds(later: str | None, earlier: str | None) -> float | None:
    a, b = _when(later), _when(earlier)
    return (a - b).total_seconds() if a and b else None


def parsed(api: Api, timeout: float = 300.0) -> None:
    """Wait until the DAG processor has parsed the DAG file (a few seconds after start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            api("GET", f"/dags/{DAG_ID}")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def one_run(base: Path, registry: Path, universe_dir: Path, demo_port: int, mapped: int,
            workers: int, concurrency: int, keep: bool) -> dict[str, Any]:  # fmt: skip
    """Start a fresh cluster of `workers` × `concurrency` slots, run the DAG once, stop."""
    state = base / f"state-{workers}w-c{concurrency}"
    down(state, purge=True)
    slots = workers * concurrency
    ports = {name: demo_port if name == "demo" else free_port() for name in PORTS}
    cluster = Cluster(
        str(state), ports, str(registry), str(universe_dir), dashboard=False,
        concurrency=concurrency, workers=workers,
        env={"HPT_AIRFLOW_INGEST_SLOTS": str(slots), "HPT_AIRFLOW_MAX_MAPPED": str(mapped),
             "HPT_AIRFLOW_RETRY_DELAY": "5", "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5"},
    )  # fmt: skip
    out: dict[str, Any] = {"workers": workers, "concurrency": concurrency, "slots": slots,
                           "load_start": loadavg()}  # fmt: skip
    print(f"== {workers} worker(s) × {concurrency} slot(s) (load average {out['load_start']})",
          flush=True)  # fmt: skip
    finished = False
    try:
        out["startup_seconds"] = up(cluster)
        api = Api(cluster)
        parsed(api)
        out["load_trigger"] = loadavg()
        run_id = api.trigger()
        deadline = time.monotonic() + RUN_TIMEOUT
        while (status := api.state(run_id)) not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} still {status} after {RUN_TIMEOUT:.0f} s")
            time.sleep(5)
        out["load_end"] = loadavg()
        run = api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        tis = api.task_instances(run_id)
        out.update(state=status, start=run["start_date"], end=run["end_date"],
                   wall_seconds=_seconds(run["end_date"], run["start_date"]),
                   tasks=[{k: t.get(k) for k in ("task_id", "map_index", "state", "try_number",
                                                 "hostname", "duration", "start_date",
                                                 "end_date", "queued_when")} for t in tis],
                   contents=contents(cluster))  # fmt: skip
        finished = True
    finally:
        down(state, purge=finished and not keep)  # a failed run's logs are kept
    report(out)
    return out


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"n {len(values)}, median {statistics.median(values):.1f} s, p90 {p90:.1f} s, "
            f"max {ordered[-1]:.1f} s, sum {sum(values):,.0f} s")  # fmt: skip


def report(run: dict[str, Any]) -> None:
    tasks = run["tasks"]
    files = Counter(status for _, status in run["contents"]["files"])
    rows = sum(r[1] for r in run["contents"]["charges"])
    print(f"  healthy in {run['startup_seconds']:.0f} s; run {run['state']}: "
          f"{run['wall_seconds']:.1f} s wall (API start→end), load average {run['load_end']} "
          f"at its end; files {dict(files)}, {rows:,} rates published", flush=True)  # fmt: skip
    by_task: dict[str, list[float]] = defaultdict(list)
    for t in tasks:
        by_task[t["task_id"]].append(float(t["duration"] or 0.0))
    for task_id, values in sorted(by_task.items()):
        print(f"  {task_id:18} {_stats(values)}")
    busy: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    for t in tasks:
        worker = (t["hostname"] or "?").split("@")[0]
        busy[worker] += float(t["duration"] or 0.0)
        count[worker] += 1
    used = sum(busy.values()) / (run["wall_seconds"] * run["slots"])
    waits = [w for t in tasks if (w := _seconds(t["start_date"], t["queued_when"])) is not None]
    retried = sum(1 for t in tasks if (t["try_number"] or 1) > 1)
    per_worker = ", ".join(f"{w} {count[w]} tasks / {busy[w]:,.0f} s busy" for w in sorted(count))
    wait = statistics.median(waits) if waits else float("nan")
    print(f"  per worker: {per_worker}; slots busy {used:.0%} of the wall time; queued → "
          f"started median {wait:.1f} s; {retried} retried", flush=True)  # fmt: skip


def pair(base: Path, registry: Path, demo_port: int, mapped: int, concurrency: int,
         keep: bool) -> dict[str, Any]:  # fmt: skip
    runs = [one_run(base, registry, base / "universe", demo_port, mapped, workers, concurrency,
                    keep) for workers in (1, 2)]  # fmt: skip
    one, two = runs
    ratio = two["wall_seconds"] / one["wall_seconds"]
    same = one["contents"] == two["contents"]
    both_ok = one["state"] == two["state"] == "success"
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"concurrency {concurrency}: one worker {one['wall_seconds']:.1f} s, two workers "
          f"{two['wall_seconds']:.1f} s: two/one = {ratio:.2f} (target ≤ {TARGET}: {verdict}); "
          f"warehouse contents {'identical' if same else 'DIFFERENT'}; "
          f"runs {one['state']}/{two['state']}", flush=True)  # fmt: skip
    if not same:
        for name in CONTENTS:
            a, b = one["contents"][name], two["contents"][name]
            diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y][:3]
            if diff or len(a) != len(b):
                print(f"  {name}: {len(a)} vs {len(b)} rows; first differences {diff}")
    return {"concurrency": concurrency, "ratio": ratio, "identical": same, "ok": both_ok,
            "runs": [one, two]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=200, help="healthy hospitals (200)")
    parser.add_argument("--concurrency", default="1",
                        help="task slots per worker; a comma list runs each (1)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=6, help="facilities per mapped task (6)")
    parser.add_argument("--keep", action="store_true", help="keep the universe and the states")
    args = parser.parse_args()
    slots = [int(k) for k in args.concurrency.split(",") if k.strip()]
    started = dt.datetime.now()
    print(f"load average at start: {loadavg()} on {os.cpu_count()} CPUs", flush=True)
    base = OUT / f"cluster-{args.facilities}"
    demo_port = free_port()  # the same for every run: the universe's URLs name it
    mapped = -(-args.facilities // args.batch)
    print(f"{args.facilities} facilities in {mapped} mapped batches", flush=True)
    registry = universe(base / "universe", args.facilities, demo_port)
    pairs = [pair(base, registry, demo_port, mapped, k, args.keep) for k in slots]
    if not args.keep:  # kept when a run failed: its logs are in its state folder
        shutil.rmtree(base, ignore_errors=True)
    result = {"started": started.isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "facilities": args.facilities, "batches": mapped, "pairs": pairs,
              "load_end": loadavg()}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench_cluster-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"results: {path}; load average at end: {result['load_end']}")
    if not all(p["identical"] and p["ok"] for p in pairs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
