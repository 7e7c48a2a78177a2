"""The disk fills up while `hpt ingest` writes a file's charges (ENOSPC): that file fails
with one line, the warehouse keeps what it had, the other files of the batch load.

The charge folder (`<db stem>-charges/`, where a load writes all its data) is a tmpfs
mounted for the test and shrunk to what it holds plus a little: the new version of one
facility does not fit, a small new facility does. Mounting needs root (or CAP_SYS_ADMIN);
without it the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from tests.faults.state import catalog, published
from warehouse.db import Warehouse, reader

pytestmark = [pytest.mark.slow, pytest.mark.faults]

HPT = str(Path(sys.executable).parent / "hpt")
HEADROOM = 256 * 1024  # free bytes left on the charge folder's file system


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(wh: Warehouse) -> Iterator[Path]:
    """The warehouse's charge folder on its own tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a size-limited tmpfs for ENOSPC")
    folder = wh.charges_dir
    folder.mkdir(parents=True)
    done = _mount("-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(folder))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def resize(folder: Path, size: int) -> None:
    done = _mount("-o", f"remount,size={size}", str(folder))
    assert done.returncode == 0, done.stderr


def used(folder: Path) -> int:
    stats = os.statvfs(folder)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def test_disk_full_fails_that_file_keeps_the_warehouse_and_goes_on(
    tmp_path: Path, wh: Warehouse, small_disk: Path
) -> None:
    files = tmp_path / "files"
    hospital = make_hospital(31, state="OH")
    old_file, new_file = files / "v1.csv", files / "v2.csv"
    tall_file(old_file, n_items=40, seed=31, hospital=hospital)
    tall_file(new_file, target_bytes=12_000_000, seed=32, hospital=hospital)
    other_file, late_file = files / "other.csv", files / "late.csv"
    tall_file(other_file, n_items=30, seed=33)
    tall_file(late_file, n_items=20, seed=34, hospital=make_hospital(34, state="OR"))

    first = ingest_file(old_file, wh)
    other = ingest_file(other_file, wh)
    assert first.outcome == other.outcome == "loaded"
    facility, other_id = str(first.facility_id), str(other.facility_id)
    before = published(wh, facility), published(wh, other_id)
    catalog_before = catalog(wh, facility)
    resize(small_disk, used(small_disk) + HEADROOM)

    # One file: it fails with one line naming the file and the cause, exit 1.
    single = subprocess.run([HPT, "ingest", str(new_file), "--db", str(wh.db_path)],
                            capture_output=True, text=True)  # fmt: skip
    output = single.stdout + single.stderr
    assert single.returncode == 1, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0], output
    assert str(new_file.name) in lines[0], output
    assert (published(wh, facility), published(wh, other_id)) == before
    assert catalog(wh, facility) == catalog_before, "no file, row or folder of the failed load"

    # In a batch, the file that does not fit fails and the next one loads.
    batch = subprocess.run(
        [HPT, "ingest", str(new_file), str(late_file), "--json", "--db", str(wh.db_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert batch.returncode == 1, batch.stdout + batch.stderr
    assert "Traceback" not in batch.stderr, batch.stderr
    import json

    results = {Path(r["source"]).name: r for r in json.loads(batch.stdout)}
    assert results["v2.csv"]["outcome"] == "failed"
    assert "No space left on device" in results["v2.csv"]["message"]
    assert "\n" not in results["v2.csv"]["message"]
    assert results["late.csv"]["outcome"] == "loaded"
    assert (published(wh, facility), published(wh, other_id)) == before
    assert catalog(wh, facility) == catalog_before
    late = published(wh, str(results["late.csv"]["facility_id"]))
    assert late["rows"] == results["late.csv"]["rows"] > 0

    # Operators see the attempts.
    con = reader(wh)
    try:
        failed = con.execute(
            "SELECT count(*) FROM ingest_log WHERE facility_id = ? AND outcome = 'failed' "
            "AND message LIKE '%No space left on device%'",
            [facility],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert failed == 2

    # With room again, the same file loads.
    resize(small_disk, 64 * 1024 * 1024)
    again = ingest_file(new_file, wh)
    assert again.outcome == "loaded", again.message
    assert published(wh, facility)["files"] == [again.file_id]
