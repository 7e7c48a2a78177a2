"""The items of `standard_charge_information[]`, streamed: DuckDB splits, msgspec decodes.

DuckDB's `read_json_objects` finds item boundaries at ~300 MB/s on one core (with the GIL
released) and hands back each item's text; msgspec decodes a batch of items into typed
structs at ~280 MB/s; a tight loop turns them into columns. Only the byte range of the
array is fed to DuckDB, through a named pipe, so the file is read once and never copied.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ijson
import msgspec

from ingest.errors import UnreadableFile

#: Items per batch handed from DuckDB to the decoder.
ITEMS_PER_BATCH = 1024
#: Largest single item accepted (DuckDB allocates buffers of this size).
MAX_ITEM_BYTES = 64 << 20
_CHUNK = 4 << 20

Scalar = str | int | float | bool | None


class Code(msgspec.Struct):
    code: Scalar = None
    type: Scalar = None


class DrugInfo(msgspec.Struct):
    unit: Scalar = None
    type: Scalar = None


class Payer(msgspec.Struct):
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


class Charge(msgspec.Struct):
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


class Item(msgspec.Struct):
    description: Scalar = None
    drug_information: DrugInfo | None = None
    code_information: list[Code] | None = None
    standard_charges: list[Charge] | None = None


_DECODER = msgspec.json.Decoder(list[Item])


def decode(texts: list[str], first: int) -> list[Item]:
    """Typed items from their JSON texts; `first` is the index of the first (for errors)."""
    try:
        return _DECODER.decode(("[" + ",".join(texts) + "]").encode())
    except msgspec.ValidationError as error:
        # msgspec says where: `$[12].standard_charges[0]…`; make the index absolute.
        message = str(error)
        if "$[" in message:
            head, _, rest = message.partition("$[")
            index, _, path = rest.partition("]")
            if index.isdigit():
                message = f"{head}item {first + int(index)}{path}"
        raise UnreadableFile(f"JSON item has an unexpected shape: {message}") from error


def _feed(path: Path, start: int, end: int, fifo: Path, failed: list[BaseException]) -> None:
    """Write bytes [start, end) of `path` into the named pipe (runs in a thread)."""
    try:
        with path.open("rb") as source, fifo.open("wb") as sink:
            source.seek(start)
            left = end - start
            while left > 0:
                chunk = source.read(min(_CHUNK, left))
                if not chunk:
                    break
                sink.write(chunk)
                left -= len(chunk)
    except BrokenPipeError:
        pass  # the reader stopped early (error or abandoned generator)
    except OSError as error:
        failed.append(error)


def broken_item(path: Path, start: int) -> int:
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
    return count


def item_texts(path: Path, start: int, end: int, workdir: Path) -> Iterator[list[str]]:
    """Batches of item JSON texts from the array at bytes [start, end) of `path`."""
    workdir.mkdir(parents=True, exist_ok=True)
    fifo = workdir / f".items-{os.getpid()}-{threading.get_ident()}.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    failed: list[BaseException] = []
    feeder = threading.Thread(target=_feed, args=(path, start, end, fifo, failed), daemon=True)
    feeder.start()
    con = duckdb.connect()
    done = 0
    try:
        con.execute("SET threads = 1; SET memory_limit = '1GB'")
        source = str(fifo).replace("'", "''")
        query = (
            f"SELECT json::VARCHAR AS item FROM read_json_objects('{source}', "
            f"format = 'array', maximum_object_size = {MAX_ITEM_BYTES})"
        )
        reader = con.sql(query).to_arrow_reader(ITEMS_PER_BATCH)
        for batch in reader:
            texts = batch.column(0).to_pylist()
            done += len(texts)
            yield texts
    except duckdb.Error as error:
        index = broken_item(path, start)
        raise UnreadableFile(
            f"JSON is malformed in `standard_charge_information` at item {index} (0-based; "
            f"the array spans bytes {start}–{end}); nothing loaded"
        ) from error
    finally:
        con.close()
        # Unblock a feeder still waiting for a reader to open the pipe, then wait for it.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        feeder.join(timeout=30)
        fifo.unlink(missing_ok=True)
    if failed:
        raise UnreadableFile(f"could not read {path.name}: {failed[0]}")
