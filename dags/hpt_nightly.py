"""Nightly ingestion: read the source registry, then per facility (dynamic task mapping)
acquire (discover + download) and ingest (parse, normalise, validate, load), then record the
run and publish the read snapshot (views and comparison marts rebuilt), checked.

Wiring only: every task is one call into `hpt.pipeline.tasks`, thin adapters over the step
functions `hpt run` uses. Heavy imports happen inside task bodies; at parse time only the
schedule and retry policy are read from the settings registry (environment). Run settings
come from the environment of the workers, overridden by the JSON Airflow Variable
`hpt_settings`.
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
WAREHOUSE_POOL = "hpt_warehouse"  # concurrent catalog writers (DuckDB has one)
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


# The UI labels each mapped task with its facility id (set by the task body, so a task that
# failed is labelled too).
LABEL = "{{ facility_id }}"


def _label(facility_id: str) -> None:
    get_current_context()["facility_id"] = facility_id  # type: ignore[typeddict-unknown-key]


@dag(
    dag_id="hpt_nightly",
    schedule=settings.current().airflow_schedule or None,  # empty: triggered only
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["hpt", "ingestion", "nightly"],
    default_args={"owner": "hpt", "retries": 0},
    doc_md=__doc__,
)
def hpt_nightly() -> None:
    # The entries are XCom for the mapping; thousands of them do not belong in the log.
    @task(pool=WAREHOUSE_POOL, show_return_value_in_logs=False)
    def registry() -> list[dict[str, str]]:
        """The registry entries (small dicts), synced into the catalog."""
        from hpt.pipeline import tasks

        with _step():
            return tasks.registry()

    @task_group
    def facility(entry: dict[str, str]) -> Any:
        @task(
            pool=DOWNLOAD_POOL,
            retries=settings.current().airflow_retries,
            retry_delay=dt.timedelta(seconds=settings.current().airflow_retry_delay),
            retry_exponential_backoff=2.0,
            max_retry_delay=dt.timedelta(hours=1),
            map_index_template=LABEL,
        )
        def acquire(entry: dict[str, str]) -> dict[str, Any]:
            """Discover and download: where the file landed (a path), not the file."""
            from hpt.pipeline import tasks

            _label(tasks.facility_key(entry))
            with _step():
                return tasks.acquired(entry)

        # One retry for the unexpected (a lock wait that ran out); a bad file fails at once.
        @task(pool=WAREHOUSE_POOL, retries=1, map_index_template=LABEL)
        def ingest(acquisition: dict[str, Any]) -> dict[str, Any]:
            """Parse, normalise, validate and load: a summary (rows, outcome)."""
            from hpt.pipeline import tasks

            _label(str(acquisition["facility_id"]))
            with _step():
                return tasks.ingested(acquisition)

        # At build time a task call returns an XComArg, resolved to the value at run time.
        return ingest(acquire(entry))  # type: ignore[arg-type]

    # all_done: the good facilities are published even when others failed.
    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done", outlets=[WAREHOUSE])
    def publish(entries: list[dict[str, str]], results: Any) -> dict[str, Any]:
        """Record the run (failures included) and publish the snapshot readers open."""
        from hpt.pipeline import tasks

        context = get_current_context()
        run = context["dag_run"]
        with _step():
            summary = tasks.published(
                entries,
                # Pulled across a mapped group: None, one summary, or a list of them.
                [results] if isinstance(results, dict) else list(results or []),
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
            # a failed run an operator sees, not a line in a log.
            raise RuntimeError(check["message"])
        return summary

    entries = registry()
    publish(entries, facility.expand(entry=entries))  # type: ignore[arg-type]


nightly = hpt_nightly()

if __name__ == "__main__":
    nightly.test()
