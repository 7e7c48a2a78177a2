"""Compressed deliveries (`.gz`, `.zip` with one data file), unpacked by streaming.

Servers gzip files unasked and hospitals zip them (with `__MACOSX/` junk). The archive is
recognised by its magic bytes, not its name, and its one data file is streamed into the
work directory — never held in memory — under the download caps, so an archive bomb is
refused, not unpacked onto the disk. The caps hold for the whole expansion at once: every
level of a nested archive (a zip in a gzip…) counts towards one size cap, and one ratio to
the bytes that were downloaded. An XLSX workbook is a
zip too: it is left alone for `detect` to name. The caps (`Caps`) also bound what a
download decodes (`ingest.download`).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from core import settings
from core.errors import UnreadableFile

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_COPY_CHUNK = 8 << 20
#: Archives inside archives are unpacked up to this depth.
MAX_DEPTH = 3


def is_xlsx(path: Path) -> bool:
    """A zip holding `xl/workbook.xml` is an Excel workbook."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.lower() == "xl/workbook.xml" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _unsafe(name: str) -> bool:
    """A member name that would point outside a folder it was extracted into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or ":" in (path.parts or ("",))[0]


def data_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members that are data: no folders, no `__MACOSX/`, no dot-files."""
    kept = []
    for info in archive.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or not parts:
            continue
        hidden = any(part.startswith(".") and part != ".." for part in parts)
        if parts[0] == "__MACOSX" or hidden:
            continue
        kept.append(info)
    return kept


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


#: Below this many unpacked bytes the expansion ratio is not judged (tiny files).
RATIO_GRACE = 8 << 20


@dataclass(frozen=True)
class Caps:
    """How far a packed stream may unpack: `max_bytes` in all, and `ratio` times its packed
    size past the first RATIO_GRACE bytes (more is the mark of an archive bomb)."""

    max_bytes: int
    ratio: float

    @classmethod
    def from_settings(cls) -> Caps:
        """HPT_DOWNLOAD_MAX_BYTES and HPT_GZIP_MAX_RATIO."""
        now = settings.current()
        return cls(now.download_max_bytes, now.gzip_max_ratio)

    def refusal(
        self, what: str, size: int, packed: int, bomb: str = "an archive bomb"
    ) -> str | None:
        """Why `what`, unpacked to `size` bytes so far from `packed`, is refused; else None."""
        if size > self.max_bytes:
            return f"{what} unpacks to more than the cap of {self.max_bytes:,} bytes"
        if size > RATIO_GRACE and size > self.ratio * max(packed, 1):
            return (
                f"{what} expands more than {self.ratio:g}x ({packed:,} → {size:,} bytes so far): "
                f"refused as {bomb}"
            )
        return None


@dataclass
class _Budget:
    """What one file's expansion has written so far, over all its nesting levels, against
    one set of caps and the packed size it came as."""

    caps: Caps
    packed: int
    written: int = 0

    def copy(self, source: _Readable, sink: IO[bytes], what: str, packed: int) -> None:
        """Copy an unpacking stream (`packed` bytes as stored), refusing a bomb."""
        self.packed = min(self.packed, max(packed, 1))
        while chunk := source.read(_COPY_CHUNK):
            self.written += len(chunk)
            if refusal := self.caps.refusal(what, self.written, self.packed):
                raise UnreadableFile(refusal)
            sink.write(chunk)


def _gunzip(path: Path, target: Path, budget: _Budget) -> None:
    try:
        with gzip.open(path, "rb") as source, target.open("wb") as sink:
            budget.copy(source, sink, f"gzip archive {path.name}", path.stat().st_size)
    except UnreadableFile:
        target.unlink(missing_ok=True)
        raise
    except (OSError, EOFError, zlib.error) as error:
        target.unlink(missing_ok=True)
        raise UnreadableFile(f"corrupt gzip archive {path.name}: {error}") from error


def _unzip(path: Path, target: Path, budget: _Budget) -> str:
    """Stream the one data member of a zip into `target`; return its name."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = data_members(archive)
            if not members:
                raise UnreadableFile(f"zip archive {path.name} holds no data file")
            if len(members) > 1:
                names = ", ".join(m.filename for m in members[:5])
                raise UnreadableFile(
                    f"zip archive {path.name} holds {len(members)} data files ({names}); "
                    "expected exactly one"
                )
            member = members[0]
            if _unsafe(member.filename):
                raise UnreadableFile(
                    f"zip archive {path.name} holds a member named {member.filename[:100]!r}, "
                    "a path out of the archive (zip slip): refused"
                )
            with archive.open(member) as source, target.open("wb") as sink:
                what = f"zip archive {path.name} ({member.filename})"
                budget.copy(source, sink, what, member.compress_size)
            return member.filename
    except UnreadableFile:
        target.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        target.unlink(missing_ok=True)
        raise UnreadableFile(f"corrupt zip archive {path.name}: {error}") from error


def unwrap(source: Path, workdir: Path, stem: str) -> tuple[Path, list[str], list[Path]]:
    """The data file inside `source` (or `source` itself), what it was packed in, and the
    scratch files made (the caller removes them)."""
    current = source
    containers: list[str] = []
    scratch: list[Path] = []
    budget = _Budget(Caps.from_settings(), source.stat().st_size)
    for depth in range(MAX_DEPTH + 1):
        with current.open("rb") as handle:
            head = handle.read(4)
        if head.startswith(GZIP_MAGIC):
            kind = "gzip"
        elif head.startswith(ZIP_MAGIC) and not is_xlsx(current):
            kind = "zip"
        else:
            return current, containers, scratch
        if depth == MAX_DEPTH:
            raise UnreadableFile(f"archives nested more than {MAX_DEPTH} deep in {source.name}")
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / f".{stem}.unpacked{depth}"
        scratch.append(target)
        try:
            if kind == "gzip":
                _gunzip(current, target, budget)
                containers.append("gzip")
            else:
                containers.append(f"zip:{_unzip(current, target, budget)}")
        except UnreadableFile:
            for made in scratch:
                made.unlink(missing_ok=True)
            raise
        if current != source:  # the level above is no longer needed on disk
            current.unlink(missing_ok=True)
        current = target
    return current, containers, scratch
