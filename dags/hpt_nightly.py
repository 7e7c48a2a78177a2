"""Nightly ingestion: read the source registry, then per batch of facilities (dynamic task
mapping; one facility per batch up to `HPT_AIRFLOW_MAX_MAPPED` facilities) acquire
(discover + download) and ingest (parse, normalise, validate, load), then record the run and
publish the read snapshot (views and comparison marts rebuilt), checked.

Wiring only: every task is one call into `hpt.pipeline.tasks`, thin adapters over the step
functions `hpt run` uses. Heavy imports happen inside task bodies; at parse time only the
schedule, the retry policy and the warehouse queue are read from the settings registry
(environment). Run settings come from the environment of the workers, overridden by the
JSON Airflow Variable `hpt_settings`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Asset, Variable, dag, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from core import settings
from core.outcomes import CheckOutcome
from core.runtime import tune_allocator

# The published warehouse snapshot; a DAG scheduled on it runs after every publish.
WAREHOUSE = Asset(name="hpt_warehouse", uri="hpt://warehouse/published", group="hpt")
DOWNLOAD_POOL = "hpt_downloads"  # concurrent downloads (politeness, bandwidth)
WAREHOUSE_POOL = "hpt_warehouse"  # long catalog work: the registry sync, the publish
# Parsing runs in parallel: an ingest holds the catalog (DuckDB has one writer) only for its
# brief commits, and waits for the lock while another holds it.
INGEST_POOL = "hpt_ingest"
# The executor queue of the tasks that open the catalog file `HPT_DB`: with a shared catalog
# (`HPT_CATALOG`) only the warehouse host serves it; acquire and ingest go to any worker.
WAREHOUSE_QUEUE = settings.current().airflow_warehouse_queue
log = logging.getLogger("hpt")
# Task processes parse this file before they run a task, and load Polars only after.
tune_allocator()


@contextmanager
def _step() -> Iterator[None]:
    """Apply the `hpt_settings` Variable, and turn a facility failure into the Airflow
    outcome: transient → retried, permanent → failed at once (a finding, not a retry)."""
    from hpt.pipeline.tasks import SETTINGS_VARIABLE, FacilityFailed, overrides

    with overrides(Variable.get(SETTINGS_VARIABLE, default=None)):
        try:
            yield
        except FacilityFailed as error:
            if error.transient:
                raise AirflowException(str(error)) from None
            raise AirflowFailException(str(error)) from None


# The UI labels each mapped task with its facility id, "+N" when it holds a batch (set by
# the task body, so a task that failed is labelled too).
LABEL = "{{ facility_id }}"


def _label(facility_ids: list[str]) -> None:
    from hpt.pipeline.tasks import batch_label

    label = batch_label(facility_ids)
    get_current_context()["facility_id"] = label  # type: ignore[typeddict-unknown-key]


# Every task is retried HPT_AIRFLOW_RETRIES times with exponential backoff: the first retry
# 1-2x HPT_AIRFLOW_RETRY_DELAY after the failure, the next twice that, and so on (at most
# 1 h). A retry is for what a later try can fix (a download that timed out, the object store
# or the metadata database unreachable, a lock wait that ran out); a bad file or a broken
# invariant fails at once (`AirflowFailException`).
RETRIES: dict[str, Any] = {
    "retries": settings.current().airflow_retries,
    "retry_delay": dt.timedelta(seconds=settings.current().airflow_retry_delay),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(hours=1),
}


def _last_try() -> bool:
    """Whether the running task has no retry left (a batch then keeps what worked)."""
    ti = get_current_context()["ti"]
    return ti.try_number > (ti.task.retries or 0)


@dag(
    dag_id="hpt_nightly",
    schedule=settings.current().airflow_schedule or None,  # empty: triggered only
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["hpt", "ingestion", "nightly"],
    default_args={"owner": "hpt", **RETRIES},
    doc_md=__doc__,
)
def hpt_nightly() -> None:
    # The entries are XCom for the mapping; thousands of them do not belong in the log.
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, show_return_value_in_logs=False)
    def registry() -> list[list[dict[str, str]]]:
        """The registry entries (small dicts) in batches, synced into the catalog."""
        from hpt.pipeline import tasks

        with _step():
            return tasks.registry_batches()

    @task_group
    def facility(batch: list[dict[str, str]]) -> Any:
        @task(pool=DOWNLOAD_POOL, map_index_template=LABEL)
        def acquire(batch: list[dict[str, str]]) -> list[dict[str, Any]]:
            """Discover and download: where the files landed (paths), not the files."""
            from hpt.pipeline import tasks

            _label([tasks.facility_key(entry) for entry in batch])
            with _step():
                return tasks.acquired_batch(batch, give_up=_last_try())

        # A bad file fails at once; retries are for the warehouse's storage and locks.
        @task(pool=INGEST_POOL, map_index_template=LABEL)
        def ingest(acquisitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Parse, normalise, validate and load: summaries (rows, outcome)."""
            from hpt.pipeline import tasks

            _label([str(a["facility_id"]) for a in acquisitions])
            with _step():
                return tasks.ingested_batch(acquisitions)

        # At build time a task call returns an XComArg, resolved to the value at run time.
        return ingest(acquire(batch))  # type: ignore[arg-type]

    # all_done: the good facilities are published even when others failed.
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, trigger_rule="all_done", outlets=[WAREHOUSE])
    def publish(batches: list[list[dict[str, str]]], results: Any) -> dict[str, Any]:
        """Record the run (failures included) and publish the snapshot readers open."""
        from hpt.pipeline import tasks

        context = get_current_context()
        run = context["dag_run"]
        with _step():
            summary = tasks.published(
                [entry for batch in batches for entry in batch],
                # Pulled across a mapped group: one list of summaries per batch that ran.
                tasks.flattened(results),
                run_id=run.run_id,
                started_at=run.start_date or dt.datetime.now(dt.UTC),
            )
        context["outlet_events"][WAREHOUSE].extra = {
            k: summary[k] for k in ("snapshot", "loaded", "unchanged", "held", "failed")
        }
        for facility_id, reason in summary["failures"].items():
            log.warning("facility %s failed: %s", facility_id, reason)
        check = summary["warehouse_check"]
        if check["outcome"] == CheckOutcome.FAILED:
            # Published and recorded already; failing the task makes the broken invariant
            # a failed run an operator sees, not a line in a log (another try changes nothing).
            raise AirflowFailException(check["message"])
        return summary

    batches = registry()
    publish(batches, facility.expand(batch=batches))  # type: ignore[arg-type]


nightly = hpt_nightly()

if __name__ == "__main__":
    nightly.test()
