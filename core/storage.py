"""Where a warehouse's per-file data lives: its own folder, another local folder, or S3.

`HPT_STORAGE` names the place of the charges Parquet and of each file's derived marts: empty
(the default) for the folder of the catalog, as ever; a local folder; or `s3://bucket/prefix`.
The catalog and the published snapshots stay local DuckDB files either way; they store the
data's paths relative to this place (`<db stem>-charges/<facility>/<file>`), and their views
hold the full path or URL whenever the data is not in the warehouse folder itself.

DuckDB has no S3 support of its own here: a connection reads and writes `s3://` through the
fsspec filesystem `s3fs` registered on it (`register`), configured from the standard AWS
variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# DuckDB and fsspec are imported where used: parsing the DAG imports the settings, and with
# them this module.
if TYPE_CHECKING:
    import duckdb
    import fsspec

S3 = "s3://"
# S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens, starting and
# ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9._=+@-]+")
#: Requests to the store in flight at once in `find_many`, `get_many` and `put_many`: on an
#: object store each is a round trip, and one after the other they add up (a publish's fold
#: read and wrote ~10 small objects per file, ~1.2 s per file on the S3 server of the tests).
IN_FLIGHT = 16

_T = TypeVar("_T")
_R = TypeVar("_R")


class StorageError(ValueError):
    """A storage URL that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Storage:
    """The place of a warehouse's data: `url` as configured ("" for the catalog's folder),
    `base` the absolute folder or `s3://bucket/prefix` that stored paths are relative to."""

    url: str
    base: str

    @property
    def remote(self) -> bool:
        return self.base.startswith(S3)

    @property
    def is_default(self) -> bool:
        """The data sits in the warehouse folder: views keep relative paths (portable)."""
        return self.url == ""

    def location(self, stored: str) -> str:
        """A stored path (relative to `base`) as a full path or URL; a full one as is."""
        if stored.startswith((S3, "/")):
            return stored
        return f"{self.base}/{stored}"

    def relative(self, location: str) -> str | None:
        """`location` relative to `base` (POSIX), or None when it is not inside it."""
        if location.startswith(self.base + "/"):
            return location[len(self.base) + 1 :]
        return None

    @property
    def filesystem(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem of `base`."""
        return filesystem(self.base)

    def exists(self, location: str) -> bool:
        return bool(self.filesystem.exists(location))

    def files(self, location: str) -> Iterator[tuple[str, int, float]]:
        """(path, bytes, modified epoch seconds) of every object under a folder/prefix."""
        fs = self.filesystem
        for path, info in fs.find(location, detail=True).items():
            modified = info.get("LastModified") or info.get("mtime") or 0
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
            yield (f"{S3}{path}" if self.remote else path), int(info.get("size") or 0), stamp

    def upload(self, folder: Path, location: str) -> None:
        """Copy every file under a local `folder` to `location` (same relative names)."""
        fs = self.filesystem
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            fs.put_file(str(file), f"{location}/{file.relative_to(folder).as_posix()}")

    def put(self, file: Path, location: str) -> None:
        """Copy one local file to `location` (on a local storage, its folder is created)."""
        if not self.remote:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        self.filesystem.put_file(str(file), location)

    def download(self, location: str, folder: Path) -> None:
        """Copy every object under `location` into a local `folder`."""
        for path, _, _ in self.files(location):
            target = folder / path[len(location) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.filesystem.get_file(path, str(target))

    def find_many(self, locations: Iterable[str]) -> dict[str, list[str]]:
        """The paths of every object under each folder/prefix, listed many at once."""
        locations = list(locations)
        found = _many(lambda location: [path for path, _, _ in self.files(location)], locations)
        return dict(zip(locations, found, strict=True))

    def get_many(self, pairs: Iterable[tuple[str, Path]]) -> list[str]:
        """Copy each object `location` to its local path (its folder created), many at once;
        returns the locations that do not exist."""

        def get(pair: tuple[str, Path]) -> str | None:
            location, target = pair
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.filesystem.get_file(location, str(target))
            except FileNotFoundError:
                target.unlink(missing_ok=True)
                return location
            return None

        return [location for location in _many(get, pairs) if location is not None]

    def put_many(self, pairs: Iterable[tuple[Path, str]]) -> None:
        """Copy each local file to its `location`, many at once."""
        _many(lambda pair: self.put(*pair), pairs)

    def remove(self, location: str) -> None:
        """Delete everything under a folder/prefix (nothing there: nothing done)."""
        fs = self.filesystem
        if fs.exists(location):
            fs.rm(location, recursive=True)

    def makedirs(self, location: str) -> None:
        """A local folder is created; an object store needs none."""
        if not self.remote:
            Path(location).mkdir(parents=True, exist_ok=True)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` (and its database's other connections) read and write `base`."""
        if self.remote:
            register_s3(con)


def _many(call: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """`call` of each item, `IN_FLIGHT` at once (threads: each waits on a round trip), in
    order; the first exception raised is raised once all are done."""
    todo = list(items)
    if len(todo) < 2:
        return [call(item) for item in todo]
    with ThreadPoolExecutor(min(IN_FLIGHT, len(todo))) as pool:
        return list(pool.map(call, todo))


def storage(url: str, root: Path, what: str = "storage") -> Storage:
    """The storage `url` names for a warehouse whose catalog sits in `root`; raises
    `StorageError` with one line for a URL that cannot be used, saying it is the `what`
    (the landing area, `HPT_LANDING`, is validated here too)."""
    text = url.strip()
    if not text:
        return Storage("", str(root))
    if text.startswith(S3):
        bucket, _, prefix = text[len(S3) :].partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise StorageError(
                f"{what} {text!r}: {bucket!r} is not an S3 bucket name (3-63 lower-case "
                "letters, digits, dots and hyphens)"
            )
        parts = [p for p in prefix.split("/") if p]
        bad = next((p for p in parts if p in (".", "..") or not _PREFIX_PART.fullmatch(p)), None)
        if bad is not None:
            raise StorageError(
                f"{what} {text!r}: the prefix part {bad!r} is not allowed (letters, digits "
                "and ._=+@- only)"
            )
        base = S3 + "/".join([bucket, *parts])
        return Storage(base, base)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        raise StorageError(
            f"{what} {text!r}: scheme {scheme.group(1)!r} is not supported "
            "(a local folder or s3://bucket/prefix)"
        )
    if text.startswith("file:"):
        text = text[len("file:") :]
    folder = Path(text).expanduser().resolve()
    if "," in str(folder) or "'" in str(folder):
        raise StorageError(f"{what} {text!r}: a folder's path cannot hold a comma or a quote")
    if folder == root:
        return Storage("", str(root))
    return Storage(str(folder), str(folder))


def filesystem(location: str) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of a full path or `s3://` URL."""
    import fsspec

    return s3_filesystem() if location.startswith(S3) else fsspec.filesystem("file")


def _aws(name: str) -> str | None:
    return os.environ.get(name) or None


@functools.cache
def _s3(endpoint: str | None, key: str | None, secret: str | None, token: str | None,
        region: str | None) -> fsspec.AbstractFileSystem:  # fmt: skip
    import s3fs  # only when the data is on S3

    client: dict[str, Any] = {"region_name": region} if region else {}
    return s3fs.S3FileSystem(
        key=key,
        secret=secret,
        token=token,
        endpoint_url=endpoint,
        client_kwargs=client,
        # Other processes write the prefixes this one lists (ingest workers, a publish).
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def s3_filesystem() -> fsspec.AbstractFileSystem:
    """The S3 filesystem as the standard AWS environment variables configure it."""
    return _s3(
        _aws("AWS_ENDPOINT_URL_S3") or _aws("AWS_ENDPOINT_URL"),
        _aws("AWS_ACCESS_KEY_ID"),
        _aws("AWS_SECRET_ACCESS_KEY"),
        _aws("AWS_SESSION_TOKEN"),
        _aws("AWS_DEFAULT_REGION") or _aws("AWS_REGION"),
    )


def register_s3(con: duckdb.DuckDBPyConnection) -> None:
    """Register the S3 filesystem on `con`'s database unless one already is."""
    if not con.filesystem_is_registered("s3"):
        con.register_filesystem(s3_filesystem())
