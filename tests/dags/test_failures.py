"""Bad nights: a host that stays down is retried and then fails alone; a run killed midway
and run again leaves the same warehouse as one clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.synthetic.universe import HOSPITALS
from ingest.registry import SourceEntry, load_sources, write_sources
from tests.dags.conftest import ROOT, Demo, free_port
from tests.dags.runs import hpt_env, last_run, published, run_dag, task_states
from warehouse.db import Warehouse

pytestmark = pytest.mark.slow
# Small healthy hospitals, one per layout and more: a run over them takes seconds.
SMALL = [h.ccn for h in HOSPITALS if h.ccn and not h.broken and not h.target_bytes
         and not h.route and h.n_items <= 600][:5]  # fmt: skip


def registry(demo: Demo, path: Path, keep: list[str], extra: list[SourceEntry] = ()) -> Path:  # type: ignore[assignment]
    entries = [e for e in load_sources(demo.sources) if e.key in keep]
    write_sources(path, [*entries, *extra])
    return path


def test_host_down_is_retried_then_fails_alone(
    airflow_db: Path, demo: Demo, tmp_path: Path
) -> None:
    down = SourceEntry(name="Closed Port Hospital", facility_id="990001",
                       mrf_url=f"http://127.0.0.1:{free_port()}/prices.csv")  # fmt: skip
    sources = registry(demo, tmp_path / "sources.csv", SMALL[:1], [down])
    env = {
        **hpt_env(tmp_path, sources),
        "HPT_AIRFLOW_RETRIES": "1",
        "HPT_AIRFLOW_RETRY_DELAY": "0",
        # Run settings from the Airflow Variable (an env-backed one here) win over the env.
        "HPT_HTTP_RETRIES": "3",
        "AIRFLOW_VAR_HPT_SETTINGS": json.dumps({"HPT_HTTP_RETRIES": "0"}),
    }
    run = run_dag(env)
    states = task_states(run)
    assert str(run.state) == "success"
    assert states[("facility.acquire", "990001")] == ("failed", 2)  # tried, retried, failed
    assert states[("facility.ingest", "990001")][0] == "upstream_failed"
    assert states[("facility.ingest", SMALL[0])] == ("success", 1)
    wh = Warehouse.at(env["HPT_DB"])
    assert last_run(wh)["failures"] == {"990001": "connection refused"}
    attempts = published(wh, "SELECT retries FROM download_attempts WHERE facility_id = '990001'")
    assert attempts == [(0,), (0,)]  # two Airflow tries, no HTTP retries inside either
    assert published(wh, "SELECT facility_id FROM files") == [(SMALL[0],)]


def warehouse_contents(wh: Warehouse) -> dict[str, object]:
    """What a reader sees, minus timestamps and run logs."""
    return {
        "files": published(
            wh, "SELECT facility_id, file_id, sha256, row_count, status FROM files ORDER BY 1"
        ),
        "charges": published(
            wh,
            "SELECT facility_id, count(*), sum(hash(description)) FROM standard_charges "
            "GROUP BY 1 ORDER BY 1",
        ),
        "findings": published(
            wh, "SELECT file_id, rule, finding_count FROM finding_counts ORDER BY 1, 2"
        ),
        "marts": published(wh, "SELECT count(*) FROM comparable_charges"),
    }


def test_killed_run_then_rerun_equals_one_clean_run(
    airflow_db: Path, demo: Demo, tmp_path: Path
) -> None:
    sources = registry(demo, tmp_path / "sources.csv", SMALL)
    clean_env = hpt_env(tmp_path / "clean", sources)
    assert str(run_dag(clean_env).state) == "success"

    env = hpt_env(tmp_path / "killed", sources)
    charges = Warehouse.at(env["HPT_DB"]).charges_dir
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "dags" / "hpt_nightly.py")],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        # Kill it once two facilities are loaded: mid-run, between or inside loads.
        while time.monotonic() < deadline and process.poll() is None:
            if len([p for p in charges.glob("*/*") if p.is_dir()]) >= 2:
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    assert str(run_dag(env).state) == "success"
    clean, rerun = Warehouse.at(clean_env["HPT_DB"]), Warehouse.at(env["HPT_DB"])
    assert warehouse_contents(rerun) == warehouse_contents(clean)
    assert len(warehouse_contents(clean)["files"]) == len(SMALL)  # type: ignore[arg-type]


def test_a_registry_past_airflows_map_limit_runs_in_batches(
    airflow_db: Path, demo: Demo, tmp_path: Path
) -> None:
    """Airflow maps a task over at most `max_map_length` values (1,024 by default; 4 here):
    a registry past it is mapped in batches, and one failure in a batch stays its own."""
    down = SourceEntry(name="Closed Port Hospital", facility_id="990001",
                       mrf_url=f"http://127.0.0.1:{free_port()}/prices.csv")  # fmt: skip
    sources = registry(demo, tmp_path / "sources.csv", SMALL, [down])
    env = {
        **hpt_env(tmp_path / "batched", sources),
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "4",
        "HPT_AIRFLOW_RETRIES": "0",
        "HPT_HTTP_RETRIES": "0",
    }
    # One facility per task, as for a small registry: 6 > 4, the mapping itself fails.
    unbatched = run_dag({**hpt_env(tmp_path / "one-each", sources), **env,
                         "HPT_AIRFLOW_MAX_MAPPED": "100"})  # fmt: skip
    assert str(unbatched.state) == "failed"
    registry_state = [s for (t, _), s in task_states(unbatched).items() if t == "registry"]
    assert registry_state == [("failed", 1)]

    run = run_dag({**env, "HPT_AIRFLOW_MAX_MAPPED": "3"})
    states = task_states(run)
    assert str(run.state) == "success"
    acquired = {label: state for (task, label), state in states.items() if task.endswith("acquire")}
    assert len(acquired) == 3 and all(state == ("success", 1) for state in acquired.values())
    assert f"{SMALL[0]} +1" in acquired
    wh = Warehouse.at(env["HPT_DB"])
    assert sorted(r[0] for r in published(wh, "SELECT facility_id FROM files")) == sorted(SMALL)
    assert last_run(wh)["failures"] == {"990001": "connection refused"}
