"""The catalogue's files: a good CMS CSV and what the cases break in it, made in memory."""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from devtools.synthetic.json_file import json_file
from devtools.synthetic.tall import tall_file

CAPTCHA = (
    b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>"
    b"<body>Please verify you are human.</body></html>\n"
)


@functools.cache
def _tall(items: int, seed: int) -> tuple[bytes, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.csv"
        rows = tall_file(path, n_items=items, seed=seed)
        return path.read_bytes(), rows


def baseline() -> tuple[bytes, int]:
    """The good file loaded before every case, and its data rows."""
    return _tall(10, 2)


def good() -> tuple[bytes, int]:
    """Another good file (the one a case may deliver), and its data rows."""
    return _tall(12, 7)


@functools.cache
def good_json() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.json"
        json_file(path, n_items=5, seed=3)
        return path.read_bytes()


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def to_csv(rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def edited(edit: Callable[[list[list[str]]], None]) -> tuple[bytes, int]:
    """The good file with `edit` applied to its records; its data rows."""
    rows = records(good()[0])
    edit(rows)
    return to_csv(rows), len(rows) - 3


def cell(rows: list[list[str]], row: int, column: str, value: str) -> None:
    """Set a data row's cell (row 0 is the first data row) by row-3 column name."""
    rows[3 + row][rows[2].index(column)] = value


def hospital(rows: list[list[str]], name: str) -> None:
    rows[1][rows[0].index("hospital_name")] = name


def wide_header(rows: list[list[str]], extra: int) -> None:
    rows[2] += [f"extra_{n}" for n in range(extra)]


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def xlsx() -> bytes:
    return zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


@functools.cache
def zeros_gz(size: int) -> bytes:
    return gzipped(b"\0" * size)


def json_doc(items: object, **root: object) -> bytes:
    meta = json.loads(good_json())
    meta.pop("standard_charge_information", None)
    return json.dumps({**meta, **root, "standard_charge_information": items}).encode()


def deep_json(depth: int) -> bytes:
    """A CMS-looking JSON file whose item array holds arrays nested `depth` deep."""
    head = json_doc([]).rsplit(b"[]", 1)[0]
    return head + b"[" + b"[" * depth + b"]" * depth + b"]}"


def endless_line(total: int, chunk: int = 1 << 20) -> Callable[[], Iterable[bytes]]:
    """A generator of `total` bytes of one CSV line (made as it is sent, never stored)."""

    def body() -> Iterable[bytes]:
        block = b"a," * (chunk // 2)
        sent = 0
        while sent < total:
            part = block[: min(chunk, total - sent)]
            sent += len(part)
            yield part

    return body


def big_text(total: int, line: bytes) -> Callable[[], Iterable[bytes]]:
    """A generator of `total` bytes of repeated `line`s."""

    def body() -> Iterable[bytes]:
        block = line * max(1, (1 << 20) // len(line))
        sent = 0
        while sent < total:
            sent += len(block)
            yield block

    return body
