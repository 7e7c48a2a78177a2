"""The nightly DAG end to end with `dag.test()` against the demo universe on localhost:
good hospitals published, broken ones failed with a reason, a second night incremental."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.synthetic.universe import HOSPITALS
from tests.dags.conftest import Demo
from tests.dags.runs import hpt_env, last_run, published, run_dag, task_states
from warehouse.db import Warehouse

pytestmark = pytest.mark.slow
BROKEN = {h.ccn: h.broken for h in HOSPITALS if h.broken}
# Where each kind of breakage must stop: acquisition (discover/download) or ingestion.
STOPS_AT = {"captcha": "acquire", "dead": "acquire", "no_txt": "acquire", "prose": "acquire",
            "scheme": "acquire", "truncated": "ingest", "nonconformant": "ingest"}  # fmt: skip


@dataclass
class Night:
    wh: Warehouse
    env: dict[str, str]
    run: Any
    states: dict[tuple[str, str], tuple[str, int]]


@pytest.fixture(scope="module")
def first_night(airflow_db: Path, demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Night:
    env = hpt_env(tmp_path_factory.mktemp("night"), demo.sources)
    run = run_dag(env)
    return Night(Warehouse.at(env["HPT_DB"]), env, run, task_states(run))


def test_run_publishes_good_hospitals_and_fails_broken_ones(first_night: Night) -> None:
    states = first_night.states
    assert str(first_night.run.state) == "success"
    assert states[("registry", "")][0] == "success"
    assert states[("publish", "")][0] == "success"
    facilities = {key for task, key in states if task == "facility.acquire"}
    assert len(facilities) == len(HOSPITALS)
    for facility in facilities:
        acquire = states[("facility.acquire", facility)][0]
        ingest = states[("facility.ingest", facility)][0]
        kind = BROKEN.get(facility)
        if kind is None:
            assert (acquire, ingest) == ("success", "success"), facility
        elif STOPS_AT[kind] == "acquire":
            assert (acquire, ingest) == ("failed", "upstream_failed"), (facility, kind)
        else:
            assert (acquire, ingest) == ("success", "failed"), (facility, kind)
    # Permanent failures are findings, not retries: nothing was tried twice.
    assert max(tries for _, tries in states.values()) == 1


def test_warehouse_holds_every_good_hospital(first_night: Night) -> None:
    wh = first_night.wh
    good = len(HOSPITALS) - len(BROKEN)
    files = published(wh, "SELECT facility_id, status, row_count FROM files")
    assert len(files) == good
    assert {status for _, status, _ in files} == {"loaded"}
    assert not {facility for facility, _, _ in files} & set(BROKEN)
    rows = published(wh, "SELECT count(*), count(DISTINCT facility_id) FROM standard_charges")
    assert rows == [(sum(n for _, _, n in files), good)]
    # The comparison marts were rebuilt from the same data before the snapshot was taken.
    assert published(wh, "SELECT count(DISTINCT facility_id) FROM comparable_charges")[0][0] > 1


def test_run_record_names_each_failure(first_night: Night) -> None:
    run = last_run(first_night.wh)
    assert run["run_id"] == first_night.run.run_id
    assert run["facilities"] == len(HOSPITALS)
    assert (run["loaded"], run["failed"]) == (len(HOSPITALS) - len(BROKEN), len(BROKEN))
    assert set(run["failures"]) == set(BROKEN)
    reasons = run["failures"]
    assert "404" in reasons[next(c for c, k in BROKEN.items() if k == "dead")]
    assert "HTML" in reasons[next(c for c, k in BROKEN.items() if k == "captcha")]
    assert "truncated" in reasons[next(c for c, k in BROKEN.items() if k == "truncated")]
    assert all(reason and "\n" not in reason for reason in reasons.values())


def test_publish_emits_the_warehouse_asset(first_night: Night) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(
                AssetModel.name == "hpt_warehouse",
                AssetEvent.source_run_id == first_night.run.run_id,
            )
        ).all()
        extras = [dict(event.extra) for event in events]
    assert len(extras) == 1
    assert extras[0]["failed"] == len(BROKEN)
    assert Path(extras[0]["snapshot"]).is_file()


def test_publish_says_what_retention_pruned(first_night: Night) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        [row] = session.scalars(
            select(XComModel).where(
                XComModel.run_id == first_night.run.run_id,
                XComModel.task_id == "publish",
                XComModel.key == "return_value",
            )
        ).all()
        summary = XComModel.deserialize_value(row)
    # A first night has no history to expire yet: retention ran and found nothing to take.
    assert summary["pruned"] == {"expired_files": 0, "deleted": 0, "deleted_bytes": 0,
                                 "waiting": 0, "log_rows": 0, "error": None}  # fmt: skip


def test_publish_checks_the_published_warehouse(first_night: Night) -> None:
    checks = published(
        first_night.wh,
        'SELECT run_id, suite, "column", severity, success FROM quality_results '
        "WHERE file_id IS NULL AND suite LIKE 'warehouse_%'",
    )
    assert len({run_id for run_id, *_ in checks}) == 1  # one check, after the one publish
    assert {suite for _, suite, *_ in checks} == {
        "warehouse_current_files", "warehouse_codes", "warehouse_registry"
    }  # fmt: skip
    # Broken hospitals are accounted for by their recorded failures.
    assert all(ok for *_, severity, ok in checks if severity == "error"), checks


def test_second_night_without_upstream_change_skips_downloads_and_loads(
    first_night: Night,
) -> None:
    wh = first_night.wh
    files_before = published(wh, "SELECT file_id FROM files ORDER BY 1")
    attempts_before = published(wh, "SELECT count(*) FROM download_attempts")[0][0]
    run = run_dag(first_night.env)
    assert str(run.state) == "success"
    summary = last_run(wh)
    good = len(HOSPITALS) - len(BROKEN)
    assert (summary["loaded"], summary["unchanged"], summary["rows_loaded"]) == (0, good, 0)
    assert published(wh, "SELECT file_id FROM files ORDER BY 1") == files_before
    downloads = published(
        wh,
        "SELECT outcome, sum(bytes) FROM (SELECT * FROM download_attempts "
        f"ORDER BY attempted_at OFFSET {attempts_before}) WHERE outcome <> 'failed' GROUP BY 1",
    )
    assert downloads == [("not_modified", 0)]
