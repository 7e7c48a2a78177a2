"""Faults of the distributed profile (`make cluster`), on one cluster of real servers:

- readers of the published snapshot, in a loop while the workers load and commit, only ever
  see whole facilities;
- PostgreSQL (the metadata database) restarted in the middle of a run: tasks carry on or are
  retried, no Airflow process dies, the run succeeds with the same warehouse as `hpt run`;
- the object store unreachable for a minute: the tasks that need it are retried with backoff,
  the previous snapshot's catalog still answers, and the run then succeeds, whole.

Each run writes a warehouse of its own (the `hpt_settings` Variable): a catalog database of
its own on the cluster's PostgreSQL, a catalog file on the warehouse host, data on the one
object store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from devtools.cluster import (
    BUCKET,
    Api,
    Cluster,
    object_store_down,
    restart_postgres,
    running,
    workers_ready,
)
from ingest.registry import load_sources, write_sources
from tests.dags import test_cluster as base
from tests.dags.clusters import restarts, retried, running_task, started, use_settings
from warehouse.db import Warehouse, reader

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.slow]

# The fixtures of the cluster test, over this module's cluster.
registry, embedded, api = base.registry, base.embedded, base.api
monkeypatch_module = base.monkeypatch_module
OUTAGE = 60.0  # seconds the object store is unreachable


@pytest.fixture(scope="module")
def cluster(
    registry: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any
) -> Iterator[Cluster]:
    # Retries wait 10-20 s, then 20-40 s, then 40-80 s: a minute's outage is survived.
    env = {"HPT_AIRFLOW_RETRY_DELAY": "10"}
    state = tmp_path_factory.mktemp("faults") / "state"
    with started(state, registry, env, monkeypatch_module) as cluster:
        yield cluster


def warehouse_settings(cluster: Cluster, folder: Path, name: str) -> dict[str, str]:
    """A warehouse of its own for a run: the shared catalog in database `hpt_<name>`, the
    host's catalog file and landing in `folder`, data under `name`."""
    return {
        "HPT_CATALOG": cluster.catalog_url(f"hpt_{name}"),
        "HPT_DB": str(folder / "wh" / "hpt.duckdb"),
        "HPT_LANDING": str(folder / "landing"),
        "HPT_STORAGE": f"s3://{BUCKET}/{name}",
    }


def read(settings: dict[str, str], patch: pytest.MonkeyPatch) -> Warehouse:
    """The warehouse of a run's settings as this process reads it (its shared catalog set
    here too, which each test's isolation unsets)."""
    patch.setenv("HPT_CATALOG", settings["HPT_CATALOG"])
    return Warehouse.at(settings["HPT_DB"])


@pytest.fixture(scope="module")
def published_before(
    cluster: Cluster, api: Api, registry: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A warehouse published by a first night over half the hospitals; its settings."""
    folder = tmp_path_factory.mktemp("before")
    half = folder / "half.csv"
    write_sources(half, load_sources(registry)[:3])
    settings = warehouse_settings(cluster, folder, "before")
    use_settings(api, {**settings, "HPT_SOURCES": str(half)})
    assert base.finished(api, api.trigger(), 600) == "success"
    return settings


def whole(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """Facility → (current file, rows) of a snapshot, checked whole: the catalog's current
    file and the summary agree, and the charges are that file's rows (as many as it has)."""
    current = dict(
        (f, (file_id, rows))
        for f, file_id, rows in con.execute(
            "SELECT facility_id, file_id, row_count FROM current_files"
        ).fetchall()
    )
    summary = dict(
        (f, (file_id, rows))
        for f, file_id, rows in con.execute(
            "SELECT facility_id, current_file_id, row_count FROM facility_summary"
        ).fetchall()
    )
    charges = {
        f: (file_ids, rows)
        for f, file_ids, rows in con.execute(
            "SELECT facility_id, list(DISTINCT file_id), count(*) FROM standard_charges GROUP BY 1"
        ).fetchall()
    }
    assert summary == current, f"facility_summary {summary} != current files {current}"
    expected = {f: ([file_id], rows) for f, (file_id, rows) in current.items()}
    assert charges == expected, f"half-published: charges {charges} != catalog {expected}"
    return current


def test_readers_see_only_whole_facilities_while_workers_commit(
    embedded: dict[str, Any],
    published_before: dict[str, str],
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dashboard.snapshot import current_target, snapshot

    settings = published_before
    use_settings(api, settings)  # a night over all the hospitals: three new ones committed
    monkeypatch.setenv("HPT_DB", settings["HPT_DB"])  # what the dashboard serves
    wh = read(settings, monkeypatch)
    run_id = api.trigger()
    seen: list[tuple[str, int]] = []  # (snapshot, facilities) of each reading
    state = "running"
    while state not in ("success", "failed"):
        snap = snapshot()  # the dashboard's connection, reopened after each publish
        seen.append((snap.path.name, len(whole(snap.cursor()))))
        state = api.state(run_id)
    assert state == "success"
    final = snapshot()
    seen.append((final.path.name, len(whole(final.cursor()))))
    snapshots = sorted({name for name, _ in seen})
    print(f"{len(seen)} readings of {len(snapshots)} snapshots: {sorted(set(seen))}")
    assert [name for name, _ in seen] == sorted(name for name, _ in seen), "never back"
    assert len(seen) >= 3 and len(snapshots) >= 2
    assert {count for _, count in seen} == {3, len(base.FACILITIES)}
    assert current_target(wh) == wh.published_dir / snapshots[-1]
    assert base.contents(wh) == embedded


def test_postgres_restarted_mid_run_loses_nothing(
    embedded: dict[str, Any],
    cluster: Cluster,
    api: Api,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = warehouse_settings(cluster, tmp_path, "postgres")
    use_settings(api, settings)
    run_id = api.trigger()
    running_task(api, run_id, "facility.ingest")
    started_at = time.monotonic()
    restart_postgres(cluster, down_for=5)
    print(f"PostgreSQL down and up again in {time.monotonic() - started_at:.1f} s")
    assert base.finished(api, run_id, 600) == "success"
    tis = api.task_instances(run_id)
    print(f"retried: {retried(tis)}; started again by their supervisor: {restarts(cluster)}")
    assert {t["state"] for t in tis} == {"success"}
    # Every Airflow process runs (the scheduler may have been started again); both workers
    # still take tasks.
    assert set(running(cluster.folder)) >= {"scheduler", "dag-processor", "api-server",
                                             "worker-1", "worker-2"}  # fmt: skip
    assert workers_ready(cluster) == {"worker-1", "worker-2"}
    assert base.contents(read(settings, monkeypatch)) == embedded


def catalog_answers(wh: Warehouse) -> dict[str, Any]:
    """What a reader gets of a snapshot while the object store is down: its catalog tables
    answer; the charge views (Parquet on the store) fail, with the time they took."""
    con = reader(wh)
    try:
        found: dict[str, Any] = {
            "facilities": con.execute("SELECT count(*) FROM facility_summary").fetchall()[0][0],
            "files": con.execute("SELECT count(*) FROM current_files").fetchall()[0][0],
        }
        started_at = time.monotonic()
        try:
            found["charges"] = con.execute("SELECT count(*) FROM standard_charges").fetchall()
        except duckdb.Error as error:
            last = [line for line in str(error).splitlines() if line.strip()][-1]
            found["charges"] = f"{type(error).__name__}: {last[:300]}"
        found["charges_seconds"] = round(time.monotonic() - started_at, 1)
    finally:
        con.close()
    return found


def test_object_store_unreachable_for_a_minute(
    embedded: dict[str, Any],
    cluster: Cluster,
    api: Api,
    published_before: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = warehouse_settings(cluster, tmp_path, "during")
    use_settings(api, settings)
    run_id = api.trigger()
    running_task(api, run_id, "facility.ingest")
    object_store_down(cluster.folder)
    try:
        down_at = time.monotonic()
        readable = catalog_answers(read(published_before, monkeypatch))
        print(f"a published snapshot during the outage: {readable}")
        assert readable["facilities"] == readable["files"] > 0
        assert isinstance(readable["charges"], str), "charges read with the store down"
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        assert api.state(run_id) == "running"
    finally:
        object_store_down(cluster.folder, down=False)
    assert base.finished(api, run_id, 600) == "success"
    tis = api.task_instances(run_id)
    again = retried(tis)
    print(f"retried: {again}")
    assert again, "no task met the outage"
    assert {t["state"] for t in tis} == {"success"}
    assert base.contents(read(settings, monkeypatch)) == embedded
