"""`hpt ingest` of several files: progress per file and overall, then one line per file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from core.outcomes import IngestOutcome
from hpt.cli import console, err, plain
from hpt.pipeline.batch import BatchRun, Listed, ingest_many
from hpt.pipeline.steps import IngestResult
from warehouse.db import Warehouse

_STYLE = {
    IngestOutcome.LOADED: "green",
    IngestOutcome.UNCHANGED: "dim",
    IngestOutcome.HELD: "yellow",
    IngestOutcome.QUARANTINED: "red",
    IngestOutcome.FAILED: "bold red",
}


def _name(source: str) -> str:
    return source if "://" in source else Path(source).name


def ingest_batch(
    listed: Sequence[Listed],
    wh: Warehouse,
    *,
    facility_id: str | None,
    as_json: bool,
    publish: bool,
) -> None:
    """Ingest `listed` in one process, print the table (or a JSON list); exit 1 if any
    file failed."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        overall = bar.add_task(f"0/{len(listed)} files", total=len(listed), count="")
        current: list[TaskID] = []
        counted = {"rows": 0, "files": 0}

        def start(item: Listed) -> None:
            counted["rows"] = 0
            name = escape(_name(item.source))
            current.append(bar.add_task(f"  {name}", total=None, count="0 rows"))

        def rows(n: int) -> None:
            counted["rows"] += n
            bar.update(current[-1], completed=counted["rows"], count=f"{counted['rows']:,} rows")

        def done(result: IngestResult) -> None:
            bar.remove_task(current.pop())
            counted["files"] += 1
            files = counted["files"]
            bar.update(overall, completed=files, description=f"{files}/{len(listed)} files")

        def publishing() -> None:
            bar.update(overall, description="publishing (views, marts, snapshot)")

        run = ingest_many(
            listed, wh, facility_id=facility_id, publish_after=publish,
            on_start=start, on_done=done, progress=rows, on_publish=publishing,
        )  # fmt: skip
    if as_json:
        console.print_json(json.dumps([r.as_dict() for r in run.results], default=str))
    else:
        print_batch(run)
    if run.failed:
        raise typer.Exit(1)


def print_batch(run: BatchRun) -> None:
    """One line per file (outcome, facility, rows, seconds, MB/s, message), then totals."""
    # Folded, not cut: a cut file name may name no file.
    name = Column("file", overflow="fold")
    table = Table(name, "outcome", "facility", "rows", "s", "MB/s", "message")
    for r in run.results:
        table.add_row(
            plain(_name(r.source)),
            Text(str(r.outcome), style=_STYLE[r.outcome]),
            plain(r.facility_id),
            f"{r.rows:,}",
            f"{r.seconds:,.2f}",
            f"{r.mb_per_s:,.1f}" if r.bytes else "",
            plain(r.message),
        )
    console.print(table)
    counts = ", ".join(f"{n} {outcome}" for outcome, n in run.counts().items())
    rows = sum(r.rows for r in run.results if r.outcome == IngestOutcome.LOADED)
    mb = sum(r.bytes for r in run.results) / 1e6
    line = f"{len(run.results)} files ({counts}): {rows:,} rows loaded, {mb:,.1f} MB read"
    if run.snapshot is not None:
        line += f"; published once in {run.publish_seconds:,.1f} s"
    console.print(f"{line}; {run.seconds:,.1f} s in all", highlight=False, soft_wrap=True)
