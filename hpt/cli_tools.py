"""`hpt summary`, `hpt sql`, `hpt publish`, `hpt prune` and `hpt synth`: look into a
warehouse, publish it, apply retention, make test files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.table import Column, Table

from core import settings
from hpt.cli import DbOption, app, console, db_path, err, error_line, plain


def frame_table(frame: object, title: str | None = None, limit: int = 50) -> Table:
    """A rich table of a Polars DataFrame (money-like floats with two decimals)."""
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    # Column names and values are data (a query's, a hospital's): shown literally.
    table = Table(*(Column(plain(name)) for name in frame.columns), title=title,
                  title_justify="left")  # fmt: skip
    for row in frame.head(limit).iter_rows():
        table.add_row(*(plain(f"{v:,.2f}" if isinstance(v, float) else v) for v in row))
    if frame.height > limit:
        table.caption = f"{frame.height - limit:,} more rows not shown"
    return table


def open_published(db: Path | None) -> duckdb.DuckDBPyConnection:
    """The published warehouse, or a one-line error and exit 1 when there is none yet."""
    from warehouse.db import Warehouse, reader

    try:
        return reader(Warehouse.at(db_path(db)))
    except FileNotFoundError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def summary(db: DbOption = None) -> None:
    """Summarise the published warehouse: facilities, files, charges, codes, failures."""
    from warehouse.summary import facility_overview, totals

    con = open_published(db)
    for key, value in totals(con).items():
        console.print(f"[bold]{key.replace('_', ' ')}[/]: {value:,}")
    console.print(frame_table(facility_overview(con), title="current file per facility"))


@app.command()
def publish(db: DbOption = None) -> None:
    """Rebuild the views and marts and switch readers to a new snapshot of the warehouse."""
    import time

    from warehouse.db import Warehouse
    from warehouse.publish import publish as publish_snapshot
    from warehouse.snapshots import ShareError

    started = time.monotonic()
    try:
        snapshot = publish_snapshot(Warehouse.at(db_path(db)))
    except ShareError as error:  # readers elsewhere keep the previous snapshot
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(plain(f"published {snapshot} in {time.monotonic() - started:,.1f} s"),
                  soft_wrap=True)  # fmt: skip


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help="One read-only SQL query, e.g. over standard_charges.")
    ],
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50,
) -> None:
    """Run one read-only query (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN) on the published
    warehouse and print the result. It reads no file outside the warehouse, is stopped
    after HPT_SQL_TIMEOUT_SECONDS and fetches at most HPT_SQL_MAX_ROWS rows."""
    from warehouse.db import Warehouse
    from warehouse.sandbox import RefusedQuery, run_query, sandboxed

    now = settings.current()
    try:
        con = sandboxed(Warehouse.at(db_path(db)))
    except FileNotFoundError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None
    try:
        result = run_query(con, query, timeout=now.sql_timeout_seconds, max_rows=now.sql_max_rows)
    except (RefusedQuery, duckdb.Error) as error:
        err.print(error_line(f"hpt sql: {str(error).splitlines()[0]}"), soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        con.close()
    console.print(frame_table(result.frame, limit=limit))
    if result.truncated:  # the row cap ended the result, not the query
        console.print(f"the result has more than {now.sql_max_rows:,} rows (HPT_SQL_MAX_ROWS)",
                      highlight=False, soft_wrap=True)  # fmt: skip


@app.command()
def synth(
    path: Annotated[Path, typer.Argument(help="File to write.")],
    layout: Annotated[str, typer.Option(help="tall (wide and json where available).")] = "tall",
    items: Annotated[int, typer.Option(help="Chargemaster items to write.")] = 200,
    size_mb: Annotated[float, typer.Option(help="Write until the file is this big instead.")] = 0,
    version: Annotated[str, typer.Option(help="Template version, e.g. 3.0.0 or 2.0.0.")] = "3.0.0",
    seed: Annotated[int, typer.Option(help="Seed: the same seed makes the same hospital.")] = 1,
    pathology: Annotated[
        list[str] | None, typer.Option(help="Add a real-world pathology (repeatable).")
    ] = None,
) -> None:
    """Write a synthetic CMS machine-readable file for a fictional hospital."""
    from devtools.synthetic.tall import tall_file

    if layout != "tall":
        err.print(error_line(f"layout {layout!r} is not available here"))
        raise typer.Exit(2)
    target = int(size_mb * 1e6) if size_mb else None
    rows = tall_file(
        path,
        n_items=items,
        target_bytes=target,
        version=version,
        seed=seed,
        pathologies=pathology or (),
    )
    console.print(f"wrote {path} ({rows:,} rows, {path.stat().st_size / 1e6:,.1f} MB)")


@app.command()
def prune(
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go, and its size; delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Apply retention (settings HPT_RETENTION_*): expire old files and quarantined data,
    publish without them, delete what no kept snapshot lists; old snapshots, logs, results."""
    import json

    from hpt.pipeline.steps import prune as prune_warehouse
    from warehouse.db import Warehouse

    wh = Warehouse.at(db_path(db))
    if not wh.db_path.exists():
        err.print(error_line(f"no warehouse at {wh.db_path}"), soft_wrap=True)
        raise typer.Exit(1)
    report = prune_warehouse(wh, dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps(report.as_dict(), default=str))
    else:
        verb = "would " if dry_run else ""
        if report.expired:
            table = Table("file", "facility", "why", title=f"files that {verb}expire",
                          title_justify="left")  # fmt: skip
            for e in report.expired:
                table.add_row(plain(e.file_id), plain(e.facility_id), plain(e.reason))
            console.print(table)
        if report.deleted:
            table = Table("what", "path", "MB", title=f"{verb}delete", title_justify="left")
            for g in report.deleted:
                table.add_row(plain(g.kind), plain(g.path), f"{g.bytes / 1e6:,.2f}")
            console.print(table)
        console.print(plain(report.line()), soft_wrap=True)
    if report.error:
        raise typer.Exit(1)
