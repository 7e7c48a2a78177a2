"""The DAG under a real scheduler: `airflow standalone` on a throwaway AIRFLOW_HOME (SQLite,
LocalExecutor), the run triggered through the REST API (/api/v2, JWT from /auth/token with
the generated admin password), pools and the Asset in force, every process stopped after."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from ingest.registry import load_sources, write_sources
from tests.dags.conftest import BIN, ROOT, Demo, free_port
from tests.dags.runs import published
from warehouse.db import Warehouse

pytestmark = [pytest.mark.scheduler, pytest.mark.slow]
GOOD, DEAD = ["050101", "100402"], "390503"  # two small healthy hospitals; a removed file
FACILITIES = [*GOOD, DEAD]  # the registry's order: map index i is FACILITIES[i]


@dataclass
class Airflow:
    url: str
    home: Path
    wh: Warehouse
    session: requests.Session

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json()


def wait_for(what: str, check: Any, timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := check():
                return value
        except (requests.RequestException, OSError, KeyError, ValueError):
            pass
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; standalone log ends:\n{tail}")


@pytest.fixture(scope="module")
def airflow(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    base = tmp_path_factory.mktemp("standalone")
    home, port = base / "airflow", free_port()
    sources = base / "sources.csv"
    write_sources(sources, [e for e in load_sources(demo.sources) if e.key in FACILITIES])
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # Task processes report to the API server: it must be the one on our port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "PYTHONUNBUFFERED": "1",  # the log shows where a slow start got to
        "HPT_AIRFLOW_SCHEDULE": "",  # triggered runs only: no scheduled run interferes
        "HPT_DB": str(base / "wh" / "hpt.duckdb"),
        "HPT_LANDING": str(base / "landing"),
        "HPT_WORK_DIR": str(base / "work"),
        "HPT_SOURCES": str(sources),
    }
    for args in (["airflow", "db", "migrate"], [sys.executable, "-m", "hpt.airflow_pools"]):
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
    log = base / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["airflow", "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so all of it can be stopped
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the API server", lambda: requests.get(f"{url}/api/v2/monitor/health",
                                                         timeout=5).ok, 600, log)  # fmt: skip
        passwords = home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        token = requests.post(
            f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30
        ).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        yield Airflow(url, home, Warehouse.at(env["HPT_DB"]), session)
    finally:
        group = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == process.pid]
        os.killpg(process.pid, signal.SIGTERM)
        psutil.wait_procs(group, timeout=30)
        # What did not stop (or was started while stopping) is killed, the group as a whole.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (running := _running(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running, f"left running: {running}"


def _running(pgid: int) -> list[psutil.Process]:
    """Processes of a group still alive (a zombie has ended; only its exit is unread)."""
    alive = []
    for p in psutil.process_iter(["pid", "status"]):
        if _pgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
            alive.append(p)
    return alive


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_triggered_run_succeeds_under_the_scheduler(airflow: Airflow) -> None:
    log = airflow.home.parent / "standalone.log"
    wait_for("the DAG to be parsed", lambda: airflow.api("GET", "/dags/hpt_nightly"), 180, log)
    airflow.api("PATCH", "/dags/hpt_nightly", json={"is_paused": False})
    run_id = airflow.api("POST", "/dags/hpt_nightly/dagRuns", json={"logical_date": None})[
        "dag_run_id"
    ]

    def finished() -> str | None:
        state = airflow.api("GET", f"/dags/hpt_nightly/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    assert wait_for("the run to finish", finished, 600, log) == "success"
    tis = airflow.api("GET", f"/dags/hpt_nightly/dagRuns/{run_id}/taskInstances")
    states = {
        (t["task_id"], FACILITIES[t["map_index"]] if t["map_index"] >= 0 else None): t["state"]
        for t in tis["task_instances"]
    }
    labels = {t["rendered_map_index"] for t in tis["task_instances"] if t["state"] == "success"}
    assert set(GOOD) <= labels  # the UI shows facility ids, not map indexes
    for facility in GOOD:
        assert states[("facility.acquire", facility)] == "success"
        assert states[("facility.ingest", facility)] == "success"
    assert states[("facility.acquire", DEAD)] == "failed"
    assert states[("publish", None)] == "success"
    pools = {p["name"]: p for p in airflow.api("GET", "/pools")["pools"]}
    assert pools["hpt_warehouse"]["slots"] == 1
    # The warehouse holds the good hospitals; the failure is recorded with its reason.
    assert sorted(published(airflow.wh, "SELECT facility_id FROM files")) == [(f,) for f in GOOD]
    failures = published(airflow.wh, "SELECT failures FROM pipeline_runs")[0][0]
    assert json.loads(failures) == {DEAD: "HTTP 404 Not Found"}
    events = airflow.api("GET", "/assets/events", params={"source_dag_id": "hpt_nightly"})
    assert [e["source_run_id"] for e in events["asset_events"]] == [run_id]
