"""Byte-level preparation of a downloaded file: hash, size, and a UTF-8 view of it.

Readers want UTF-8. Most files are; some carry stray Windows-1252 bytes (`\\x92`, `\\xa0`)
inside otherwise UTF-8 text, and some are UTF-16. One streaming pass hashes the file and
checks it; only a file that is not clean UTF-8 is transcoded to a temporary copy, each
invalid byte decoded as Windows-1252 (so `\\x92` becomes `’`, not a replacement mark).
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.archive import unwrap

CHUNK = 8 * 1024 * 1024
#: Magic bytes of binary formats that must not be transcoded (ZIP/XLSX, PDF, OLE, Parquet).
BINARY_MAGIC = (b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0", b"PAR1", b"SQLi")
_CP1252_FALLBACK = "hpt-cp1252-fallback"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


@dataclass(frozen=True)
class PreparedFile:
    """A file ready for a reader: `path` is UTF-8 (the original or a transcoded copy)."""

    source: Path
    path: Path
    sha256: str
    bytes: int
    encoding: str  # "utf-8", "utf-8-sig", "utf-8+cp1252", "utf-16", "binary"
    invalid_bytes: int
    ends_with_newline: bool
    #: What the data came packed in, outermost first (`gzip`, `zip:<member>`); empty if bare.
    containers: tuple[str, ...] = ()
    #: Unpacked copies made in the work directory, removed by `cleanup`.
    scratch: tuple[Path, ...] = ()

    def cleanup(self) -> None:
        """Remove the transcoded copy and unpacked copies, if any were made."""
        if self.path != self.source:
            self.path.unlink(missing_ok=True)
        for path in self.scratch:
            path.unlink(missing_ok=True)


def prepare(source: Path, workdir: Path) -> PreparedFile:
    """Unpack `source` if it is a gzip/zip archive, hash the data and give a UTF-8 path to
    read it from (transcoding only if needed). Hash and size are those of the data."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{os.getpid()}-{hashlib.sha1(str(source).encode()).hexdigest()[:12]}"
    data, containers, scratch = unwrap(source, workdir, stem)
    try:
        plain = _prepare_plain(data, workdir)
    except BaseException:
        for path in scratch:
            path.unlink(missing_ok=True)
        raise
    return dataclasses.replace(
        plain, source=source, containers=tuple(containers), scratch=(*scratch, *plain.scratch)
    )


def _prepare_plain(source: Path, workdir: Path) -> PreparedFile:
    """Hash `source` and give a UTF-8 path to read it from, transcoding only if needed."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    clean = True
    last = b""
    with source.open("rb") as handle:
        head = handle.read(4)
        handle.seek(0)
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            last = chunk[-2:]
            # Pure ASCII (most chunks of most files) is valid UTF-8 when no multi-byte
            # character is pending from the chunk before: checked 3x faster than decoded.
            if clean and not utf16 and (decoder.getstate()[0] or not chunk.isascii()):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    clean = False
        if clean and not utf16:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                clean = False
    ends = last.endswith(b"\n") or last.endswith(b"\n\x00") or last == b"\x00\n"
    sha = digest.hexdigest()
    bom = head.startswith(codecs.BOM_UTF8)
    if clean and not utf16:
        return PreparedFile(source, source, sha, size, "utf-8-sig" if bom else "utf-8", 0, ends)
    if head.startswith(BINARY_MAGIC):
        # Not text at all (a workbook, a PDF…): left as is for `detect` to name.
        return PreparedFile(source, source, sha, size, "binary", 0, ends)
    target = workdir / f".{sha[:16]}.utf8{source.suffix}"
    encoding = "utf-16" if utf16 else "utf-8-sig"
    invalid = _transcode(source, target, encoding)
    label = "utf-16" if utf16 else "utf-8+cp1252"
    return PreparedFile(source, target, sha, size, label, invalid, ends, scratch=(target,))


def _transcode(source: Path, target: Path, encoding: str) -> int:
    """Write `source` as UTF-8 to `target`; return how many bytes were not valid UTF-8."""
    invalid = 0

    def counting(error: UnicodeError) -> tuple[str, int]:
        nonlocal invalid
        assert isinstance(error, UnicodeDecodeError)
        invalid += error.end - error.start
        return _cp1252_fallback(error)

    codecs.register_error("hpt-counting", counting)
    errors = "hpt-counting" if encoding != "utf-16" else "replace"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    with (
        source.open("r", encoding=encoding, errors=errors, newline="") as reader,
        tmp.open("w", encoding="utf-8", newline="") as writer,
    ):
        while text := reader.read(CHUNK):
            writer.write(text)
    tmp.replace(target)
    return invalid
