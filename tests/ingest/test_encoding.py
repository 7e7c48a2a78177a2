"""`prepare`: the UTF-8 check across chunk boundaries, with the pure-ASCII fast path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ingest import encoding
from ingest.encoding import prepare


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "CHUNK", 4)  # every file below spans several chunks


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"abcdefgh\n", "utf-8"),
        (b"abc\xc3\xa9defgh\n", "utf-8"),  # é split across chunks 1 and 2, ASCII after
        ("abcdéfgh’ijklm\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfabcdefgh\n", "utf-8-sig"),
        (b"abc\xc3defghij\n", "utf-8+cp1252"),  # a lone lead byte, then only ASCII chunks
        # A lead byte, an ASCII chunk, then a continuation byte: invalid, though the two
        # would make "é" if the ASCII chunk in between were skipped unchecked.
        (b"abc\xc3defg\xa9hij\n", "utf-8+cp1252"),
        (b"abcdefg\x92\n", "utf-8+cp1252"),
        (b"abcdefgh\xc3", "utf-8+cp1252"),  # cut inside a character at the very end
    ],
)
def test_utf8_checked_across_chunks(tmp_path: Path, data: bytes, label: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    prepared = prepare(path, tmp_path / "work")
    assert prepared.encoding == label
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.bytes == len(data)
    if label == "utf-8+cp1252":
        assert prepared.path != path and prepared.path.read_text(encoding="utf-8")
    else:
        assert prepared.path == path
