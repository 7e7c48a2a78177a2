"""The items of `standard_charge_information[]`, streamed: DuckDB splits, Polars decodes.

DuckDB's `read_json_objects` finds item boundaries at ~300 MB/s on one core (outside the
GIL) and hands back a batch of item texts as an Arrow column; the reader decodes them with
Polars' `str.json_decode` against a fixed item type (`ITEM_DTYPE`) and flattens them with
explode/unnest — no Python object per item or payer. DuckDB is given the array's byte range
as a scratch copy (the kernel copies ~1 GB/s): the root object around it is not JSON DuckDB
could stream, and on a pipe DuckDB buffers its whole input. When Polars refuses a batch,
the msgspec structs below re-decode it item by item to say which item is wrong and how.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ijson
import msgspec
import pyarrow as pa

from ingest.errors import UnreadableFile

#: Items per batch handed from DuckDB to the decoder.
ITEMS_PER_BATCH = 1024
#: Largest single item accepted (DuckDB allocates buffers of this size).
MAX_ITEM_BYTES = 64 << 20
#: DuckDB only splits the array into items; its buffers stay small.
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


def _copy_range(path: Path, start: int, end: int, target: Path) -> None:
    """Copy bytes [start, end) of `path` to `target`, in the kernel where possible."""
    with path.open("rb") as source, target.open("wb") as sink:
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


def item_batches(path: Path, start: int, end: int, workdir: Path) -> Iterator[pa.Array]:
    """Batches of item JSON texts (an Arrow column) from the array at bytes [start, end).

    DuckDB reads the array from a scratch copy of that byte range: on a regular file its
    memory stays flat (~300 MB), where reading a pipe buffers the whole input.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / f".items-{os.getpid()}-{threading.get_ident()}.json"
    con = duckdb.connect()
    done = 0
    try:
        _copy_range(path, start, end, copy)
        con.execute(f"SET threads = 1; SET memory_limit = '{DUCKDB_MEMORY}'")
        source = str(copy).replace("'", "''")
        query = (
            f"SELECT json::VARCHAR AS item FROM read_json_objects('{source}', "
            f"format = 'array', maximum_object_size = {MAX_ITEM_BYTES})"
        )
        reader = con.sql(query).to_arrow_reader(ITEMS_PER_BATCH)
        for batch in reader:
            column = batch.column(0)
            done += len(column)
            yield column
    except (duckdb.Error, OSError) as error:
        if isinstance(error, OSError) and "Out of Memory" not in str(error):
            raise UnreadableFile(f"could not read {path.name}: {error}") from error
        index = broken_item(path, start, done)
        raise UnreadableFile(
            f"JSON is malformed in `standard_charge_information` at item {index} (0-based; "
            f"the array spans bytes {start}–{end}); nothing loaded"
        ) from error
    finally:
        con.close()
        copy.unlink(missing_ok=True)
