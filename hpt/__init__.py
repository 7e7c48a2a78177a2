"""hpt: hospital price transparency pipeline (CLI, step functions, settings)."""

import os

# Polars' allocator (jemalloc) hands freed pages back to the kernel within half a second
# by default; an ingest frees and re-allocates ~100 MB per batch, so it spent 2.4 s of
# system time per GB on page faults. Keeping freed pages for 5 s halves that (1 GB tall
# file: 1.2 s system time, 0.9 s faster, ~50 MB more peak memory). Read once, when Polars
# loads: it must be set before the first `import polars`, which this package's import
# precedes in the CLI and the DAG's tasks. A value already set is left alone.
os.environ.setdefault(
    "_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:5000"
)
