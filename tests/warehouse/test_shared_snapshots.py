"""Published snapshots shared through the object store and found through the shared catalog
(`HPT_CATALOG`), against a real PostgreSQL and a real S3 server (moto, on loopback).

A reader in another folder, with nothing of the host's on its disk, opens what the host
published and follows its next publish; a snapshot that cannot be put on the store fails the
publish and leaves readers on the previous one; retention deletes old snapshot objects and
their rows, never the newest.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.warehouse_files import open_snapshot
from dashboard.snapshot import snapshot as dashboard_snapshot
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.cli import app
from hpt.pipeline.steps import ingest_file
from tests.servers import s3_server
from warehouse.catalog import rows
from warehouse.db import Warehouse, published_snapshot, reader
from warehouse.publish import publish
from warehouse.retention import Policy
from warehouse.snapshots import ShareError
from warehouse.sweep import sweep

BUCKET = "hpt-shared"
STORAGE = f"s3://{BUCKET}/prod/wh"
COUNTS = {
    "charges": "SELECT facility_id, file_id, count(*), round(sum(negotiated_dollar), 2) "
    "FROM standard_charges GROUP BY ALL ORDER BY ALL",
    "facilities": "SELECT facility_id, hospital_name FROM facilities ORDER BY ALL",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from s3_server(monkeypatch, BUCKET)


def keys(client: Any, prefix: str) -> list[str]:
    found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


def named(catalog: str) -> list[str]:
    """The snapshots the shared catalog names, oldest first."""
    return [r[0] for r in rows(catalog, "SELECT name FROM hpt.snapshots ORDER BY name")]


def seen(con: Any) -> dict[str, list[tuple[Any, ...]]]:
    try:
        return {name: con.execute(sql).fetchall() for name, sql in COUNTS.items()}
    finally:
        con.close()


def hospital(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"h{seed}.csv"
    tall_file(path, n_items=40, seed=seed, hospital=make_hospital(seed, state="MN"))
    return path


@pytest.mark.slow
def test_a_reader_elsewhere_opens_what_the_host_published(
    tmp_path: Path, s3: Any, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb", STORAGE)
    remote = Warehouse.at(tmp_path / "elsewhere" / "hpt.duckdb", STORAGE)
    with pytest.raises(FileNotFoundError, match=r"^no published warehouse in the catalog"):
        reader(remote)

    assert ingest_file(hospital(tmp_path, 91), host).outcome == "loaded"
    [first] = named(catalog_url)
    assert keys(s3, "prod/wh/hpt-published/") == [f"prod/wh/hpt-published/{first}"]
    expected = seen(open_snapshot(host.published_path))
    assert len(expected["facilities"]) == 1 and expected["charges"][0][2] > 0

    assert seen(reader(remote)) == expected
    # Nothing of the host's: the fetched snapshot and the typed empty file the views use.
    local = sorted(p.relative_to(remote.root).as_posix() for p in remote.root.rglob("*"))
    assert local == ["hpt-charges", "hpt-charges/_empty.parquet", "hpt-published",
                     f"hpt-published/{first}"]  # fmt: skip

    monkeypatch.setenv("HPT_DB", str(remote.db_path))  # the dashboard's, at function level
    snap = dashboard_snapshot()
    assert snap.path == remote.published_dir / first
    assert seen(snap.cursor()) == expected

    assert ingest_file(hospital(tmp_path, 92), host).outcome == "loaded"
    second = named(catalog_url)[-1]
    assert second > first
    expected = seen(open_snapshot(host.published_path))
    assert len(expected["facilities"]) == 2
    assert seen(reader(remote)) == expected
    snap = dashboard_snapshot()
    assert snap.path == remote.published_dir / second
    assert seen(snap.cursor()) == expected


def test_a_snapshot_the_store_refuses_fails_the_publish_and_readers_keep_theirs(
    tmp_path: Path, s3: Any, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb", STORAGE)
    first = publish(host)
    assert named(catalog_url) == [first.name]

    missing = Warehouse.at(host.db_path, "s3://no-such-bucket/wh")
    with pytest.raises(ShareError) as refused:
        publish(missing)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("publish: cannot put the snapshot hpt-")
    assert "on s3://no-such-bucket/wh/hpt-published/hpt-" in message
    assert named(catalog_url) == [first.name]
    monkeypatch.setenv("HPT_STORAGE", "s3://no-such-bucket/wh")
    result = CliRunner().invoke(app, ["publish", "--db", str(host.db_path)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: publish: cannot put the snapshot hpt-")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert named(catalog_url) == [first.name]
    remote = Warehouse.at(tmp_path / "elsewhere" / "hpt.duckdb", STORAGE)
    con = reader(remote)
    try:
        assert con.execute("SELECT count(*) FROM standard_charges").fetchall() == [(0,)]
    finally:
        con.close()
    assert sorted(p.name for p in remote.published_dir.iterdir()) == [first.name]


def test_readers_at_once_fetch_one_whole_file_once(
    tmp_path: Path, s3: Any, catalog_url: str
) -> None:
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb", STORAGE)
    name = publish(host).name
    remote = Warehouse.at(tmp_path / "elsewhere" / "hpt.duckdb", STORAGE)
    with ThreadPoolExecutor(4) as pool:
        found = set(pool.map(lambda _: published_snapshot(remote), range(8)))
    assert found == {remote.published_dir / name}
    assert sorted(p.name for p in remote.published_dir.iterdir()) == [name]
    assert (remote.published_dir / name).read_bytes() == (host.published_dir / name).read_bytes()
    written = (remote.published_dir / name).stat().st_mtime_ns
    assert published_snapshot(remote) == remote.published_dir / name
    assert (remote.published_dir / name).stat().st_mtime_ns == written  # not fetched again


def test_retention_deletes_old_shared_snapshots_never_the_newest(
    tmp_path: Path, s3: Any, catalog_url: str
) -> None:
    host = Warehouse.at(tmp_path / "host" / "hpt.duckdb", STORAGE)
    published = [publish(host).name for _ in range(4)]
    assert named(catalog_url) == published
    stored = [f"prod/wh/hpt-published/{name}" for name in published]
    assert keys(s3, "prod/wh/hpt-published/") == stored

    planned = sweep(host, Policy(snapshots=2), dry_run=True)
    assert {g.path for g in planned.deleted if g.kind == "snapshot"} >= {
        f"s3://{BUCKET}/{key}" for key in stored[:2]
    }
    assert named(catalog_url) == published  # a dry run deletes nothing

    sweep(host, Policy(snapshots=2))
    assert named(catalog_url) == published[2:]
    assert keys(s3, "prod/wh/hpt-published/") == stored[2:]
    sweep(host, Policy(snapshots=1))
    assert named(catalog_url) == published[3:]
    assert keys(s3, "prod/wh/hpt-published/") == stored[3:]
