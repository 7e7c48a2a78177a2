"""The registry and acquisition history in the catalog: tracked facilities, download
attempts and discovery findings (what operators read after a nightly run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import duckdb

from core.ids import valid_facility_id
from warehouse import catalog
from warehouse.db import Warehouse, writer

# A few log rows per facility need no checkpoint of the whole catalog on close (~200 ms
# each): they are durable in the WAL, and the next load or publish checkpoints anyway.
_NO_CHECKPOINT = "PRAGMA disable_checkpoint_on_shutdown"


def sync_registry(wh: Warehouse, entries: Iterable[Any]) -> int:
    """Upsert registry entries (`ingest.registry.SourceEntry`) into `facilities`; facilities
    no longer listed stay (their history matters) but are marked unregistered."""
    rows = [
        [valid_facility_id(e.key, "registry"), e.name, e.state or None, e.city or None,
         e.zip or None, e.system or None, e.website or None, e.mrf_url or None]
        for e in entries
    ]  # fmt: skip
    with writer(wh) as con:
        con.execute(_NO_CHECKPOINT)
        con.execute("BEGIN")
        try:
            con.execute("UPDATE facilities SET registered = false WHERE registered")
            # One statement per 500 rows: executemany runs one statement per row.
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                values = ", ".join(
                    ["(?, ?, ?, ?, ?, ?, ?, ?, true, current_timestamp)"] * len(chunk)
                )
                con.execute(
                    f"""
                    INSERT INTO facilities (facility_id, registry_name, state, city, zip_code,
                        system_name, website, mrf_url, registered, registered_at)
                    VALUES {values}
                    ON CONFLICT (facility_id) DO UPDATE SET
                        registry_name = excluded.registry_name, state = excluded.state,
                        city = excluded.city, zip_code = excluded.zip_code,
                        system_name = excluded.system_name, website = excluded.website,
                        mrf_url = excluded.mrf_url, registered = true,
                        registered_at = coalesce(facilities.registered_at, excluded.registered_at)
                    """,
                    [value for row in chunk for value in row],
                )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return len(rows)


def record_acquisition(
    wh: Warehouse,
    facility_id: str | None,
    attempt: dict[str, Any],
    findings_url: str | None = None,
    findings: Sequence[Any] = (),
    *,
    repeat_of: tuple[str, str] | None = None,
) -> tuple[str, str, str | None] | None:
    """Record one download attempt (`ingest.download.Download.as_dict()`) and the discovery
    findings (`ingest.discover.SourceFinding`) met on the way, in one catalog write.

    With `repeat_of=(sha256, source)` (a file not modified upstream) it also looks up and
    logs what ingesting those bytes gave before (see `_repeat`), in the same write: the
    whole nightly cost of an unchanged hospital."""
    download = [
        facility_id, attempt.get("url"), attempt.get("final_url"),
        attempt.get("status"), attempt["outcome"], attempt.get("message") or None,
        attempt.get("downloaded_bytes"), attempt.get("sha256"),
        attempt.get("file_name"), attempt.get("etag"), attempt.get("last_modified"),
        attempt.get("retries"), attempt.get("seconds"),
    ]  # fmt: skip
    found = [
        [facility_id, findings_url, f.rule, f.severity, f.line_no, f.value, f.message]
        for f in findings
    ]
    if wh.catalog:
        return _record_shared(wh.catalog, facility_id, download, found, repeat_of)
    with writer(wh) as con:
        con.execute(_NO_CHECKPOINT)
        con.execute(
            "INSERT INTO download_attempts VALUES "
            "(current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            download,
        )
        if found:
            con.executemany(
                "INSERT INTO source_findings VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
                found,
            )
        return _repeat(con, facility_id, *repeat_of) if repeat_of and facility_id else None


def _record_shared(
    url: str,
    facility_id: str | None,
    download: list[Any],
    found: list[list[Any]],
    repeat_of: tuple[str, str] | None,
) -> tuple[str, str, str | None] | None:
    """`record_acquisition` with a shared catalog (`warehouse.catalog`): one journal entry;
    what the bytes gave last time is looked up in `hpt.files` and `hpt.ingest_log`."""
    now = dt.datetime.now()  # as DuckDB's current_timestamp stores it: local time
    entry = catalog.Entry("acquisition", facility_id)
    entry.insert("download_attempts", [[now, *download]])
    entry.insert("source_findings", [[now, *row] for row in found])
    previous = None
    with catalog.connection(url) as pg:
        if repeat_of and facility_id:
            sha256, source = repeat_of
            previous = _previous(
                lambda q, p: pg.execute(q.replace("?", "%s"), p).fetchall(),
                facility_id, sha256, schema="hpt.",
            )  # fmt: skip
            if previous is not None:
                row = [now, facility_id, source, sha256, *previous]
                entry.insert("ingest_log", [[*row, 0.0]])
                catalog.log_ingest(pg, row)
        entry.append(pg)
    return None if previous is None else _as_repeat(previous)


def _as_repeat(previous: tuple[str, str, str | None]) -> tuple[str, str, str | None]:
    outcome, message, file_id = previous
    if outcome != "unchanged":
        message = f"not modified upstream; as last time: {message or outcome}"
    return outcome, message, file_id


def _repeat(
    con: duckdb.DuckDBPyConnection, facility_id: str, sha256: str, source: str
) -> tuple[str, str, str | None] | None:
    """What ingesting these exact bytes gave last time — (outcome, message, file_id) — logged
    again as this run's outcome; None if they were never ingested for this facility."""
    previous = _previous(lambda q, p: con.execute(q, p).fetchall(), facility_id, sha256)
    if previous is None:
        return None
    con.execute(
        "INSERT INTO ingest_log VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, 0.0)",
        [facility_id, source, sha256, *previous],
    )
    return _as_repeat(previous)


def _previous(
    fetch: Callable[[str, list[Any]], list[Any]], facility_id: str, sha256: str, schema: str = ""
) -> tuple[str, str, str | None] | None:
    """What ingesting these bytes gave last time (outcome, message, file_id), looked up with
    `fetch` in the catalog's `files` and `ingest_log` (those of the shared catalog, with
    `schema="hpt."`); None if they were never ingested for this facility.

    A file loaded before is "unchanged"; one that failed or was held fails or is held again
    (reading the same bytes again would give the same answer)."""
    loaded = fetch(
        f"SELECT file_id FROM {schema}files WHERE facility_id = ? AND sha256 = ? "
        "AND status = 'loaded' LIMIT 1",
        [facility_id, sha256],
    )
    if loaded:
        return "unchanged", "not modified upstream", loaded[0][0]
    last = fetch(
        f"SELECT outcome, message, file_id FROM {schema}ingest_log WHERE facility_id = ? "
        "AND sha256 = ? AND outcome <> 'unchanged' ORDER BY attempted_at DESC LIMIT 1",
        [facility_id, sha256],
    )
    if not last:
        return None
    kept = f"SELECT 1 FROM {schema}files WHERE file_id = ? AND status IN ('loaded', 'held')"
    if last[0][0] in ("loaded", "held") and not fetch(kept, [last[0][2]]):
        return None  # its data expired (`hpt prune`): read the file again
    return last[0][0], last[0][1], last[0][2]
