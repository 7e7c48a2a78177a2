"""Where a publish's fold reads and writes the files' data: in place, or a local copy.

On local storage the fold reads each file's derived data and writes its judged marts in
place. On an object store every read, glob, existence check and write is a round trip of
its own, and one after the other they cost ~1.2 s per file (on the S3 server of the
tests): so the fold first fetches all it will read, many objects at once, into a scratch
folder in `HPT_WORK_DIR` (`.hpt-fold-*`), reads it there, writes its files there and puts
them on the store, many at once, before its transaction commits the catalog rows naming
them — objects first, catalog after, as an ingest does. The catalog keeps the store's
paths; the scratch folder is deleted at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.storage import Storage


class Mirror:
    """The fold's view of the data's storage: `path(location)` is where to read or write
    a store location (the location itself on local storage)."""

    def __init__(self, storage: Storage, root: Path | None) -> None:
        self.storage, self.root = storage, root
        self._asked: set[str] = set()
        self._found: set[str] = set()

    def _local(self, location: str) -> Path | None:
        relative = self.storage.relative(location) if self.root is not None else None
        return None if self.root is None or relative is None else self.root / relative

    def path(self, location: str) -> str:
        """Where to read or write `location`: itself, or its copy in the scratch folder (its
        folder created). Only what `fetch` copied is there to read."""
        local = self._local(location)
        if local is None:
            return location
        local.parent.mkdir(parents=True, exist_ok=True)
        return str(local)

    def copy(self, location: str) -> str:
        """Where to read `location`: its copy in the scratch folder when there is one (fetched
        or written there), else the location itself."""
        local = self._local(location)
        return str(local) if local is not None and local.is_file() else location

    def exists(self, location: str) -> bool:
        """Whether `location` exists on the store (one `fetch` looked at: known here)."""
        if location in self._asked:
            return location in self._found
        return self.storage.exists(location)

    def fetch(self, folders: list[str], files: list[str]) -> None:
        """Copy every object under each of `folders` and each of `files` (those that exist)
        into the scratch folder; nothing on local storage."""
        if self.root is None:
            return
        listed = self.storage.find_many(folders)
        wanted = sorted({path for paths in listed.values() for path in paths} | set(files))
        missing = set(self.storage.get_many((w, Path(self.path(w))) for w in wanted))
        self._asked.update(wanted)
        self._found.update(set(wanted) - missing)

    def put(self) -> None:
        """Put every file written in the scratch folder (all but the fetched copies) on the
        store, at the location it stands for."""
        if self.root is None:
            return
        written = [
            (file, f"{self.storage.base}/{file.relative_to(self.root).as_posix()}")
            for file in sorted(self.root.rglob("*"))
            if file.is_file()
        ]
        self.storage.put_many((f, loc) for f, loc in written if loc not in self._found)


@contextlib.contextmanager
def opened(storage: Storage, scratch: Path) -> Iterator[Mirror]:
    """A mirror of `storage`: with a scratch folder in `scratch` when it is remote."""
    if not storage.remote:
        yield Mirror(storage, None)
        return
    with tempfile.TemporaryDirectory(prefix=".hpt-fold-", dir=scratch) as tmp:
        yield Mirror(storage, Path(tmp))
