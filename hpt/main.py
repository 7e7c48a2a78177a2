"""The `hpt` console entry point: process set-up first, then the command line."""

from __future__ import annotations


def run() -> None:  # pragma: no cover - the console entry point
    """`hpt`: tune the allocator before Polars loads, then run the command line."""
    from core.runtime import tune_allocator

    tune_allocator()
    from hpt.cli import run as cli_run

    cli_run()


if __name__ == "__main__":  # `python -m hpt.main …`, as `hpt …`
    run()
