"""Read ahead: produce a reader's next batches in a thread while the caller uses this one.

Parsing (DuckDB, Polars) and normalising/writing (Polars, Parquet) release the GIL, so
running the reader one or two batches ahead of the pipeline puts both cores to work
without changing what is read or in which order. Memory grows by at most `depth` batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_POLL = 0.1


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def prefetched(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of `source`, produced in a background thread up to `depth` ahead.

    An exception in `source` is raised here, in order; closing this iterator early stops
    the thread and closes `source` (so its clean-up runs).
    """
    ready: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(item):
                    break
        except BaseException as error:  # handed to the consumer, raised there
            put(_End(error))
        else:
            put(_End(None))
        finally:
            if isinstance(source, Generator):
                source.close()

    thread = threading.Thread(target=work, name="hpt-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
