"""Warehouses for the dashboard tests, built through the real pipeline in a temp folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, writer
from warehouse.publish import publish

#: (seed, state, ZIP): three Californian hospitals, one in Texas, one in New York.
HOSPITALS = [(1, "CA", "93721"), (2, "CA", "94103"), (3, "TX", "78701"), (4, "NY", "12207"),
             (5, "CA", "90012")]  # fmt: skip
ITEMS = 50  # the 40 shoppable services, then drugs


def _env(root: Path, mp: pytest.MonkeyPatch) -> None:
    mp.setenv("HPT_WORK_DIR", str(root / "work"))
    mp.setenv("HPT_LANDING", str(root / "landing"))


def build(
    root: Path, hospitals: list[tuple[int, str, str]] = HOSPITALS, *, troubles: bool = True
) -> Warehouse:
    """Generated hospitals ingested and published; plus (`troubles`), for the data-quality
    page, a truncated second file of hospital 1 (held back) and an unreadable file (failed)."""
    wh = Warehouse.at(root / "wh" / "hpt.duckdb")
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        _env(root, mp)
        for seed, state, zip_code in hospitals:
            path = files / f"hospital-{seed}.csv"
            hospital = make_hospital(seed, state=state, zip_code=zip_code)
            tall_file(path, n_items=ITEMS, seed=seed, hospital=hospital)
            assert ingest_file(path, wh, publish_after=False).outcome == "loaded"
        if not troubles:
            publish(wh)
            return wh
        seed, state, zip_code = hospitals[0]
        short = files / "hospital-1-short.csv"
        tall_file(short, n_items=5, seed=seed, hospital=make_hospital(seed, state=state,
                  zip_code=zip_code))  # fmt: skip
        assert ingest_file(short, wh, publish_after=False).outcome == "held"
        broken = files / "broken.csv"
        broken.write_bytes(b"\x00\x01 not a price file\n")
        failed = ingest_file(broken, wh, facility_id="ca-broken", publish_after=False)
        assert failed.outcome == "failed"
        publish(wh)
    return wh


def empty_published(root: Path) -> Warehouse:
    """A first run that published before any hospital loaded."""
    wh = Warehouse.at(root / "empty" / "hpt.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        _env(root, mp)
        publish(wh)
    return wh


def without_marts(root: Path) -> Warehouse:
    """A snapshot of a catalog whose marts are not built yet (an older build, or a
    warehouse being rebuilt): core tables only."""
    wh = Warehouse.at(root / "bare" / "hpt.duckdb")
    with writer(wh):
        pass
    wh.published_dir.mkdir(parents=True)
    snapshot = wh.published_dir / "hpt-0.duckdb"
    shutil.copyfile(wh.db_path, snapshot)
    os.symlink(snapshot.name, wh.published_path)
    return wh
