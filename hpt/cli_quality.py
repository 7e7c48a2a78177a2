"""`hpt quality` (quarantined files, failing expectations, Data Docs) and `hpt accept`."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer
from rich.table import Table

from core.outcomes import CheckOutcome
from hpt.cli import DbOption, app, console, db_path, err, error_line, plain

quality_app = typer.Typer(
    help="Data-quality results: quarantined files, failing expectations, Data Docs.",
    no_args_is_help=False,
)
app.add_typer(quality_app, name="quality")


def _short(value: object, width: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@quality_app.callback(invoke_without_command=True)
def quality(
    ctx: typer.Context,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List quarantined files and the failing expectations of each file's latest validation."""
    if ctx.invoked_subcommand is not None:
        return
    from warehouse.db import Warehouse, writer
    from warehouse.quality_log import held_files, latest_failures, quarantined_files

    wh = Warehouse.at(db_path(db))
    if not wh.db_path.exists():
        err.print(error_line(f"no warehouse at {wh.db_path}"), soft_wrap=True)
        raise typer.Exit(1)
    with writer(wh) as con:
        files, held, failures = quarantined_files(con), held_files(con), latest_failures(con)
    if as_json:
        found = {"quarantined": files, "held": held, "failing": failures}
        console.print_json(json.dumps(found, default=str))
        return
    table = Table("file", "facility", "rows", "quarantined at", "reason", title="quarantined files")
    for f in files:
        table.add_row(
            plain(f["file_id"]), plain(f["facility_id"]), f"{f['row_count']:,}",
            f"{f['quarantined_at']:%Y-%m-%d %H:%M}", plain(f["reason"]),
        )  # fmt: skip
    console.print(table if files else "no quarantined files")
    table = Table("file", "facility", "rows", "reason", title="held files (`hpt accept FILE`)")
    for f in held:
        table.add_row(
            plain(f["file_id"]),
            plain(f["facility_id"]),
            f"{f['row_count']:,}",
            plain(f["status_reason"]),
        )
    console.print(table if held else "no held files")
    table = Table(
        "file", "suite", "expectation", "column", "severity", "unexpected", "observed",
        title="failing expectations (latest validation of each file; blank file = warehouse)",
    )  # fmt: skip
    for f in failures:
        table.add_row(
            *map(plain, (f["file_id"], f["suite"], f["expectation"].removeprefix("expect_"),
                         f["column"], f["severity"])),
            "" if f["unexpected_count"] is None else f"{f['unexpected_count']:,}",
            plain(_short(f["observed_value"])),  # data, not markup
        )  # fmt: skip
    console.print(table if failures else "no failing expectations")


@quality_app.command()
def check(db: DbOption = None) -> None:
    """Validate the published warehouse (one current file per facility, no orphan codes,
    every registered facility accounted for, freshness) and record the results."""
    from hpt.pipeline.steps import check_warehouse
    from warehouse.db import Warehouse

    wh = Warehouse.at(db_path(db))
    try:
        result = check_warehouse(wh)
    except FileNotFoundError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"{result.outcome}: {len(result.outcomes)} expectations, "
        f"{len(result.failed('error', 'warning'))} failing ({result.seconds:.1f} s)"
    )
    for outcome in result.failed("error", "warning"):
        console.print(f"  {outcome.severity}: {outcome.line()}", highlight=False, markup=False)
    if result.outcome == CheckOutcome.FAILED:
        raise typer.Exit(1)


@quality_app.command()
def docs(
    db: DbOption = None,
    port: Annotated[int, typer.Option(help="Port to serve on (0 = any free port).")] = 8799,
    open_browser: Annotated[bool, typer.Option("--open", help="Open a browser too.")] = False,
) -> None:
    """Serve the Great Expectations Data Docs (every validation result) on a local port."""
    import functools
    import http.server
    import webbrowser

    from hpt.pipeline.steps import render_docs
    from warehouse.db import Warehouse

    docs = render_docs(Warehouse.at(db_path(db)))  # what was validated since the last
    site = docs / "site"
    if not (site / "index.html").exists():
        err.print(error_line(f"no Data Docs at {site}: ingest a file first"), soft_wrap=True)
        raise typer.Exit(1)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        console.print(f"Data Docs at {url}  (Ctrl-C to stop)", highlight=False)
        if open_browser:
            webbrowser.open(url)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


@app.command()
def accept(
    file_id: Annotated[str, typer.Argument(help="A held file's id (see `hpt quality`).")],
    db: DbOption = None,
) -> None:
    """Accept a file held as suspicious (e.g. a sharp drop in rows): load and publish it."""
    from hpt.pipeline.steps import accept as accept_file
    from warehouse.db import Warehouse

    try:
        message = accept_file(Warehouse.at(db_path(db)), file_id)
    except ValueError as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(plain(message))
