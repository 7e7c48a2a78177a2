"""Retention's deleting phase (see `warehouse.retention`): files and folders nothing kept
references any more.

A Parquet folder of expired data is deleted once no kept snapshot can list it. A
snapshot's name carries the time its stamp was taken, under the writer's lock, just before
publish copies the catalog; an expiry takes its time under that lock too. So a snapshot
stamped after an expiry was copied after it and cannot list the expired folder; one
stamped before may. Readers keep every kept snapshot whole.

Mart runs merged away (`warehouse.marts.runs`) go the same way: once no kept snapshot
stamped before they were retired remains. A run file the catalog never listed (a publish
killed before its commit) goes once older than the grace hours.

Only what the warehouse itself wrote is touched: folders inside its charges folder, the
mart runs it retired, its snapshots, landing folders named as `ingest.landing` names
them (with their `.lock`; on an object store, the prefixes so named under the landing
prefix, and the staging folders under the scratch folder), scratch files named as the
readers name them, GX run folders named by their time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

from core.storage import Storage, filesystem
from ingest.landing import STAGING, landing_key
from warehouse.db import Warehouse, writer
from warehouse.marts.runs import folder as runs_folder
from warehouse.retention import Expired, Gone, Policy, PruneReport
from warehouse.snapshots import NAME, forget, shared, stored

_LANDING = re.compile(r"[a-z0-9-]*-[0-9a-f]{12}")
# ingest.encoding (`.<sha16>.utf8.csv`), ingest.archive (`.<stem>.unpacked<n>`),
# ingest.json_items (`.items-<pid>-<n>.json`).
# hpt.pipeline.steps and warehouse.marts (`.hpt-store-*`, `.hpt-stage-*`, `.hpt-fold-*`: data
# on its way to or from an object store), ingest.landing (`.hpt-landed-*`: a landed object
# fetched to be read).
_SCRATCH = re.compile(
    r"\.(?:[0-9a-f]{16}\.utf8.*|.+\.unpacked\d+|items-\d+-\d+\.json"
    r"|hpt-(?:store|stage|fold|landed)-.+)"
)
_GX_RUN = "%Y%m%dT%H%M%S.%fZ"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.UTC).timestamp()


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size if path.exists() else 0
    return sum(
        (Path(top) / name).stat().st_size for top, _, names in os.walk(path) for name in names
    )


def _mtime(path: Path) -> float:
    """When a file, or a folder or anything directly in it, last changed."""
    times = [path.stat().st_mtime]
    if path.is_dir():
        times += [entry.stat().st_mtime for entry in os.scandir(path)]
    return max(times)


def _written(folder: Path) -> float:
    """When the newest part in a folder was written (0 for none). Not the folder's own
    time: deleting some parts changes that."""
    if not folder.is_dir():
        return 0.0
    return max((entry.stat().st_mtime for entry in os.scandir(folder)), default=0.0)


def _stored_written(wh: Warehouse, folder: str) -> float:
    """`_written` for a data folder on the warehouse's storage (on an object store: its
    newest object, anywhere under the prefix)."""
    if not wh.storage.remote:
        return _written(Path(folder))
    return max((stamp for _, _, stamp in wh.storage.files(folder)), default=0.0)


def _stored_size(wh: Warehouse, folder: str) -> int:
    if not wh.storage.remote:
        return _size(Path(folder))
    return sum(size for _, size, _ in wh.storage.files(folder))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _stamp(name: str) -> dt.datetime:
    """The time in a snapshot's name (`NAME`)."""
    match = NAME.fullmatch(name)
    assert match is not None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f")


def snapshots(wh: Warehouse) -> list[tuple[dt.datetime, Path]]:
    """The published snapshots, oldest first, with the time in their names."""
    if not wh.published_dir.is_dir():
        return []
    found = []
    for path in wh.published_dir.glob("hpt-*.duckdb"):
        if NAME.fullmatch(path.name):
            found.append((_stamp(path.name), path))
    return sorted(found)


def snapshot_files(wh: Warehouse) -> dict[Path, int]:
    """Each snapshot file and its size (to report those a publish then deletes)."""
    return {path: path.stat().st_size for _, path in snapshots(wh)}


def _current(wh: Warehouse) -> Path | None:
    return wh.published_path.resolve() if wh.published_path.exists() else None


def needs_publish(wh: Warehouse) -> bool:
    """True when readers' current snapshot still lists data the catalog expired (an
    expiry committed but not published: a prune killed in between)."""
    current = _current(wh)
    if current is None or not wh.db_path.exists():
        return False
    match = NAME.fullmatch(current.name)
    with writer(wh) as con:
        row = con.execute("SELECT max(expired_at) FROM retention_pending").fetchone()
    newest = row[0] if row else None
    if newest is None or match is None:
        return False
    return bool(newest >= dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f"))


def _shared_snapshots(
    wh: Warehouse, keep: int, publishing: bool, report: PruneReport
) -> list[dt.datetime]:
    """Delete the shared catalog's snapshots (`warehouse.snapshots`) beyond the kept count,
    as `_split_snapshots` counts the local ones, never the newest (readers open it); the
    times of those kept."""
    found = [(name, url) for name, url in shared(wh) if NAME.fullmatch(name)]
    room = keep - 1 if publishing else max(keep, 1)
    kept = found[max(0, len(found) - room) :] if room > 0 else []
    for name, url in found[: len(found) - len(kept)]:
        if stored(wh, name, url):  # else the local file, reported above, or not ours
            fs = filesystem(url)
            size = int(fs.size(url)) if fs.exists(url) else 0
            report.deleted.append(Gone("snapshot", url, size))
        if not report.dry_run:
            forget(wh, name, url)
    return [_stamp(name) for name, _ in kept]


def _split_snapshots(
    wh: Warehouse, keep: int, publishing: bool
) -> tuple[list[tuple[dt.datetime, Path]], list[tuple[dt.datetime, Path]]]:
    """(kept, deleted) among the snapshots there now; `publishing`: after a publish that
    adds one more (the current one), as `warehouse.publish` counts them."""
    found = snapshots(wh)
    room = keep - 1 if publishing else keep
    kept = found[max(0, len(found) - room) :] if room > 0 else []
    current = _current(wh)
    if not publishing:  # the snapshot readers open now always stays
        kept += [s for s in found if s[1] == current and s not in kept]
    return kept, [s for s in found if s not in kept]


def _pending(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    oldest_kept: dt.datetime | None,
    expiring: list[Expired],
    report: PruneReport,
) -> None:
    """Delete the pending folders no kept snapshot can list; the others wait."""
    rows = con.execute(
        """
        SELECT p.data_path, p.expired_at, p.reason,
            EXISTS (SELECT 1 FROM files f WHERE f.data_path = p.data_path
                    AND f.status IN ('loaded', 'held'))
            OR EXISTS (SELECT 1 FROM quarantine q WHERE q.data_path = p.data_path)
        FROM retention_pending p ORDER BY p.data_path
        """
    ).fetchall()
    wall = _utc_now()
    rows += [(e.data_path, wall, e.reason, False) for e in expiring]  # a dry run's
    done: list[str] = []
    store = wh.storage
    charges = wh.location(wh.relative(wh.charges_dir)) + "/"
    for data_path, expired_at, reason, live in sorted(rows):
        folder = wh.location(data_path)
        if not store.remote:  # no link may lead out of the charges folder
            folder = str(Path(folder).resolve())
            charges = str(Path(charges).resolve()) + "/"
        if live or not folder.startswith(charges):
            done.append(data_path)  # loaded again, or not ours to delete: forget it
        elif reason == "history" and oldest_kept is not None and oldest_kept <= expired_at:
            # Only loaded files are in the views (`charge_history`): held or quarantined
            # data never was, so no snapshot lists it.
            report.waiting.append(str(folder))
        elif (written := _stored_written(wh, folder)) > _epoch(expired_at):
            # Written again since it expired (the same file is being ingested anew): wait
            # for that load; if it never comes, the folder goes after the next snapshots.
            report.waiting.append(str(folder))
            if not report.dry_run:
                later = max(wall, dt.datetime.fromtimestamp(written, dt.UTC).replace(tzinfo=None))
                con.execute(
                    "UPDATE retention_pending SET expired_at = ? WHERE data_path = ?",
                    [later, data_path],
                )
        else:
            report.deleted.append(Gone("file data", folder, _stored_size(wh, folder)))
            if not report.dry_run:
                if store.remote:
                    store.remove(folder)
                else:
                    _remove(Path(folder))
            done.append(data_path)
    if done and not report.dry_run:  # after the deletions: a kill in between re-deletes
        con.execute("DELETE FROM retention_pending WHERE data_path IN (SELECT unnest(?))", [done])


def _retired_runs(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    oldest_kept: dt.datetime | None,
    report: PruneReport,
) -> None:
    """Delete the mart runs merged away (`warehouse.marts.runs`) that no kept snapshot can
    list: retired at a fold, under the writer's lock, they are listed by no snapshot
    stamped after it."""
    rows = con.execute(
        "SELECT path, retired_at FROM mart_runs_retired ORDER BY retired_at, path"
    ).fetchall()
    done: list[str] = []
    for path, retired_at in rows:
        if oldest_kept is not None and oldest_kept <= retired_at:
            continue  # a kept snapshot may list it
        location = wh.location(path)
        if wh.storage.exists(location):
            report.deleted.append(Gone("mart run", location, _stored_size(wh, location)))
            if not report.dry_run:
                wh.storage.remove(location)
        done.append(path)
    if done and not report.dry_run:  # after the deletions: a kill in between re-deletes
        con.execute("DELETE FROM mart_runs_retired WHERE path IN (SELECT unnest(?))", [done])


#: A run file as `warehouse.marts.runs` names it.
_RUN = re.compile(r"(?:price_compare|facility_code_prices)-\d{8}T\d{12}-\d+\.parquet")


def _orphan_runs(
    con: duckdb.DuckDBPyConnection, wh: Warehouse, old: float, report: PruneReport
) -> None:
    """Delete run files the catalog never listed (a publish killed after writing one, before
    its commit), once untouched since `old`."""
    known = {
        wh.location(path)
        for (path,) in con.execute(
            "SELECT price_compare_path FROM mart_runs UNION ALL "
            "SELECT facility_prices_path FROM mart_runs UNION ALL "
            "SELECT path FROM mart_runs_retired"
        ).fetchall()
    }
    folder = runs_folder(wh)
    if not wh.storage.exists(folder):
        return
    for path, size, written in sorted(wh.storage.files(folder)):
        name = path.rsplit("/", 1)[-1]
        if _RUN.fullmatch(name) and path not in known and written <= old:
            report.deleted.append(Gone("leftover", path, size))
            if not report.dry_run:
                wh.storage.remove(path)


# The URLs whose landing folder stays: the current and the awaiting held files' sources,
# and each facility's newest download attempt (whatever it gave) and newest good one
# (its `state.json` makes the next download conditional).
_LIVE_URLS = """
SELECT source FROM current_files
UNION SELECT f.source FROM files f WHERE f.status = 'held' AND NOT EXISTS (
    SELECT 1 FROM current_files c WHERE c.facility_id = f.facility_id AND c.loaded_at > f.loaded_at)
UNION SELECT arg_max(url, attempted_at) FROM download_attempts GROUP BY facility_id
UNION SELECT arg_max(url, attempted_at) FROM download_attempts
    WHERE outcome IN ('downloaded', 'not_modified') GROUP BY facility_id
"""


def _live(urls: Iterable[str | None]) -> set[str]:
    """The landing places (`ingest.landing.landing_key`) of the live URLs."""
    return {landing_key(url) for url in urls if url and "://" in url}


def _landing(landing: Path, urls: Iterable[str | None], old: float, report: PruneReport) -> None:
    """Landing folders of URLs no facility uses any more, untouched since `old`."""
    if not landing.is_dir():
        return
    live = _live(urls)
    for folder in sorted(landing.iterdir()):
        lock = folder / ".lock"
        if folder.name in live or not _LANDING.fullmatch(folder.name) or not lock.exists():
            continue
        if _mtime(folder) > old:
            continue
        with lock.open("a") as handle:
            try:  # a download of this URL running now holds it
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            report.deleted.append(Gone("landing", str(folder), _size(folder)))
            if not report.dry_run:
                _remove(folder)


def _landed_objects(
    landing: Storage, urls: Iterable[str | None], old: float, report: PruneReport
) -> None:
    """Landing places on an object store of URLs no facility uses any more, none of whose
    objects was written since `old` (a download in progress writes none until it lands)."""
    live = _live(urls)
    places: dict[str, list[tuple[int, float]]] = {}
    try:
        found = list(landing.files(landing.base))
    except FileNotFoundError:  # no such bucket: nothing landed there
        return
    for path, size, written in found:
        name = (landing.relative(path) or "").split("/")[0]
        places.setdefault(name, []).append((size, written))
    for name, objects in sorted(places.items()):
        if name in live or not _LANDING.fullmatch(name):
            continue
        if max(written for _, written in objects) > old:
            continue
        location = f"{landing.base}/{name}"
        report.deleted.append(Gone("landing", location, sum(size for size, _ in objects)))
        if not report.dry_run:
            landing.remove(location)


def _aged(paths: Iterable[Path], old: float, kind: str, report: PruneReport) -> None:
    for path in sorted(paths):
        if path.exists() and _mtime(path) <= old:
            report.deleted.append(Gone(kind, str(path), _size(path)))
            if not report.dry_run:
                _remove(path)


def _gx_results(docs: Path, cutoff: dt.datetime, report: PruneReport) -> None:
    """GX results and their Data Docs pages, in folders named `<suite>/<run>/<time>`."""
    for base in (docs / "results", docs / "site" / "validations"):
        for run in sorted(base.glob("*/*/*")):
            try:
                when = dt.datetime.strptime(run.name, _GX_RUN)
            except ValueError:
                continue
            if run.is_dir() and when < cutoff:
                report.deleted.append(Gone("gx results", str(run), _size(run)))
                if not report.dry_run:
                    _remove(run)


def sweep(
    wh: Warehouse,
    policy: Policy,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    publishing: bool = False,
    expiring: list[Expired] | None = None,
    before: dict[Path, int] | None = None,
) -> PruneReport:
    """Phase 3: delete what nothing kept references. A dry run deletes nothing; with
    `publishing` it counts as if a publish came first, with `expiring` as if those files
    had expired. `before` (snapshot files and sizes) reports those a publish deleted."""
    now = now or _utc_now()
    report = PruneReport(dry_run=dry_run)
    report.deleted += [
        Gone("snapshot", str(path), size) for path, size in (before or {}).items()
        if not path.exists()
    ]  # fmt: skip
    urls: list[str | None] = []
    if wh.db_path.exists():
        with writer(wh) as con:
            kept, dropped = _split_snapshots(wh, policy.snapshots, publishing)
            for _, path in dropped:
                report.deleted.append(Gone("snapshot", str(path), path.stat().st_size))
                if not dry_run:  # readers that opened it keep reading the unlinked file
                    path.unlink(missing_ok=True)
            stamps = [stamp for stamp, _ in kept]
            if wh.catalog:  # readers elsewhere may hold any snapshot the catalog names
                stamps += _shared_snapshots(wh, policy.snapshots, publishing, report)
            oldest = min(stamps) if stamps else None
            _pending(con, wh, oldest, expiring or [], report)
            _retired_runs(con, wh, oldest, report)
            urls = [r[0] for r in con.execute(_LIVE_URLS).fetchall()]
            _orphan_runs(con, wh, _epoch(now - dt.timedelta(hours=policy.grace_hours)), report)
    old = _epoch(now - dt.timedelta(hours=policy.grace_hours))
    if wh.published_dir.is_dir():  # a publish killed midway leaves these
        leftovers = [*wh.published_dir.glob("*.part"), *wh.published_dir.glob(".current-*")]
        _aged(leftovers, old, "leftover", report)
    if policy.landing is not None and wh.db_path.exists():  # no catalog: nothing known live
        if policy.landing.remote:
            _landed_objects(policy.landing, urls, old, report)
        else:
            _landing(Path(policy.landing.base), urls, old, report)
        if policy.work_dir is not None:  # downloads staged for an object store landing area
            _landing(policy.work_dir / STAGING, urls, old, report)
    if policy.work_dir is not None and policy.work_dir.is_dir():
        scratch = [p for p in policy.work_dir.iterdir() if _SCRATCH.fullmatch(p.name)]
        _aged(scratch, old, "scratch", report)
    if policy.docs is not None:
        _gx_results(policy.docs, now - dt.timedelta(days=policy.log_days), report)
    return report
