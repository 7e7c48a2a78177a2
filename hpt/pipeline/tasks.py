"""The nightly run's task bodies, thin adapters over the pipeline's steps: registry → per
facility `acquire` and `ingest_acquired` → `publish_checked`. Airflow-agnostic (plain
values in, small JSON-able dicts out), so the DAG in `dags/` stays wiring and these are
tested without a scheduler.

A facility that cannot be processed raises `FacilityFailed`; its `transient` flag, set
where the failure happened (`ingest.download.Download.transient`), tells the DAG whether
another try later tonight could help (a timeout, a 503) or not (a 404, a captcha page, a
file that is not a CMS file): the latter is a finding, not a retry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from core import settings
from core.outcomes import IngestOutcome, Stage
from warehouse.db import Warehouse, writer

#: Outcomes that end a facility's ingest well (held: loaded, the previous file current).
GOOD_OUTCOMES = [outcome for outcome in IngestOutcome if outcome.ok]
SETTINGS_VARIABLE = "hpt_settings"
T = TypeVar("T")


class FacilityFailed(Exception):
    """One facility could not be acquired or ingested; the message is one line."""

    def __init__(self, facility_id: str, stage: Stage, message: str, *, transient: bool) -> None:
        super().__init__(f"{facility_id} {stage}: {message}")
        self.facility_id, self.stage, self.transient = facility_id, stage, transient


def warehouse() -> Warehouse:
    """The warehouse the run writes (setting `HPT_DB`)."""
    return Warehouse.at(settings.current().db)


@contextlib.contextmanager
def overrides(raw: str | None) -> Iterator[dict[str, str]]:
    """Settings given as a JSON object (the `hpt_settings` Airflow Variable) take precedence
    over the environment while the block runs; unknown names are refused."""
    values: dict[str, Any] = json.loads(raw) if raw else {}
    if not isinstance(values, dict):
        raise ValueError(f"{SETTINGS_VARIABLE} must be a JSON object of setting names to values")
    unknown = sorted(set(values) - settings.names())
    if unknown:
        raise ValueError(f"{SETTINGS_VARIABLE} names unknown setting(s): {', '.join(unknown)}")
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        settings.current()  # a bad value fails here, naming the setting
        yield {name: str(value) for name, value in values.items()}
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def registry() -> list[dict[str, str]]:
    """The registry's entries the run takes (setting `HPT_SOURCES`, sliced by
    `HPT_SOURCES_STATE` and `HPT_SOURCES_LIMIT`), synced into the catalog's facilities."""
    from ingest.registry import load_sources, select_sources, states_option
    from warehouse.sources import sync_registry

    now = settings.current()
    entries = select_sources(
        load_sources(now.sources), states_option(now.sources_state), now.sources_limit
    )
    sync_registry(warehouse(), entries)
    return [entry.as_dict() for entry in entries]


def batches(items: Sequence[T], most: int) -> list[list[T]]:
    """`items` in at most `most` consecutive batches of near-equal size, in order.

    Airflow maps a task over at most `max_map_length` (1,024) values: a registry of 6,000
    facilities is mapped as 1,000 batches of 6; one of 25 as 25 batches of one facility.
    """
    if not items:
        return []
    size = math.ceil(len(items) / max(1, most))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def registry_batches() -> list[list[dict[str, str]]]:
    """`registry()` in batches, one per mapped facility task (setting
    `HPT_AIRFLOW_MAX_MAPPED`)."""
    return batches(registry(), settings.current().airflow_max_mapped)


def batch_label(keys: Sequence[str]) -> str:
    """How the UI labels a mapped task: its facility id, and how many more it holds."""
    if not keys:
        return "-"
    return keys[0] if len(keys) == 1 else f"{keys[0]} +{len(keys) - 1}"


def _each(
    items: Sequence[T], step: Callable[[T], dict[str, Any]], *, give_up: bool
) -> list[dict[str, Any]]:
    """`step` over a batch: the results of those that worked.

    A failure of one facility never stops the others in its batch. The batch raises only
    when every facility failed (a batch of one behaves as a task per facility), or when
    one failed transiently and the task has tries left (`give_up` False): the retry runs
    the batch again, and what already worked costs little the second time (conditional
    downloads, unchanged files). Otherwise the failures are in the catalog's logs, and the
    run's summary names them.
    """
    done: list[dict[str, Any]] = []
    failed: list[FacilityFailed] = []
    for item in items:
        try:
            done.append(step(item))
        except FacilityFailed as error:
            failed.append(error)
    transient = [f for f in failed if f.transient]
    if failed and (not done or (transient and not give_up)):
        first = (transient or failed)[0]
        if len(failed) == 1:
            raise first
        message = f"{len(failed)} of {len(items)} failed, first {first}"
        raise FacilityFailed(
            batch_label([f.facility_id for f in failed]),
            first.stage,
            message,
            transient=bool(transient),
        )
    return done


def acquired_batch(batch: Sequence[dict[str, str]], *, give_up: bool) -> list[dict[str, Any]]:
    """`acquired` for each entry of a batch (see `_each` for failures)."""
    return _each(batch, acquired, give_up=give_up)


def ingested_batch(acquisitions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ingested` for each acquisition of a batch (see `_each`; ingest failures are
    permanent: reading the same bytes again gives the same)."""
    return _each(acquisitions, ingested, give_up=True)


def flattened(values: Any) -> list[dict[str, Any]]:
    """The dicts of a value pulled across mapped tasks: None, one dict, a list of dicts, or
    a list of lists of them (one list per batch)."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [values]
    out: list[dict[str, Any]] = []
    for value in values:
        out.extend(flattened(value))
    return out


def facility_key(entry: dict[str, str]) -> str:
    """The facility id a registry entry is filed under."""
    from ingest.registry import SourceEntry

    return SourceEntry.from_dict(entry).key


def acquired(entry: dict[str, str]) -> dict[str, Any]:
    """Discover and download one facility's file; the `AcquireResult` as a dict."""
    from hpt.pipeline.acquire import acquire
    from ingest.registry import SourceEntry

    source = SourceEntry.from_dict(entry)
    result = acquire(source, warehouse())
    if result.failed_at is not None:
        raise FacilityFailed(
            source.key, result.failed_at, result.message, transient=result.transient
        )
    return result.as_dict()


def ingested(acquisition: dict[str, Any]) -> dict[str, Any]:
    """Parse, normalise, check and load what `acquired` landed; a small summary dict."""
    from hpt.pipeline.steps import ingest_acquired

    result = ingest_acquired(acquisition, warehouse())
    facility = result.facility_id or str(acquisition.get("facility_id"))
    if not result.outcome.ok:  # failed or quarantined: reading again gives the same
        message = f"{result.outcome}: {result.message}"
        raise FacilityFailed(facility, Stage.INGEST, message, transient=False)
    return {
        "facility_id": facility,
        "outcome": result.outcome,
        "file_id": result.file_id,
        "rows": result.rows,
        "findings": sum(result.findings.values()),
        "downloaded_bytes": int(acquisition.get("downloaded_bytes") or 0),
        "seconds": round(result.seconds, 3),
        "message": result.message,
    }


def _failure_messages(
    wh: Warehouse, facility_ids: Sequence[str], since: dt.datetime
) -> dict[str, str]:
    """The last recorded problem of each facility since the run started (catalog logs)."""
    if not facility_ids:
        return {}
    with writer(wh) as con:
        rows = con.execute(
            """
            SELECT facility_id, arg_max(message, ts) FROM (
                SELECT facility_id, attempted_at AS ts, message FROM download_attempts
                WHERE outcome = 'failed'
                UNION ALL
                SELECT facility_id, attempted_at AS ts, message FROM ingest_log
                WHERE outcome NOT IN ('loaded', 'unchanged', 'held')
            ) WHERE ts >= ?::TIMESTAMPTZ::TIMESTAMP  -- the logs' current_timestamp, same zone
                AND facility_id IN (SELECT unnest(?)) AND message IS NOT NULL
            GROUP BY facility_id
            """,
            [since, list(facility_ids)],
        ).fetchall()
    return {facility: message for facility, message in rows}


def published(
    entries: Sequence[dict[str, str]],
    results: Sequence[dict[str, Any]],
    *,
    run_id: str,
    started_at: dt.datetime,
) -> dict[str, Any]:
    """Record the run (good facilities and failures), publish the read snapshot (which
    rebuilds the views and comparison marts) checked; the run's summary.

    `warehouse_check` in the summary is the published snapshot's check
    (`hpt.pipeline.steps.publish_checked`): `passed`, `failed`, `unchanged` (not validated
    again) or `skipped` with the gate off. `pruned` says what retention expired before the
    publish and deleted after it (`warehouse.retention.PruneReport.summary`).
    """
    from hpt.pipeline.steps import publish_checked, retention_policy
    from warehouse.retention import pruning

    wh = warehouse()
    done = {r["facility_id"] for r in results}
    failed_ids = [key for key in map(facility_key, entries) if key not in done]
    messages = _failure_messages(wh, failed_ids, started_at)
    failures = {f: messages.get(f, "failed (see the task log)") for f in failed_ids}
    counts = {o.value: sum(r["outcome"] == o for r in results) for o in GOOD_OUTCOMES}
    summary: dict[str, Any] = {
        "run_id": run_id,
        "facilities": len(entries),
        **counts,
        "failed": len(failures),
        "rows_loaded": sum(int(r["rows"]) for r in results if r["outcome"] == IngestOutcome.LOADED),
        "downloaded_bytes": sum(int(r.get("downloaded_bytes") or 0) for r in results),
        "failures": failures,
    }
    with writer(wh) as con:
        con.execute("DELETE FROM pipeline_runs WHERE run_id = ?", [run_id])  # a re-run replaces
        con.execute(
            "INSERT INTO pipeline_runs VALUES "
            "(?, ?::TIMESTAMPTZ::TIMESTAMP, current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, started_at, len(entries),
             counts["loaded"], counts["unchanged"], counts["held"], len(failures),
             summary["rows_loaded"], json.dumps(failures)],
        )  # fmt: skip
    # Freshness is measured from the run's start, so a re-run of an old night judges as then;
    # retention counts its days from it too.
    since = started_at.astimezone(dt.UTC).replace(tzinfo=None)
    with pruning(wh, retention_policy(wh), now=since) as pruned:
        publication = publish_checked(wh, started_at.date())
    summary["pruned"] = pruned.summary()  # `pruning` logs its line
    summary["snapshot"], checked = str(publication.snapshot), publication.check
    summary["warehouse_check"] = {
        "outcome": checked.outcome,
        "message": checked.message,
        "failed": [o.line() for o in checked.outcomes if not o.success],
    }
    return summary
