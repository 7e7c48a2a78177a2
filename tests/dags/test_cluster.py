"""The nightly DAG on the distributed profile (`make cluster`): PostgreSQL metadata, Celery
over Redis with two workers, the warehouse's data on an S3 server (moto) — all real servers on
loopback ports in a temp folder, started by `devtools.cluster` and stopped after.

A run triggered through the REST API spreads over both workers and publishes exactly what
`hpt run` publishes over the same registry, the workers sharing the catalog in PostgreSQL
(`HPT_CATALOG`): worker-2 never creates its `HPT_DB`, worker-1 (the warehouse host) keeps
the catalog file. A worker killed while it runs an ingest loses nothing: the task is retried
on the other worker and the contents are again the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.cluster import BUCKET, CONTENTS, Api, Cluster, kill_component, running
from ingest.registry import load_sources, write_sources
from tests.dags.clusters import started
from tests.dags.conftest import BIN, Demo
from tests.dags.runs import published
from warehouse.db import Warehouse

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# Healthy hospitals of the demo universe in the three layouts (tall, wide, JSON), one zipped.
FACILITIES = ["050101", "100402", "330303", "390501", "390502", "450203"]


def contents(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {name: published(wh, sql) for name, sql in CONTENTS.items()}


@pytest.fixture(scope="module")
def registry(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = tmp_path_factory.mktemp("registry") / "sources.csv"
    write_sources(sources, [e for e in load_sources(demo.sources) if e.key in FACILITIES])
    return sources


@pytest.fixture(scope="module")
def embedded(registry: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `hpt run` publishes over the registry with the embedded defaults."""
    base = tmp_path_factory.mktemp("embedded")
    env = {
        **os.environ,
        "HPT_CATALOG": "",  # the catalog file alone, whatever this process reads
        "HPT_DB": str(base / "wh" / "hpt.duckdb"),
        "HPT_LANDING": str(base / "landing"),
        "HPT_WORK_DIR": str(base / "work"),
        "HPT_SOURCES": str(registry),
    }
    subprocess.run([str(BIN / "hpt"), "run"], env=env, check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    found = contents(Warehouse.at(env["HPT_DB"]))
    assert [f for f, status in found["files"]] == sorted(FACILITIES)
    assert {status for _, status in found["files"]} == {"loaded"}
    return found


@pytest.fixture(scope="module")
def cluster(
    registry: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any
) -> Iterator[Cluster]:
    env = {
        # A killed worker's task is declared lost after 20 s and retried 2 s later.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
        "HPT_AIRFLOW_RETRY_DELAY": "2",
    }
    state = tmp_path_factory.mktemp("cluster") / "state"
    with started(state, registry, env, monkeypatch_module) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def finished(api: Api, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (state := api.state(run_id)) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run {run_id} still {state} after {timeout} s"
        time.sleep(2)
    return state


def local_files(folder: Path) -> list[Path]:
    """The files in a folder, but the per-URL download locks."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")


def workers(tis: list[dict[str, Any]]) -> set[str]:
    """The Celery workers that ran the task instances (hostname `worker-1@<host>`)."""
    return {t["hostname"].split("@")[0] for t in tis if t["hostname"]}


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Api:
    api = Api(cluster)
    deadline = time.monotonic() + 180
    while True:  # the DAG processor parses the DAG file a few seconds after starting
        try:
            api("GET", "/dags/hpt_nightly")
            return api
        except Exception:
            assert time.monotonic() < deadline, "the DAG was not parsed in 180 s"
            time.sleep(2)


def test_run_spreads_over_both_workers_and_publishes_what_hpt_run_does(
    embedded: dict[str, Any], cluster: Cluster, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    run_id = api.trigger()
    assert finished(api, run_id, 600) == "success"
    print(f"cluster run: {time.monotonic() - started:.1f} s")
    tis = api.task_instances(run_id)
    assert {t["state"] for t in tis} == {"success"}
    assert len(tis) == 2 + 2 * len(FACILITIES)
    assert workers(tis) == {"worker-1", "worker-2"}
    # Only the warehouse host opens a catalog file; the other worker commits to PostgreSQL.
    assert not cluster.host_db("worker-2").exists()
    monkeypatch.setenv("HPT_CATALOG", cluster.catalog_url())  # each test's isolation unsets it
    wh = Warehouse.at(cluster.hpt_db)
    assert contents(wh) == embedded
    # The charges are objects on the S3 server, not files beside the catalog (but the typed
    # empty Parquet the views fall back on).
    assert [p for p in wh.root.rglob("*.parquet") if p != wh.empty_charges] == []
    listing = requests.get(f"{cluster.s3_url}/{BUCKET}?list-type=2&prefix=warehouse/", timeout=30)
    assert listing.text.count(".parquet</Key>") >= len(FACILITIES)
    # Each facility's download landed on the S3 server (its file and state.json), and no
    # worker keeps a downloaded or fetched file in its own folder.
    landed = requests.get(f"{cluster.s3_url}/{BUCKET}?list-type=2&prefix=landing/", timeout=30)
    assert landed.text.count("/state.json</Key>") == len(FACILITIES)
    assert landed.text.count("</Key>") == 2 * len(FACILITIES)
    assert any((cluster.folder / "work" / name).is_dir() for name in workers(tis))
    assert local_files(cluster.folder / "work") == []
    assert not (cluster.folder / "landing").exists()


def test_a_worker_killed_mid_task_loses_nothing(
    embedded: dict[str, Any],
    cluster: Cluster,
    api: Api,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fresh warehouse for this run: the `hpt_settings` Variable overrides the workers' own
    # (a catalog database of its own, created on first connect).
    fresh = {
        "HPT_CATALOG": cluster.catalog_url("hpt_killed"),
        "HPT_DB": str(tmp_path / "wh" / "hpt.duckdb"),
        "HPT_LANDING": f"s3://{BUCKET}/killed-landing",
        "HPT_STORAGE": f"s3://{BUCKET}/killed",
    }
    api("POST", "/variables", json={"key": "hpt_settings", "value": json.dumps(fresh)})
    run_id = api.trigger()
    deadline = time.monotonic() + 300
    victim = None
    # An ingest (parse, check, load) running on worker-2, not on the warehouse host (whose
    # loss would hold the publish until it is back, as in production).
    while victim is None:
        assert time.monotonic() < deadline, "no ingest was seen running on worker-2"
        for t in api.task_instances(run_id):
            on = (t["hostname"] or "").split("@")[0]
            if t["task_id"] == "facility.ingest" and t["state"] == "running" and on == "worker-2":
                victim = t
                break
        else:
            time.sleep(0.3)
    killed_worker = victim["hostname"].split("@")[0]
    assert kill_component(cluster.folder, killed_worker, signal.SIGKILL)
    assert finished(api, run_id, 600) == "success"
    tis = {(t["task_id"], t["map_index"]): t for t in api.task_instances(run_id)}
    retried = tis[(victim["task_id"], victim["map_index"])]
    assert retried["try_number"] == victim["try_number"] + 1
    (survivor,) = {"worker-1", "worker-2"} - {killed_worker}
    assert workers([retried]) == {survivor}
    assert killed_worker not in running(cluster.folder)
    monkeypatch.setenv("HPT_CATALOG", fresh["HPT_CATALOG"])  # read as the run wrote
    assert contents(Warehouse.at(fresh["HPT_DB"])) == embedded
