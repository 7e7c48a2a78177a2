"""The landing area: where each URL's downloaded file and its validators are kept.

`HPT_LANDING` is a local folder (the default) or an object store prefix
(`s3://bucket/prefix`, validated as `HPT_STORAGE` is, through `core.storage`). Either way
each URL has a place named `landing_key(url)` holding the current file under its real name
and `state.json` (its validators and hash).

* A local folder also holds the `.lock` and a cut transfer's `.partial`: the download
  streams, resumes and lands there.
* On an object store the bytes stream into a staging folder of the same name under
  `HPT_WORK_DIR/landing` (the `.lock` and `.partial` stay there: a cut transfer resumes on
  the worker that started it) and are uploaded once complete and hashed, the file first,
  then `state.json`, so the state never names an object that is not there. Workers that
  share no disk share the landed files and their validators: a second run on any worker
  asks the server whether the file changed. Any worker reads a landed object through
  `local_copy`, which checks it against the hash acquisition recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import UnreadableFile
from core.storage import S3, Storage, s3_filesystem

#: The landing folder's own files. A served file can't take these names: `file_name` never
#: gives a name starting with a dot, and `_land` renames a file called `state.json`.
STATE, STATE_TMP = "state.json", ".state.json.tmp"
#: The staging folder under `HPT_WORK_DIR` of downloads bound for an object store.
STAGING = "landing"
#: Landed objects fetched to be read, in `HPT_WORK_DIR` (named so the sweep finds leftovers).
FETCHED_PREFIX = ".hpt-landed-"
CHUNK = 1 << 20


class LandingError(Exception):
    """The landing area's object store could not be read or written; one line saying
    what and where. Worth another try later."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def landing_key(url: str) -> str:
    """The name of one URL's place: readable host prefix plus a hash of the whole URL."""
    host = re.sub(r"[^a-z0-9]+", "-", (urlparse(url).hostname or "host").lower()).strip("-")
    return f"{host[:40]}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _store(place: str) -> Iterator[None]:
    """Object store failures (of any class: OSError, botocore's) as a `LandingError`."""
    try:
        yield
    except Exception as error:
        raise LandingError(f"landing area {place}: {type(error).__name__}: {error}") from error


@dataclass(frozen=True)
class Place:
    """One URL's place: `folder`, where its bytes arrive (and, in a local landing area,
    stay); `prefix`, its objects' prefix when the landing area is an object store."""

    folder: Path
    prefix: str | None = None

    @classmethod
    def of(cls, url: str, landing: Storage, work_dir: Path) -> Place:
        key = landing_key(url)
        if landing.remote:
            return cls(work_dir / STAGING / key, f"{landing.base}/{key}")
        return cls(Path(landing.base) / key)

    def location(self, name: str) -> str:
        """Where the landed file `name` is: a local path or an object's URL."""
        return f"{self.prefix}/{name}" if self.prefix else str(self.folder / name)

    def _recorded(self) -> dict[str, Any] | None:
        if self.prefix is None:
            return read_json(self.folder / STATE)
        with _store(self.prefix):
            try:
                data = json.loads(s3_filesystem().cat_file(self.location(STATE)))
            except (FileNotFoundError, ValueError):
                return None
        return data if isinstance(data, dict) else None

    def state(self) -> dict[str, Any] | None:
        """The landed file's validators and hash, when the file they name is there."""
        state = self._recorded()
        if not state or not state.get("file_name"):
            return None
        name = str(state["file_name"])
        if self.prefix is None:
            return state if (self.folder / name).is_file() else None
        with _store(self.prefix):
            return state if s3_filesystem().exists(self.location(name)) else None

    def keep(self, partial: Path, name: str, state: dict[str, Any]) -> None:
        """Put a complete download in place as `name` with its `state`; the previous file
        (under another name) goes."""
        old = self._recorded()
        stale = old.get("file_name") if old and old.get("file_name") != name else None
        if self.prefix is None:
            partial.replace(self.folder / name)
            if stale:
                (self.folder / str(stale)).unlink(missing_ok=True)
            tmp = self.folder / STATE_TMP
            tmp.write_text(json.dumps(state, indent=1))
            tmp.replace(self.folder / STATE)
            return
        fs = s3_filesystem()
        with _store(self.prefix):
            fs.put_file(str(partial), self.location(name))
            fs.pipe_file(self.location(STATE), json.dumps(state, indent=1).encode())
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(self.location(str(stale)))
        partial.unlink()


@contextlib.contextmanager
def local_copy(location: str, sha256: str | None, work_dir: Path) -> Iterator[Path]:
    """The landed file at `location` as a local path while the block runs: the file itself
    in a local landing area; an object fetched into a scratch folder under `work_dir`,
    checked against its `sha256` and deleted after. `UnreadableFile` names the object when
    it is missing, unreadable or not the bytes that landed."""
    if not location.startswith(S3):
        yield Path(location)
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=FETCHED_PREFIX, dir=work_dir))
    try:
        target = scratch / location.rsplit("/", 1)[-1]
        digest = hashlib.sha256()
        try:
            with s3_filesystem().open(location, "rb") as source, target.open("wb") as out:
                while block := source.read(CHUNK):
                    out.write(block)
                    digest.update(block)
        except FileNotFoundError:
            raise UnreadableFile(f"landed object {location} is missing") from None
        except Exception as error:  # the store's errors come in many classes
            raise UnreadableFile(
                f"cannot read landed object {location}: {type(error).__name__}: {error}"
            ) from error
        if sha256 and digest.hexdigest() != sha256:
            raise UnreadableFile(
                f"landed object {location} is not the file that landed (sha256 "
                f"{digest.hexdigest()[:12]}…, expected {sha256[:12]}…): changed or damaged since"
            )
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
