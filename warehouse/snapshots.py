"""Published snapshots shared through the data's storage, found through the shared catalog.

With `HPT_CATALOG` set (`warehouse.catalog`), readers — the dashboard, an analyst, `hpt sql`
— may run on other machines than the warehouse host, sharing nothing with it but PostgreSQL
and the storage `HPT_STORAGE`. A publish puts its snapshot file on the storage, at
`<db stem>-published/<name>` beside the data, and only then names it in `hpt.snapshots`: a
reader never finds a name whose object is missing. A reader takes the newest name and, when
its own `<db stem>-published/` folder does not hold that file yet, downloads it there (to a
temporary name, then renamed: two readers at once never open a partial file). A snapshot
never changes once published and its name is unique, so a file in the folder is never
fetched again. It is then opened as on the host: its views' relative paths resolve in the
reader's folder, where the typed empty Parquet they fall back on is created if missing; the
data they list is on the storage.

Without `HPT_CATALOG`, readers open what `current.duckdb` points at, as ever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path

from core import settings
from core.storage import filesystem
from warehouse.catalog import connection, rows
from warehouse.db import Warehouse, ensure_empty_charges

log = logging.getLogger(__name__)

#: A snapshot file as `warehouse.publish` names it: the time it was stamped, in UTC.
NAME = re.compile(r"hpt-(\d{8}T\d{12})Z\.duckdb")


class ShareError(RuntimeError):
    """A snapshot could not be put on the storage; the message says which and where."""


def location(wh: Warehouse, name: str) -> str:
    """Where the snapshot `name` is kept on the data's storage (a path or `s3://` URL)."""
    return wh.storage.location(f"{wh.published_dir.name}/{name}")


def share(wh: Warehouse, snapshot: Path) -> str:
    """Put a published snapshot on the storage, then name it in the shared catalog; its
    place. Raises `ShareError` when it cannot be put there (the catalog is left as it was)."""
    assert wh.catalog
    target = location(wh, snapshot.name)
    # Data in the warehouse folder: the file already is where the storage keeps it.
    if wh.storage.remote or Path(target) != snapshot:
        try:
            wh.storage.put(snapshot, target)
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ShareError(
                f"publish: cannot put the snapshot {snapshot.name} on {target}: "
                f"{type(error).__name__}{': ' + reason if reason else ''}"
            ) from error
    with connection(wh.catalog) as con:
        con.execute(
            "INSERT INTO hpt.snapshots (name, url) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET url = excluded.url, published_at = now()",
            [snapshot.name, target],
        )
    log.info("published %s to %s", snapshot.name, target)
    return target


def shared(wh: Warehouse) -> list[tuple[str, str]]:
    """The snapshots the shared catalog names (name, place), oldest first."""
    assert wh.catalog
    found = rows(wh.catalog, "SELECT name, url FROM hpt.snapshots ORDER BY name")
    return [(str(name), str(url)) for name, url in found]


def newest(wh: Warehouse) -> tuple[str, str] | None:
    """The newest snapshot the shared catalog names (name, place); None before any."""
    assert wh.catalog
    found = rows(wh.catalog, "SELECT name, url FROM hpt.snapshots ORDER BY name DESC LIMIT 1")
    return (str(found[0][0]), str(found[0][1])) if found else None


def fetched(wh: Warehouse) -> Path | None:
    """The newest shared snapshot as a file in this reader's `published_dir`, downloaded
    if it is not there yet; None when nothing is published."""
    found = newest(wh)
    if found is None:
        return None
    name, url = found
    if not NAME.fullmatch(name):  # names a file in our folder: nothing else
        raise ValueError(f"shared catalog: {name!r} is not a snapshot's name")
    path = wh.published_dir / name
    if not path.exists():
        wh.published_dir.mkdir(parents=True, exist_ok=True)
        handle, part = tempfile.mkstemp(dir=wh.published_dir, prefix=f".{name}.", suffix=".part")
        os.close(handle)
        try:
            filesystem(url).get_file(url, part)
            os.replace(part, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
        log.info("fetched snapshot %s from %s", name, url)
        _forget_cached(wh, keep=path)
    ensure_empty_charges(wh)  # the views' fallback, on a machine that has no data of its own
    return path


def _forget_cached(wh: Warehouse, keep: Path) -> None:
    """Keep the newest `HPT_RETENTION_SNAPSHOTS` files in the folder, as a publish does
    (open readers keep their unlinked file)."""
    cached = sorted(p for p in wh.published_dir.glob("hpt-*.duckdb") if NAME.fullmatch(p.name))
    for old in cached[: -settings.current().retention_snapshots]:
        if old != keep:
            old.unlink(missing_ok=True)


def stored(wh: Warehouse, name: str, url: str) -> bool:
    """Whether `url` is an object (or file) this warehouse put on its storage for the
    snapshot `name`, apart from its own published folder (whose files publish and sweep
    look after)."""
    return url == location(wh, name) and url != str(wh.published_dir / name)


def forget(wh: Warehouse, name: str, url: str) -> None:
    """Delete a shared snapshot: its object, then its row (a kill in between leaves a row
    the next sweep deletes). The caller never passes the newest, which readers open."""
    assert wh.catalog
    if not NAME.fullmatch(name):
        raise ValueError(f"shared catalog: {name!r} is not a snapshot's name")
    if stored(wh, name, url):
        wh.storage.remove(url)
    with connection(wh.catalog) as con:
        con.execute("DELETE FROM hpt.snapshots WHERE name = %s", [name])
