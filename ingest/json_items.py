"""The items of `standard_charge_information[]`, streamed: DuckDB parses, two pieces at once.

DuckDB's `read_json` parses items straight into the reader's item type (every leaf as
text) at ~180 MB/s on one core, outside the GIL, and hands them over as Arrow batches —
no Python object per item or payer. One file is parsed by one thread, so the array is cut
into pieces of ~64 MB at item boundaries (`pieces`) and two pieces are parsed at once,
handed on in order. Each piece is given to DuckDB as a scratch copy of its byte range
(copied by the kernel), bracketed into an array of its own: the root object around the
array is not JSON DuckDB could stream, and on a pipe DuckDB buffers its whole input.

When DuckDB refuses a piece, the items are split without types (`read_json_objects`) and
the msgspec structs below decode them one by one, to say which item is wrong and how.
"""

from __future__ import annotations

import itertools
import os
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import ijson
import msgspec
import pyarrow as pa

from core.errors import UnreadableFile
from ingest.json_locate import BETWEEN_ITEMS
from ingest.prefetch import in_order

R = TypeVar("R")


class ItemTypeError(ValueError):
    """Items DuckDB parsed that are still not of the item type (raised by `convert`, e.g.
    for an object inside a list of text)."""


#: Items per batch handed from DuckDB to the decoder.
ITEMS_PER_BATCH = 1024
#: Bytes of the item array per piece (at most; a smaller array is cut in eight, so that
#: both parsers start at once and end together), and pieces parsed at once.
PIECE_BYTES = 64 << 20
PARSERS = 2
#: Largest single item accepted (DuckDB allocates buffers of this size).
MAX_ITEM_BYTES = 64 << 20
#: Each parser's DuckDB streams its piece: its buffers stay small.
DUCKDB_MEMORY = "512MB"
_CHUNK = 4 << 20

Scalar = str | int | float | bool | None


class Code(msgspec.Struct, gc=False):
    code: Scalar = None
    type: Scalar = None


class DrugInfo(msgspec.Struct, gc=False):
    unit: Scalar = None
    type: Scalar = None


class Payer(msgspec.Struct, gc=False):
    payer_name: Scalar = None
    plan_name: Scalar = None
    methodology: Scalar = None
    standard_charge_dollar: Scalar = None
    standard_charge_percentage: Scalar = None
    standard_charge_algorithm: Scalar = None
    median_amount: Scalar = None
    p10: Scalar = msgspec.field(default=None, name="10th_percentile")
    p90: Scalar = msgspec.field(default=None, name="90th_percentile")
    count: Scalar = None
    estimated_amount: Scalar = None
    additional_payer_notes: Scalar = None


class Charge(msgspec.Struct, gc=False):
    setting: Scalar = None
    gross_charge: Scalar = None
    discounted_cash: Scalar = None
    minimum: Scalar = None
    maximum: Scalar = None
    billing_class: Scalar = None
    modifier_code: list[Scalar] | Scalar = None
    modifiers: list[Scalar] | Scalar = None
    additional_generic_notes: Scalar = None
    payers_information: list[Payer] | None = None


class Item(msgspec.Struct, gc=False):
    description: Scalar = None
    drug_information: DrugInfo | None = None
    code_information: list[Code] | None = None
    standard_charges: list[Charge] | None = None


_DECODER = msgspec.json.Decoder(Item)


def decode(column: pa.Array, first: int) -> list[Item]:
    """Typed items from a column of item JSON texts; `first` is the index of the first.

    Decoded straight from the Arrow buffers (no Python string per item).
    """
    if not pa.types.is_large_string(column.type):
        column = column.cast(pa.large_string())
    assert isinstance(column, pa.LargeStringArray)
    buffers = column.buffers()
    ends = pa.Array.from_buffers(pa.int64(), len(column) + 1, [None, buffers[1]], 0, column.offset)
    bounds = ends.to_pylist()
    body = buffers[2]
    data = memoryview(body) if body is not None else memoryview(b"")
    items = []
    for number, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        try:
            items.append(_DECODER.decode(data[lo:hi]))
        except msgspec.ValidationError as error:
            raise UnreadableFile(
                f"JSON item {first + number} has an unexpected shape: {error}"
            ) from error
    return items


def _copy_range(
    path: Path, start: int, end: int, target: Path, prefix: bytes = b"", suffix: bytes = b""
) -> None:
    """Write `prefix`, bytes [start, end) of `path` and `suffix` to `target`, copying in the
    kernel where possible."""
    with path.open("rb") as source, target.open("wb", buffering=0) as sink:
        sink.write(prefix)
        left, offset = end - start, start
        try:
            while left > 0:
                done = os.copy_file_range(source.fileno(), sink.fileno(), left, offset)
                if done == 0:
                    break
                offset, left = offset + done, left - done
        except OSError:  # no copy_file_range on this file system: copy through user space
            source.seek(offset)
            while left > 0 and (chunk := source.read(min(_CHUNK, left))):
                sink.write(chunk)
                left -= len(chunk)
        sink.write(suffix)


def broken_item(path: Path, start: int, done: int) -> int:
    """Index of the first item that does not parse (only called once a file has failed).

    DuckDB's error does not say which item; ijson, slower but exact, counts up to it.
    """
    count = 0
    with path.open("rb") as handle:
        handle.seek(start)
        try:
            for _ in ijson.items(handle, "item", use_float=True):
                count += 1
        except (ijson.JSONError, ValueError):
            pass
    return max(count, done)


@dataclass(frozen=True)
class Piece:
    """Bytes [lo, hi) of the item array, an array of its own with the brackets it lacks."""

    lo: int
    hi: int
    first: bool
    last: bool

    def copy_to(self, path: Path, target: Path) -> None:
        """Write this piece of `path` to `target` as a JSON array."""
        prefix, suffix = b"" if self.first else b"[", b"" if self.last else b"]"
        _copy_range(path, self.lo, self.hi, target, prefix, suffix)


def pieces(path: Path, start: int, end: int, size: int = PIECE_BYTES) -> list[Piece]:
    """The array at bytes [start, end) (`[` … `]`) cut into pieces of about `size` bytes,
    each just before an item."""
    cuts: list[int] = []
    at = start + size
    with path.open("rb") as handle:
        while at < end - size // 2:
            handle.seek(at)
            # Should a cut prove wrong (`BETWEEN_ITEMS`), the two pieces around it fail to
            # parse and the reader parses on from there in one piece.
            found = BETWEEN_ITEMS.search(handle.read(min(1 << 20, end - at)))
            if found is None:  # no item starts in this MB: look in the next
                at += 1 << 20
                continue
            cuts.append(at + found.start(1))
            at = cuts[-1] + size
    los = [start, *(cut + 1 for cut in cuts)]
    his = [*cuts, end]
    last = len(los) - 1
    return [
        Piece(lo, hi, n == 0, n == last) for n, (lo, hi) in enumerate(zip(los, his, strict=True))
    ]


_names = itertools.count()


def _scratch(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir / f".items-{os.getpid()}-{next(_names)}.json"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = 1; SET memory_limit = '{DUCKDB_MEMORY}'")
    return con


def _scanned(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    piece: Piece,
    workdir: Path,
    query: Callable[[str], str],
) -> Iterator[pa.RecordBatch]:
    """Batches of `query(source)` over one piece, `source` being its scratch copy as an
    SQL string literal."""
    copy = _scratch(workdir)
    try:
        piece.copy_to(path, copy)
        source = "'" + str(copy).replace("'", "''") + "'"
        yield from con.sql(query(source)).to_arrow_reader(ITEMS_PER_BATCH)
    finally:
        copy.unlink(missing_ok=True)


def _parsed(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    piece: Piece,
    workdir: Path,
    columns: str,
    convert: Callable[[pa.RecordBatch], R],
    skip: int = 0,
) -> Iterator[tuple[R, int]]:
    """(convert(batch), items in it) for the items of one piece, after the first `skip`."""

    def query(source: str) -> str:
        return (
            f"SELECT * FROM read_json({source}, format = 'array', columns = {columns}, "
            f"maximum_object_size = {MAX_ITEM_BYTES})" + (f" OFFSET {skip}" if skip else "")
        )

    for batch in _scanned(con, path, piece, workdir, query):
        yield convert(batch), batch.num_rows


def _texts(path: Path, piece: Piece, workdir: Path) -> Iterator[pa.Array]:
    """Batches of the item texts of one piece, not decoded (an Arrow column)."""

    def query(source: str) -> str:
        return (
            f"SELECT json::VARCHAR AS item FROM read_json_objects({source}, "
            f"format = 'array', maximum_object_size = {MAX_ITEM_BYTES})"
        )

    con = _connect()
    try:
        for batch in _scanned(con, path, piece, workdir, query):
            yield batch.column(0)
    finally:
        con.close()


def _unreadable(error: BaseException) -> bool:
    """An error of the file system (a scratch copy that could not be written…), not of the
    JSON: DuckDB's errors reach Python as `duckdb.Error`, or as an `OSError` without an
    errno when raised while Arrow streams the batches."""
    return isinstance(error, OSError) and error.errno is not None


def _explained(path: Path, start: int, end: int, rest: Piece, first: int, workdir: Path,
               error: BaseException) -> UnreadableFile:  # fmt: skip
    """What is wrong with the items of `rest`, numbered from `first`, which DuckDB refused."""
    if _unreadable(error):
        return UnreadableFile(f"could not read {path.name}: {error}")
    done = first
    try:
        for column in _texts(path, rest, workdir):
            decode(column, done)  # names an item of an unexpected shape
            done += len(column)
    except UnreadableFile as wrong:
        return wrong
    except (duckdb.Error, OSError):  # not even JSON: the first item that is not
        index = broken_item(path, start, done)
        return UnreadableFile(
            f"JSON is malformed in `standard_charge_information` at item {index} (0-based; "
            f"the array spans bytes {start}–{end}); nothing loaded"
        )
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return UnreadableFile(f"JSON items from item {first} on could not be read: {line}")


def parsed_items(
    path: Path, start: int, end: int, workdir: Path, columns: str,
    convert: Callable[[pa.RecordBatch], R],
) -> Iterator[tuple[R, int]]:  # fmt: skip
    """(convert(batch), items in it) for the items of the array at bytes [start, end), in
    order; `columns` is the item type as DuckDB's `read_json` takes it.

    Pieces are parsed `PARSERS` at a time. If one fails, the reader parses on from its
    start in one piece (should the cut before it have been wrong); if that fails too, the
    error names the first item that is not JSON, or not of the item type.
    """
    parts = pieces(path, start, end, min(PIECE_BYTES, max(1 << 20, (end - start) // 8)))
    # One connection per parser, kept across its pieces: a new one per piece cost 0.6 s
    # of system time per GB (fresh buffers to fault in).
    connections = [_connect() for _ in range(PARSERS)]
    idle: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
    for con in connections:
        idle.put(con)

    def parsed(piece: Piece, skip: int = 0) -> Iterator[tuple[R, int]]:
        con = idle.get()
        try:
            yield from _parsed(con, path, piece, workdir, columns, convert, skip)
        finally:
            idle.put(con)

    streams = in_order(parts, parsed, workers=PARSERS)
    done = 0
    try:
        for piece, stream in zip(parts, streams, strict=True):
            before = done
            try:
                for result, count in stream:
                    yield result, count
                    done += count
            except (duckdb.Error, OSError, ItemTypeError) as error:
                if _unreadable(error):
                    raise UnreadableFile(f"could not read {path.name}: {error}") from error
                streams.close()  # the parsers stop; parse on from this piece, in one
                rest = Piece(piece.lo, end, piece.first, True)
                try:
                    for result, count in parsed(rest, skip=done - before):
                        yield result, count
                        done += count
                except (duckdb.Error, OSError, ItemTypeError) as again:
                    raise _explained(path, start, end, rest, before, workdir, again) from again
                return
    finally:
        streams.close()
        for con in connections:
            con.close()
