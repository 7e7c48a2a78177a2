"""The DAG file loads cleanly, cheaply, and declares the policies operators rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import ROOT

DAG_FILE = ROOT / "dags" / "hpt_nightly.py"


@pytest.fixture(scope="module")
def bag(airflow_db: Path) -> object:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors_and_one_dag(bag: object) -> None:
    from airflow.dag_processing.dagbag import DagBag

    assert isinstance(bag, DagBag)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["hpt_nightly"]


def test_schedule_tags_owner_and_catchup(bag: object) -> None:
    from airflow.dag_processing.dagbag import DagBag

    assert isinstance(bag, DagBag)
    dag = bag.get_dag("hpt_nightly")
    assert dag is not None
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"hpt", "ingestion", "nightly"} <= set(dag.tags)
    assert dag.timetable.expression == "0 3 * * *"  # type: ignore[attr-defined]
    assert {task.owner for task in dag.tasks} == {"hpt"}


def test_retries_pools_and_trigger_rules(bag: object) -> None:
    from airflow.dag_processing.dagbag import DagBag

    assert isinstance(bag, DagBag)
    dag = bag.get_dag("hpt_nightly")
    assert dag is not None
    tasks = {task.task_id: task for task in dag.tasks}
    assert set(tasks) == {"registry", "facility.acquire", "facility.ingest", "publish"}
    acquire, ingest, publish = tasks["facility.acquire"], tasks["facility.ingest"], tasks["publish"]
    # Every task retries with backoff (a bad file or a broken invariant fails at once): an
    # unreachable object store or metadata database is waited out.
    for task in tasks.values():
        assert task.retries == 3 and task.retry_exponential_backoff == 2.0, task.task_id
        assert (
            task.retry_delay.total_seconds() == 300 and task.max_retry_delay.total_seconds() == 3600
        )
    assert acquire.pool == "hpt_downloads"
    # Parsing runs in parallel, outside the pool of the long catalog work.
    assert ingest.pool == "hpt_ingest"
    assert {publish.pool, tasks["registry"].pool} == {"hpt_warehouse"}
    # Per facility: acquire → ingest, mapped over the registry inside one task group.
    assert acquire.downstream_task_ids == {"facility.ingest"}
    assert ingest.downstream_task_ids == {"publish"}
    assert publish.trigger_rule == "all_done"
    assert [outlet.name for outlet in publish.outlets] == ["hpt_warehouse"]


def test_catalog_tasks_go_to_the_warehouse_queue(
    bag: object, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tasks that open the catalog file (registry sync, publish) run where the
    `HPT_AIRFLOW_WAREHOUSE_QUEUE` is served; the per-facility tasks on any worker."""
    from airflow.dag_processing.dagbag import DagBag

    assert isinstance(bag, DagBag)
    default = bag.get_dag("hpt_nightly")
    assert default is not None
    assert {task.queue for task in default.tasks} == {"default"}  # Airflow's default queue
    monkeypatch.setenv("HPT_AIRFLOW_WAREHOUSE_QUEUE", "hpt_warehouse")
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("hpt_nightly")
    assert dag is not None
    queues = {task.task_id: task.queue for task in dag.tasks}
    assert queues == {
        "registry": "hpt_warehouse",
        "facility.acquire": "default",
        "facility.ingest": "default",
        "publish": "hpt_warehouse",
    }


def test_parsing_imports_nothing_heavy(airflow_db: Path) -> None:
    """Parsing runs every few seconds: no polars, DuckDB or Great Expectations then."""
    code = (
        "import json, runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(json.dumps(sorted(m for m in ('polars', 'duckdb', 'great_expectations', "
        "'requests', 'hpt.pipeline') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAG_FILE)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
