"""Read ahead: produce a reader's next batches in a thread while the caller uses this one.

Parsing (DuckDB, Polars) and normalising/writing (Polars, Parquet) release the GIL, so
running the reader one or two batches ahead of the pipeline puts both cores to work
without changing what is read or in which order. Memory grows by at most `depth` batches.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")
_POLL = 0.1


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def _put(target: queue.Queue[T | _End], item: T | _End, stop: threading.Event) -> bool:
    """Put `item`, waiting for room until `stop` is set; False if it was."""
    while not stop.is_set():
        try:
            target.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _drain(source: Iterator[T], target: queue.Queue[T | _End], stop: threading.Event) -> None:
    """Move the items of `source` to `target`, then an `_End` (with its error, if any)."""
    try:
        for item in source:
            if not _put(target, item, stop):
                break
    except BaseException as error:  # handed to the consumer, raised there
        _put(target, _End(error), stop)
    else:
        _put(target, _End(None), stop)
    finally:
        if isinstance(source, Generator):
            source.close()


def _received(ready: queue.Queue[T | _End]) -> Iterator[T]:
    while not isinstance(item := ready.get(), _End):
        yield item
    if item.error is not None:
        raise item.error


def prefetched(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of `source`, produced in a background thread up to `depth` ahead.

    An exception in `source` is raised here, in order; closing this iterator early stops
    the thread and closes `source` (so its clean-up runs).
    """
    ready: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(
        target=_drain, args=(source, ready, stop), name="hpt-prefetch", daemon=True
    )
    thread.start()
    try:
        yield from _received(ready)
    finally:
        stop.set()
        # Garbage collection may close this generator in any thread, its own included
        # (the last reference dropped there): that thread then ends by itself.
        if thread is not threading.current_thread():
            thread.join()


def in_order(
    tasks: Sequence[A], produce: Callable[[A], Iterator[T]], workers: int = 2, depth: int = 2
) -> Generator[Iterator[T], None, None]:
    """One iterator per task, in task order, over the items of `produce(task)`.

    `workers` threads produce tasks in order, at most one task ahead of the `workers` the
    caller has not finished, each up to `depth` items ahead of the caller: the same items
    in the same order as a plain loop, with up to `workers` producers busy at once. An
    exception in a task is raised from its iterator; closing this iterator stops the
    workers (and closes the tasks' generators, so their clean-up runs).
    """
    ready: list[queue.Queue[T | _End]] = [queue.Queue(maxsize=depth) for _ in tasks]
    stop = threading.Event()
    window = threading.Semaphore(workers + 1)  # tasks started and not yet consumed
    numbers = itertools.count()
    lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            if not window.acquire(timeout=_POLL):
                continue
            with lock:
                number = next(numbers)
            if number >= len(tasks):
                return
            try:
                source = produce(tasks[number])
            except BaseException as error:  # handed to the consumer, raised there
                _put(ready[number], _End(error), stop)
                continue
            _drain(source, ready[number], stop)

    threads = [
        threading.Thread(target=work, name=f"hpt-worker-{n}", daemon=True)
        for n in range(min(workers, len(tasks)))
    ]
    for thread in threads:
        thread.start()
    try:
        for queued in ready:
            yield _received(queued)
            window.release()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
