"""Retention: what the warehouse keeps, and deleting the rest (settings `HPT_RETENTION_*`),
applied by `hpt prune` and by the nightly run around its publish.

Three phases, ordered so that a process killed at any point leaves the warehouse
consistent and a re-run converges:

1. `expire` — one catalog transaction: files beyond the kept history (and quarantined or
   replaced held data past its days) are marked expired; their findings and validation
   rows go; their Parquet folders are listed in `retention_pending` with the time; old
   log rows go.
2. publish (the caller's) — the views are rebuilt without them and readers switch to a
   snapshot that no longer lists them.
3. `warehouse.sweep` — pending folders no kept snapshot can list are deleted, then their
   rows; also snapshots beyond the kept count, landing copies of superseded downloads,
   scratch leftovers and old GX results. Deleting what nothing references is idempotent.

Everything is found from the catalog (and the few snapshot names): no Parquet file of the
warehouse is listed or read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb

from core import settings
from core.storage import Storage
from warehouse import catalog
from warehouse.db import Warehouse, writer

log = logging.getLogger("hpt.retention")

#: `files.status` of a file whose data retention deleted (or is about to).
EXPIRED = "expired"


@dataclass(frozen=True)
class Policy:
    """How much is kept; `from_settings()` reads the `HPT_RETENTION_*` settings."""

    history_files: int = 3
    snapshots: int = 3
    quarantine_days: int = 30
    log_days: int = 365
    grace_hours: float = 24.0
    landing: Storage | None = None  # downloads (a folder or an object store); None: left alone
    work_dir: Path | None = None  # scratch; None: left alone
    docs: Path | None = None  # GX results and Data Docs; None: left alone

    @classmethod
    def from_settings(cls, docs: Path | None = None) -> Policy:
        now = settings.current()
        return cls(
            history_files=now.retention_history_files,
            snapshots=now.retention_snapshots,
            quarantine_days=now.retention_quarantine_days,
            log_days=now.retention_log_days,
            grace_hours=now.retention_grace_hours,
            landing=now.landing_area,
            work_dir=now.work_dir,
            docs=docs,
        )


@dataclass(frozen=True)
class Expired:
    """A file whose data retention takes: why (`history`, `held`, `quarantine`)."""

    file_id: str
    facility_id: str
    reason: str
    data_path: str


@dataclass(frozen=True)
class Gone:
    """One thing deleted (or that a dry run would delete)."""

    kind: str  # 'file data', 'mart run', 'snapshot', 'landing', 'scratch', 'gx results', …
    path: str
    bytes: int


@dataclass
class PruneReport:
    """What a prune did, or a dry run would do."""

    dry_run: bool = False
    expired: list[Expired] = field(default_factory=list)
    deleted: list[Gone] = field(default_factory=list)
    #: Folders of expired data kept while a kept snapshot may still list them.
    waiting: list[str] = field(default_factory=list)
    log_rows: dict[str, int] = field(default_factory=dict)
    published: bool = False
    error: str | None = None

    @property
    def bytes(self) -> int:
        return sum(g.bytes for g in self.deleted)

    def summary(self) -> dict[str, Any]:
        """Small and JSON-friendly: counts and bytes (the nightly run's summary carries it)."""
        return {
            "expired_files": len(self.expired),
            "deleted": len(self.deleted),
            "deleted_bytes": self.bytes,
            "waiting": len(self.waiting),
            "log_rows": sum(self.log_rows.values()),
            "error": self.error,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes": self.bytes}

    def line(self) -> str:
        """One line for a log or the end of `hpt run`."""
        verb = "would " if self.dry_run else ""
        text = (
            f"retention: {verb}expire {len(self.expired)} file(s), {verb}delete "
            f"{len(self.deleted)} item(s) ({self.bytes / 1e6:,.1f} MB), "
            f"{sum(self.log_rows.values()):,} log row(s); {len(self.waiting)} folder(s) "
            "kept while a kept snapshot lists them"
        )
        return f"{text}; failed: {self.error}" if self.error else text


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Per facility, loaded files newest first (the order `current_files` uses): rank 1 is the
# current file, the next `history_files` stay queryable, the rest expire.
_HISTORY = """
SELECT file_id, facility_id, data_path FROM (
    SELECT file_id, facility_id, data_path, row_number() OVER (
        PARTITION BY facility_id ORDER BY loaded_at DESC, file_id DESC) AS rn
    FROM files WHERE status = 'loaded'
) WHERE rn > 1 + ? ORDER BY facility_id, file_id
"""
# A held file a newer current file replaced no longer awaits `hpt accept`.
_HELD = """
SELECT f.file_id, f.facility_id, f.data_path FROM files f
WHERE f.status = 'held' AND f.loaded_at < ? AND EXISTS (
    SELECT 1 FROM current_files c WHERE c.facility_id = f.facility_id AND c.loaded_at > f.loaded_at)
ORDER BY f.facility_id, f.file_id
"""
_QUARANTINE = """
SELECT file_id, facility_id, data_path FROM quarantine WHERE quarantined_at < ?
ORDER BY facility_id, file_id
"""

# Log rows older than the cutoff (`?`), each table's WHERE. The newest attempt of each
# facility stays (`source_status` shows it), as do the newest warehouse check (the next
# run compares its state with it) and the validation results of every file still kept.
_LOGS = {
    "ingest_log": "attempted_at < ? AND (facility_id IS NULL OR attempted_at < ("
    "SELECT max(l.attempted_at) FROM ingest_log l WHERE l.facility_id = ingest_log.facility_id))",
    "download_attempts": "attempted_at < ? AND (facility_id IS NULL OR attempted_at < ("
    "SELECT max(d.attempted_at) FROM download_attempts d "
    "WHERE d.facility_id = download_attempts.facility_id))",
    "source_findings": "checked_at < ?",
    "pipeline_runs": "finished_at < ?",
    "warehouse_checks": "checked_at < ? AND checked_at < (SELECT max(checked_at) "
    "FROM warehouse_checks)",
    "quality_results": "validated_at < ? AND CASE WHEN file_id IS NULL "
    "THEN run_id IS DISTINCT FROM (SELECT arg_max(run_id, validated_at) FROM quality_results "
    "WHERE file_id IS NULL) ELSE file_id NOT IN (SELECT file_id FROM files "
    "WHERE status IN ('loaded', 'held') UNION ALL SELECT file_id FROM quarantine) END",
}


def _candidates(con: duckdb.DuckDBPyConnection, policy: Policy, now: dt.datetime) -> list[Expired]:
    quarantine_cutoff = now - dt.timedelta(days=policy.quarantine_days)
    found: list[Expired] = []
    for reason, sql, arg in (
        ("history", _HISTORY, policy.history_files),
        ("held", _HELD, quarantine_cutoff),
        ("quarantine", _QUARANTINE, quarantine_cutoff),
    ):
        found += [Expired(f, fac, reason, p) for f, fac, p in con.execute(sql, [arg]).fetchall()]
    return found


def _reason_text(reason: str, policy: Policy, day: dt.date) -> str:
    why = {
        "history": f"beyond the {policy.history_files} previous file(s) kept",
        "held": f"held, replaced by a newer file, kept {policy.quarantine_days} day(s)",
    }[reason]
    return f"expired on {day.isoformat()}: {why}"


def _apply(con: duckdb.DuckDBPyConnection, policy: Policy, expired: list[Expired]) -> None:
    """The catalog side of an expiry (inside the caller's transaction)."""
    stamp = _utc_now()  # taken under the writer's lock: see warehouse.sweep
    for reason in ("history", "held"):
        ids = [e.file_id for e in expired if e.reason == reason]
        if ids:
            con.execute(
                "UPDATE files SET status = ?, status_reason = ? "
                "WHERE file_id IN (SELECT unnest(?))",
                [EXPIRED, _reason_text(reason, policy, stamp.date()), ids],
            )
    ids = [e.file_id for e in expired]
    for table in ("findings", "finding_counts", "quality_results"):
        con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?))", [ids])
    quarantined = [e.file_id for e in expired if e.reason == "quarantine"]
    con.execute("DELETE FROM quarantine WHERE file_id IN (SELECT unnest(?))", [quarantined])
    con.execute(
        """
        INSERT INTO retention_pending
        SELECT unnest(?), unnest(?), unnest(?), unnest(?), ?
        ON CONFLICT (data_path) DO UPDATE SET file_id = excluded.file_id,
            facility_id = excluded.facility_id, reason = excluded.reason,
            expired_at = excluded.expired_at
        """,
        [
            [e.data_path for e in expired],
            [e.file_id for e in expired],
            [e.facility_id for e in expired],
            [e.reason for e in expired],
            stamp,
        ],
    )
    # The views are not rebuilt here: that binds every listed Parquet folder (seconds at
    # thousands of files), and the publish that follows rebuilds them anyway. Until then
    # the catalog's views still list the expired folders, which stay until after it.


def _logs(con: duckdb.DuckDBPyConnection, cutoff: dt.datetime, *, dry_run: bool) -> dict[str, int]:
    counts = {}
    for table, where in _LOGS.items():
        verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
        row = con.execute(f"{verb} {table} WHERE {where}", [cutoff]).fetchone()
        if row and row[0]:
            counts[table] = int(row[0])
    return counts


def expire(
    wh: Warehouse, policy: Policy, *, now: dt.datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """Phase 1: take expired data out of the catalog in one transaction (a dry run only
    looks). `now` (naive UTC; default: the clock) is what the days are counted back from."""
    now = now or _utc_now()
    report = PruneReport(dry_run=dry_run)
    if not wh.db_path.exists():
        return report
    with writer(wh) as con:
        con.execute("BEGIN")
        try:
            report.expired = _candidates(con, policy, now)
            if report.expired and not dry_run:
                _apply(con, policy, report.expired)
            cutoff = now - dt.timedelta(days=policy.log_days)
            report.log_rows = _logs(con, cutoff, dry_run=dry_run)
            con.execute("ROLLBACK" if dry_run else "COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        if wh.catalog and not dry_run:
            applied = con.execute("SELECT max(seq) FROM catalog_journal").fetchall()[0][0]
            catalog.expire(wh.catalog, [e.file_id for e in report.expired], cutoff, applied)
    return report


def merge(into: PruneReport, other: PruneReport) -> PruneReport:
    """`into` with `other`'s lists and counts added."""
    for f in fields(PruneReport):
        value = getattr(other, f.name)
        if isinstance(value, list):
            getattr(into, f.name).extend(value)
    into.log_rows.update(other.log_rows)
    into.published = into.published or other.published
    into.error = into.error or other.error
    return into


@contextlib.contextmanager
def pruning(
    wh: Warehouse, policy: Policy, *, now: dt.datetime | None = None
) -> Iterator[PruneReport]:
    """Expire, let the caller publish inside the block, then sweep: `with pruning(...) as
    report: publish(...)`. A retention failure is logged and put in `report.error`, never
    raised: the caller's publish matters more than the clean-up."""
    from warehouse.sweep import snapshot_files, sweep

    report = PruneReport()
    before: dict[Path, int] = {}
    try:
        report = expire(wh, policy, now=now)
        before = snapshot_files(wh)
    except Exception as error:
        log.exception("retention: expiring")
        report.error = f"{type(error).__name__}: {error}".splitlines()[0]
    yield report
    if report.error:
        return  # the catalog is as it was; the next prune starts over
    try:
        merge(report, sweep(wh, policy, now=now, before=before))
    except Exception as error:
        log.exception("retention: deleting")
        report.error = f"{type(error).__name__}: {error}".splitlines()[0]
    log.info("%s", report.line())


def plan(wh: Warehouse, policy: Policy, *, now: dt.datetime | None = None) -> PruneReport:
    """What `prune` would do now, changing nothing (`hpt prune --dry-run`)."""
    from warehouse.sweep import needs_publish, sweep

    report = expire(wh, policy, now=now, dry_run=True)
    publishing = bool(report.expired) or needs_publish(wh)
    swept = sweep(wh, policy, now=now, dry_run=True, publishing=publishing, expiring=report.expired)
    return merge(report, swept)
