"""The registry and acquisition history in the catalog: tracked facilities, download
attempts and discovery findings (what operators read after a nightly run)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from warehouse.db import Warehouse, writer


def sync_registry(wh: Warehouse, entries: Iterable[Any]) -> int:
    """Upsert registry entries (`ingest.registry.SourceEntry`) into `facilities`; facilities
    no longer listed stay (their history matters) but are marked unregistered."""
    rows = [
        [e.key, e.name, e.state or None, e.city or None, e.zip or None, e.system or None,
         e.website or None, e.mrf_url or None]
        for e in entries
    ]  # fmt: skip
    with writer(wh) as con:
        con.execute("BEGIN")
        try:
            con.execute("UPDATE facilities SET registered = false WHERE registered")
            con.executemany(
                """
                INSERT INTO facilities (facility_id, registry_name, state, city, zip_code,
                    system_name, website, mrf_url, registered, registered_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, true, current_timestamp)
                ON CONFLICT (facility_id) DO UPDATE SET
                    registry_name = excluded.registry_name, state = excluded.state,
                    city = excluded.city, zip_code = excluded.zip_code,
                    system_name = excluded.system_name, website = excluded.website,
                    mrf_url = excluded.mrf_url, registered = true,
                    registered_at = coalesce(facilities.registered_at, excluded.registered_at)
                """,
                rows,
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return len(rows)


def record_download(wh: Warehouse, facility_id: str | None, attempt: dict[str, Any]) -> None:
    """One download attempt (`ingest.download.Download.as_dict()`), for the operators' log."""
    with writer(wh) as con:
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


def record_source_findings(
    wh: Warehouse, facility_id: str | None, url: str, findings: Sequence[Any]
) -> None:
    """Discovery findings (`ingest.discover.SourceFinding`) about one facility's sources."""
    if not findings:
        return
    with writer(wh) as con:
        con.executemany(
            "INSERT INTO source_findings VALUES (current_timestamp, ?, ?, ?, ?, ?, ?, ?)",
            [
                [facility_id, url, f.rule, f.severity, f.line_no, f.value, f.message]
                for f in findings
            ],
        )
