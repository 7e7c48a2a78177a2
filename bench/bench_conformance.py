"""What CMS conformance checking adds to ingest time, on a ~1 GB tall CSV.

    python bench/bench_conformance.py [--size-mb 1000] [--repeat 1]

The file is generated once into bench/out/ (shared with bench_tall.py, kept out of git).
Each run ingests it into a fresh warehouse twice, with `HPT_VALIDATE=0` and `=1`
(alternating which goes first; the snapshot is not published, a separate step), in this
process so that the time spent inside the conformance engine is also measured directly,
beside the streaming pass (read, normalise, check, write Parquet) it is part of. Prints
the figures as a % of the ingest without validation; the target is ≤ 15 %.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_tall import bench_file
from bench.measure import OUT
from devtools.synthetic.tall import tall_file

TARGET_PERCENT = 15.0


class CheckTimer:
    """Wraps `Conformance.check_batch`/`finish` to add up the seconds spent inside, and the
    pipeline's streaming pass (read, normalise, check, write Parquet) for comparison."""

    def __init__(self) -> None:
        from hpt.pipeline import steps
        from quality.conformance import Conformance

        self.seconds = 0.0
        self.pass_seconds = 0.0
        self._cls = Conformance
        self._steps = steps
        self._originals = (Conformance.check_batch, Conformance.finish)
        self._write = steps.write_charges  # consumes the pass: read, normalise, check

    def __enter__(self) -> CheckTimer:
        check_batch, finish = self._originals
        timer = self
        write = self._write

        def timed_write(*args: object, **kwargs: object) -> None:
            started = time.perf_counter()
            write(*args, **kwargs)  # type: ignore[arg-type]
            timer.pass_seconds += time.perf_counter() - started

        self._steps.write_charges = timed_write  # type: ignore[assignment]

        def timed_batch(self: object, *args: object) -> None:
            started = time.perf_counter()
            check_batch(self, *args)  # type: ignore[arg-type]
            timer.seconds += time.perf_counter() - started

        def timed_finish(self: object, *args: object) -> None:
            started = time.perf_counter()
            finish(self, *args)  # type: ignore[arg-type]
            timer.seconds += time.perf_counter() - started

        self._cls.check_batch = timed_batch  # type: ignore[method-assign, assignment]
        self._cls.finish = timed_finish  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self._cls.check_batch, self._cls.finish = self._originals  # type: ignore[method-assign]
        self._steps.write_charges = self._write


def ingest_seconds(path: Path, validate: bool) -> tuple[float, float, float, dict[str, int]]:
    """(wall seconds of one ingest, of its streaming pass, inside the engine; findings)."""
    from hpt.pipeline.steps import ingest_file
    from warehouse.db import Warehouse

    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-"))
    os.environ["HPT_WORK_DIR"] = str(scratch / "work")
    os.environ["HPT_VALIDATE"] = "1" if validate else "0"
    try:
        with CheckTimer() as timer:
            started = time.perf_counter()
            result = ingest_file(path, Warehouse.at(scratch / "hpt.duckdb"), publish_after=False)
            seconds = time.perf_counter() - started
        if result.outcome not in ("loaded", "held"):
            raise RuntimeError(f"ingest {result.outcome}: {result.message}")
        return seconds, timer.pass_seconds, timer.seconds, result.findings
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000, help="file size in MB")
    parser.add_argument("--repeat", type=int, default=1, help="ingests per mode")
    args = parser.parse_args()
    path = bench_file(args.size_mb)
    mb = path.stat().st_size / 1e6
    # Warm up on a small file: one-time imports must not count against the first mode run.
    warm = OUT / "tall_v3_warmup.csv"
    tall_file(warm, n_items=50)
    ingest_seconds(warm, True)
    off: list[float] = []
    on: list[float] = []
    passes: list[float] = []
    inside: list[float] = []
    for run in range(args.repeat):
        order = (False, True) if run % 2 == 0 else (True, False)
        for validate in order:
            seconds, stream, engine, findings = ingest_seconds(path, validate)
            (on if validate else off).append(seconds)
            if validate:
                passes.append(stream - engine)
                inside.append(engine)
            print(
                f"  run {run + 1} validate={int(validate)}: {seconds:7.1f} s "
                f"({mb / seconds:5.1f} MB/s), streaming pass {stream:6.1f} s, "
                f"engine {engine:5.1f} s, findings {findings}",
                flush=True,
            )
    base, checked, engine, stream = min(off), min(on), min(inside), min(passes)
    wall = 100 * (checked - base) / base
    direct = 100 * engine / base
    strict = 100 * engine / stream
    print(f"\nconformance on {path.name} ({mb:,.0f} MB), best of {args.repeat}:")
    print(f"  ingest without validation  {base:7.1f} s")
    print(f"  ingest with validation     {checked:7.1f} s   {wall:+.1f} % (wall clock, noisy)")
    print(f"  time inside the engine     {engine:7.1f} s   = {direct:.1f} % of the ingest")
    print(f"  streaming pass w/o engine  {stream:7.1f} s   engine = {strict:.1f} % of it")
    verdict = "meets" if direct <= TARGET_PERCENT else "MISSES"
    print(f"  {verdict} the ≤ {TARGET_PERCENT:.0f} % target (engine time / ingest time)")


if __name__ == "__main__":
    main()
