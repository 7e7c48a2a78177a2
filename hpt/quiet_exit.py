"""Ending a process without interpreter teardown, keeping its exit status.

When Great Expectations and duckdb-engine share a process, DuckDB's nanobind bindings print
dozens of "nanobind: leaked …" lines at interpreter teardown (module constants freed after
the bindings). Nothing is leaked that matters — the process is ending — but the noise buries
real output. Skipping teardown once everything is flushed avoids it (and saves the seconds
teardown takes after the heavy imports).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def exit_quietly(code: int) -> None:
    """Flush and close what must be, then end the process with `code` at once."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
