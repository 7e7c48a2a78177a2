"""Running the nightly DAG in tests and reading what it did."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from warehouse.db import Warehouse, reader


def hpt_env(base: Path, sources: Path) -> dict[str, str]:
    """Settings of one test deployment: its own warehouse, landing and scratch folders."""
    return {
        "HPT_DB": str(base / "wh" / "hpt.duckdb"),
        "HPT_LANDING": str(base / "landing"),
        "HPT_WORK_DIR": str(base / "work"),
        "HPT_SOURCES": str(sources),
    }


def run_dag(env: dict[str, str]) -> Any:
    """One `dag.test()` run of the nightly DAG under `env`; the finished DagRun.

    The DAG module is re-imported so parse-time settings in `env` (retries) apply."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        module = importlib.reload(importlib.import_module("dags.hpt_nightly"))
        return module.nightly.test()


def task_states(run: Any) -> dict[tuple[str, str], tuple[str, int]]:
    """(task id, facility id or "") → (final state, tries) of every task of a run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
            )
        ).all()
        # Mapped tasks are labelled with their facility id once they ran; one that never
        # ran (upstream failed) takes the label of the acquisition at its map index.
        labels = {
            ti.map_index: ti.rendered_map_index for ti in tis if ti.task_id.endswith("acquire")
        }
        return {
            (ti.task_id, labels.get(ti.map_index, "")): (str(ti.state), ti.try_number) for ti in tis
        }


def published(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the published snapshot (what analysts and the dashboard see)."""
    con = reader(wh)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def last_run(wh: Warehouse) -> dict[str, Any]:
    """The newest `pipeline_runs` row, failures decoded."""
    row = published(
        wh,
        "SELECT run_id, facilities, loaded, unchanged, held, failed, rows_loaded, failures "
        "FROM pipeline_runs ORDER BY finished_at DESC LIMIT 1",
    )[0]
    keys = ("run_id", "facilities", "loaded", "unchanged", "held", "failed", "rows_loaded")
    return {**dict(zip(keys, row[:7], strict=True)), "failures": json.loads(row[7])}
