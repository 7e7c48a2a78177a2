"""The registry and acquisition history in the catalog: tracked facilities, download
attempts and discovery findings (what operators read after a nightly run)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from core.ids import valid_facility_id
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
    with writer(wh) as con:
        con.execute(_NO_CHECKPOINT)
        con.execute(
            "INSERT INTO download_attempts VALUES "
            "(current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                facility_id, attempt.get("url"), attempt.get("final_url"),
                attempt.get("status"), attempt["outcome"], attempt.get("message") or None,
                attempt.get("downloaded_bytes"), attempt.get("sha256"),
                attempt.get("file_name"), attempt.get("etag"), attempt.get("last_modified"),
                attempt.get("retries"), attempt.get("seconds"),
            ],
        )  # fmt: skip
        if findings:
            con.executemany(
                "INSERT INTO source_findings VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [facility_id, findings_url, f.rule, f.severity, f.line_no, f.value, f.message]
                    for f in findings
                ],
            )
        return _repeat(con, facility_id, *repeat_of) if repeat_of and facility_id else None


def _repeat(
    con: duckdb.DuckDBPyConnection, facility_id: str, sha256: str, source: str
) -> tuple[str, str, str | None] | None:
    """What ingesting these exact bytes gave last time — (outcome, message, file_id) — logged
    again as this run's outcome; None if they were never ingested for this facility.

    A file loaded before is "unchanged"; one that failed or was held fails or is held again
    (reading the same bytes again would give the same answer)."""
    loaded = con.execute(
        "SELECT file_id FROM files WHERE facility_id = ? AND sha256 = ? "
        "AND status = 'loaded' LIMIT 1",
        [facility_id, sha256],
    ).fetchall()
    if loaded:
        previous = ("unchanged", "not modified upstream", loaded[0][0])
    else:
        last = con.execute(
            "SELECT outcome, message, file_id FROM ingest_log WHERE facility_id = ? "
            "AND sha256 = ? AND outcome <> 'unchanged' ORDER BY attempted_at DESC LIMIT 1",
            [facility_id, sha256],
        ).fetchall()
        if not last:
            return None
        previous = last[0]
        kept = "SELECT 1 FROM files WHERE file_id = ? AND status IN ('loaded', 'held')"
        if previous[0] in ("loaded", "held") and not con.execute(kept, [previous[2]]).fetchall():
            return None  # its data expired (`hpt prune`): read the file again
    con.execute(
        "INSERT INTO ingest_log VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, 0.0)",
        [facility_id, source, sha256, *previous],
    )
    outcome, message, file_id = previous
    if outcome != "unchanged":
        message = f"not modified upstream; as last time: {message or outcome}"
    return outcome, message, file_id
