"""Run a command in a child process and report its wall time and peak RSS.

Used by every benchmark: `measure(["hpt", "ingest", ...])`. Run as a script it is the
wrapper itself (`python bench/measure.py -- CMD...`), so that RUSAGE_CHILDREN holds only
the measured command.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str
    cpu_seconds: float = 0.0  # user + system, all threads and children


def warm_cache(*paths: Path) -> None:
    """Read `paths` once so that the measured run finds them in the page cache.

    Every run (ours and DuckDB's) starts warm: without this, whichever ran first after a
    run that needed the memory (the wide file's DuckDB load takes 3.4 GB) read from disk.
    """
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(8 << 20):
                pass


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Measured:
    """Wall seconds and peak RSS (MB) of `cmd`; raises if it fails."""
    wrapper = [sys.executable, __file__, "--", *cmd]
    done = subprocess.run(wrapper, capture_output=True, text=True, env=env or dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    *lines, last = done.stdout.rstrip("\n").split("\n")
    stats = json.loads(last)
    cpu = stats.get("cpu_seconds", 0.0)
    return Measured(stats["seconds"], stats["peak_rss_mb"], "\n".join(lines), cpu)


def _main(cmd: list[str]) -> int:
    started = time.perf_counter()
    child = subprocess.run(cmd)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "cpu_seconds": cpu}))
    return child.returncode


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(_main(args[1:] if args[:1] == ["--"] else args))
