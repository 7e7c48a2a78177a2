"""The distributed profile in tests: a cluster started on free ports in a temp folder, and
stopped after with nothing left running; runs on it with a warehouse of their own."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from devtools.cluster import PORTS, Api, Cluster, ClusterError, down, free_port, up


@contextlib.contextmanager
def started(
    state: Path, registry: Path, env: dict[str, str], patch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """A cluster over `registry` with `env` for every process, its object store and shared
    catalog set in this process's environment too (with `patch`); after it, no process of it
    (nor one working in its folders) is left."""
    env = {"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", **env}  # the DAG parsed soon
    cluster = Cluster(str(state), {name: free_port() for name in PORTS}, str(registry),
                      dashboard=False, env=env)  # fmt: skip
    try:
        print(f"cluster healthy in {up(cluster):.1f} s")
        for name, value in cluster.reader_env().items():  # this process reads them too
            patch.setenv(name, value)
        yield cluster
    finally:
        places = (str(state), str((state / "postgres").resolve()))
        down(state)
        strays = [p for p in psutil.process_iter() if _inside(p, places)]
        down(state, purge=True)
        assert not strays, f"left running: {strays}"


def _inside(process: psutil.Process, places: tuple[str, ...]) -> bool:
    """Whether a live process works in (or names) the cluster's folders."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        where = [process.cwd(), *process.cmdline()]
    except psutil.Error:
        return False
    return any(place in arg for place in places for arg in where)


def use_settings(api: Api, values: dict[str, str]) -> None:
    """The `hpt_settings` Variable: settings of the next runs' tasks (a warehouse of
    their own, say), over the workers' environment."""
    body = {"key": "hpt_settings", "value": json.dumps(values)}
    try:
        api("PATCH", "/variables/hpt_settings", json=body)
    except ClusterError:  # not set yet
        api("POST", "/variables", json=body)


def running_task(api: Api, run_id: str, task_id: str, timeout: float = 300) -> dict[str, Any]:
    """The first task instance of `task_id` seen running (on some worker) in the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in api.task_instances(run_id):
            if ti["task_id"] == task_id and ti["state"] == "running" and ti["hostname"]:
                return ti
        time.sleep(0.3)
    raise AssertionError(f"no {task_id} was seen running in {timeout:.0f} s")


def retried(tis: list[dict[str, Any]]) -> dict[str, int]:
    """Task id (and facility) → tries, of the task instances that needed more than one."""
    return {
        f"{t['task_id']}[{t.get('rendered_map_index') or t['map_index']}]": t["try_number"]
        for t in tis
        if t["try_number"] > 1
    }


def restarts(cluster: Cluster) -> dict[str, int]:
    """Component → times its supervisor started it again (`devtools.supervise` says so in
    the component's log)."""
    found = {}
    for log in sorted((cluster.folder / "logs").glob("*.log")):
        if count := log.read_text(errors="replace").count("supervise: "):
            found[log.stem] = count
    return found
