"""`hpt run` twice over the demo universe: the second run, with nothing changed upstream,
must take at most 10% of the first's time and download no MRF bytes.

    python bench/bench_run.py [--big]

Generates the demo universe into bench/out/universe (25 hospitals, ~50 MB; `--big` makes
one file ~100 MB), serves it with the demo server in this process, and runs
`hpt run --sources … --db <fresh warehouse>` twice as a child process. Bytes are counted
by the server (body bytes sent), so nothing the client says is taken on trust.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import BIN, OUT
from devtools.demo_server import running
from devtools.synthetic.universe import generate

TARGET = 0.10


def served(before: Counter[str], after: Counter[str]) -> tuple[int, int]:
    """(MRF bytes, cms-hpt.txt bytes) sent between two snapshots of the server's counter."""
    sent = after - before
    txt = sum(n for path, n in sent.items() if path.endswith("/cms-hpt.txt"))
    return sum(sent.values()) - txt, txt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="make one file ~100 MB")
    args = parser.parse_args()
    folder = OUT / "universe"
    scratch = Path(tempfile.mkdtemp(prefix="hpt-bench-run-"))
    env = {
        **os.environ,
        "HPT_WORK_DIR": str(scratch / "work"),
        "HPT_LANDING": str(scratch / "landing"),
        "HPT_HTTP_BACKOFF": "0.2",
    }
    command = [str(BIN / "hpt"), "run", "--sources", str(folder / "sources.csv"),
               "--db", str(scratch / "hpt.duckdb")]  # fmt: skip
    try:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with running(folder) as server:
            started = time.perf_counter()
            entries = generate(folder, server.base_url, big=args.big)
            size = sum(p.stat().st_size for p in (folder / "sites").rglob("*") if p.is_file())
            print(f"universe: {len(entries)} hospitals, {size / 1e6:,.1f} MB, "
                  f"generated in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            results = []
            for number in (1, 2):
                before = Counter(server.sent)
                started = time.perf_counter()
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                mrf, txt = served(before, Counter(server.sent))
                summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
                results.append((seconds, mrf))
                for line in done.stdout.splitlines():  # the failures, for the record
                    if "│ failed" in line or "internal error" in line:
                        print("   ", " ".join(line.replace("│", " ").split())[:150])
                print(f"run {number}: {seconds:7.2f} s  MRF bytes served {mrf:>12,}  "
                      f"cms-hpt.txt bytes {txt:>7,}  exit {done.returncode}  ({summary})",
                      flush=True)  # fmt: skip
                if done.returncode not in (0, 1):
                    print(done.stdout[-3000:], done.stderr[-3000:])
                    raise SystemExit(done.returncode)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (first, _), (second, second_bytes) = results
    ratio = second / first
    verdict = "OK" if ratio <= TARGET and second_bytes == 0 else "MISSED"
    print(f"second run: {ratio:.1%} of the first (target ≤ {TARGET:.0%}), "
          f"{second_bytes:,} MRF bytes (target 0): {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
