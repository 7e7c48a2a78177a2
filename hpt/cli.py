"""The `hpt` command line: every command is a thin call into the pipeline's step functions."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from core import settings
from core.outcomes import IngestOutcome

if TYPE_CHECKING:
    import duckdb

app = typer.Typer(
    help="Hospital price transparency pipeline: CMS machine-readable files → DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Warehouse catalog file [env HPT_DB, default data/hpt.duckdb]."),
]


def db_path(db: Path | None) -> Path:
    return db or settings.current().db


# Text from files, URLs and servers (hospital and payer names, messages quoting them, HTTP
# reasons) is never Rich markup: a `[/]` in a hospital name would end `hpt` with a
# traceback, a `[x]` would vanish. It goes into tables and lines as `Text`.
def plain(value: object) -> Text:
    """`value` as literal text (None as nothing)."""
    return Text("" if value is None else str(value))


def error_line(message: object) -> Text:
    """`error: <message>`, the message shown literally."""
    return Text.assemble(("error:", "red"), " ", str(message))


def published(db: Path | None) -> duckdb.DuckDBPyConnection:
    """The warehouse's published snapshot, read-only; without one, exit 1 with one line."""
    from warehouse.db import Warehouse, reader

    try:
        return reader(Warehouse.at(db_path(db)))
    except FileNotFoundError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Where the warehouse's per-file data lives: a local folder or "
            "s3://bucket/prefix [env HPT_STORAGE, default: beside the catalog].",
        ),
    ] = None,
) -> None:
    """Hospital price transparency pipeline."""
    if storage is not None:
        from core.storage import StorageError
        from core.storage import storage as parse_storage

        try:
            parse_storage(storage, Path.cwd())
        except StorageError as error:
            err.print(error_line(error), soft_wrap=True)
            raise typer.Exit(2) from None
        # Every command, and the processes it starts, read the setting from here.
        os.environ["HPT_STORAGE"] = storage
    try:  # a bad setting stops any command with one line naming it
        settings.current()
    except settings.SettingError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # `-v` tells what the pipeline did (loggers `hpt.*`); libraries (Great Expectations,
    # Airflow, …) only speak up with a warning.
    logging.getLogger("hpt").setLevel(logging.INFO if verbose else logging.WARNING)
    # A retry is counted in the download's record and its final line says why it failed;
    # urllib3's multi-line warning for each one is noise unless asked for.
    logging.getLogger("urllib3").setLevel(logging.WARNING if verbose else logging.ERROR)


def print_ingest_summary(result: object) -> None:
    """One screen: facility, layout, version, rows, findings by rule, seconds, MB/s."""
    from hpt.pipeline.steps import IngestResult

    assert isinstance(result, IngestResult)
    table = Table(show_header=False, box=None)
    for label, value in [
        ("outcome", result.outcome),
        ("facility", f"{result.facility_id}  ({result.hospital_name})"),
        ("layout", f"{result.layout}  version {result.version}"),
        ("file", result.file_id),
        ("rows", f"{result.rows:,}"),
        ("size", f"{result.bytes / 1e6:,.1f} MB"),
        ("time", f"{result.seconds:,.2f} s  ({result.mb_per_s:,.1f} MB/s)"),
    ]:
        table.add_row(f"[bold]{label}[/]", plain(value))
    if result.valid is not None:  # the CMS verdict, as `hpt validate` gives it
        verdict = "valid" if result.valid else f"not valid ({result.errors:,} errors)"
        table.add_row("[bold]CMS rules[/]", verdict)
    if result.message:  # e.g. why a file was held or quarantined by the quality gate
        table.add_row("[bold]message[/]", plain(result.message))
    console.print(table)
    if result.findings:
        findings = Table("rule", "count", title="findings by rule", title_justify="left")
        for rule, count in result.findings.items():
            findings.add_row(plain(rule), f"{count:,}")
        console.print(findings)


@app.command()
def ingest(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="MRFs to load: local files, http(s) URLs, folders (their .csv, .json, .gz "
            "and .zip files, recursively) and glob patterns; all in one process, published "
            "once at the end.",
            metavar="PATH_OR_URL",
            show_default=False,
        ),
    ],
    facility_id: Annotated[
        str | None,
        typer.Option(
            help="Facility id (one file only); default: license state+number, else type-2 "
            "NPI, else a slug of the hospital name."
        ),
    ] = None,
    db: DbOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the summary as JSON (a list for several files)."),
    ] = False,
    publish: Annotated[
        bool,
        typer.Option(
            help="Publish a read snapshot (and rebuild the marts) afterwards, once; skip it "
            "to publish later with `hpt publish`."
        ),
    ] = True,
) -> None:
    """Read, normalise, check and load machine-readable files into the warehouse."""
    from core.ids import InvalidId, valid_facility_id
    from hpt.pipeline.batch import expand, single
    from warehouse.db import Warehouse

    if facility_id is not None:
        try:
            valid_facility_id(facility_id, "--facility-id")
        except InvalidId as error:
            err.print(error_line(error), soft_wrap=True)
            raise typer.Exit(2) from None
    wh = Warehouse.at(db_path(db))
    listed = expand(sources)
    if not single(sources, listed):
        from hpt.cli_batch import ingest_batch

        if facility_id is not None and len(listed) > 1:
            raise typer.BadParameter(
                "names one facility: give one file", param_hint="--facility-id"
            )
        ingest_batch(listed, wh, facility_id=facility_id, as_json=as_json, publish=publish)
        return
    from hpt.pipeline.steps import ingest_source

    source = listed[0].source
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"ingesting {escape(Path(source).name)}", total=None)
        result = ingest_source(
            source,
            wh,
            facility_id=facility_id,
            publish_after=publish,
            progress=lambda n: bar.advance(task, n),
        )
    if as_json:
        console.print_json(json.dumps(result.as_dict(), default=str))
    elif result.outcome == IngestOutcome.FAILED:
        err.print(error_line(f"{result.source}: {result.message}"), soft_wrap=True)
    else:
        print_ingest_summary(result)
    if result.superseded_by:  # another process loaded a file of this facility meanwhile
        from hpt.pipeline.steps import superseded

        line = f"{result.source}: {superseded(result.superseded_by)}"
        err.print(Text.assemble(("warning:", "yellow"), " ", line), soft_wrap=True)
    if result.outcome == IngestOutcome.FAILED:
        raise typer.Exit(1)


def run() -> None:  # pragma: no cover - the console entry point
    """`hpt`: run the app, then end without interpreter teardown (see hpt.quiet_exit)."""
    from hpt.quiet_exit import exit_quietly
    from warehouse.catalog import CatalogError

    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except CatalogError as error:  # the shared catalog is down: one line, not a traceback
        err.print(error_line(error), soft_wrap=True)
        code = 1
    exit_quietly(code)


# Commands defined in other modules register themselves on `app` when imported.
from hpt import (  # noqa: E402, F401
    cli_acquire,
    cli_compare,
    cli_dashboard,
    cli_payers,
    cli_quality,
    cli_sources,
    cli_tools,
    cli_validate,
)
