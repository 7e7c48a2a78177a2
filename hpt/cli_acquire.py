"""`hpt run`, `hpt sources …` and `hpt demo …`: the registry, a whole run, the demo universe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core import settings
from core.outcomes import CheckOutcome, IngestOutcome
from hpt.cli import DbOption, app, console, db_path, err, error_line, plain

sources_app = typer.Typer(help="The source registry: the facilities a run tracks.",
                          no_args_is_help=True)  # fmt: skip
demo_app = typer.Typer(help="A local universe of fictional hospital websites.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(sources_app, name="sources")
app.add_typer(demo_app, name="demo")

SourcesOption = Annotated[
    Path | None,
    typer.Option("--sources", help="Source registry CSV [env HPT_SOURCES, default sources.csv]."),
]


def _wide() -> Console:
    """The console for tables: piped or in `make`, 80 columns would hide the messages."""
    return console if console.is_terminal else Console(width=200)


def _entries(sources: Path | None) -> list:  # type: ignore[type-arg]
    from core.errors import UnreadableFile
    from ingest.registry import load_sources

    try:
        return load_sources(sources or settings.current().sources)
    except UnreadableFile as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(2) from None


@app.command("run")
def run_command(
    sources: SourcesOption = None,
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-read files not modified upstream too.")
    ] = False,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            help="Only the entries of this state (repeatable) "
            "[env HPT_SOURCES_STATE, comma-separated; default all].",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help="At most N entries, in registry order after the "
            "state filter [env HPT_SOURCES_LIMIT; default 0: all].",
        ),
    ] = None,
) -> None:
    """Acquire and ingest every registry entry (or a slice) once, then publish; exit 1 if any
    failed."""
    from hpt.pipeline.runner import FacilityRun, run_sources
    from ingest.registry import select_sources, states_option
    from quality.gate import GateResult
    from warehouse.db import Warehouse
    from warehouse.retention import PruneReport

    now = settings.current()
    states = states_option(",".join(state)) if state else states_option(now.sources_state)
    entries = select_sources(_entries(sources), states,
                             now.sources_limit if limit is None else limit)  # fmt: skip
    wh = Warehouse.at(db_path(db))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=len(entries))

        def done(line: FacilityRun) -> None:
            bar.advance(task)

        checks: list[GateResult] = []

        def checking(result: GateResult) -> None:
            bar.update(task, description="checking the published warehouse")
            checks.append(result)

        pruned: list[PruneReport] = []
        lines = run_sources(
            entries,
            wh,
            on_start=lambda e: bar.update(task, description=escape(e.name[:40])),
            on_done=done,
            force=force,
            on_checked=checking,
            on_pruned=pruned.append,
        )
    table = Table(title=f"hpt run: {len(lines)} facilities", title_justify="left")
    for column, width in (("facility", 12), ("name", 20), ("outcome", 11), ("rows", 9),
                          ("findings", 8), ("seconds", 7)):  # fmt: skip
        right = column in ("rows", "findings", "seconds")
        table.add_column(column, no_wrap=True, justify="right" if right else "left",
                         min_width=width, max_width=30 if column == "name" else None)  # fmt: skip
    table.add_column("message", no_wrap=True, overflow="ellipsis", max_width=90)
    colour = {IngestOutcome.LOADED: "green", IngestOutcome.UNCHANGED: "cyan",
              IngestOutcome.FAILED: "red"}  # fmt: skip
    for line in lines:
        quiet = line.outcome in (IngestOutcome.LOADED, IngestOutcome.UNCHANGED)
        message = "" if quiet else line.message
        if line.outcome == IngestOutcome.FAILED:
            message = f"{line.stage}: {message}"
        outcome = f"[{colour.get(line.outcome, 'yellow')}]{line.outcome}"
        table.add_row(
            plain(line.facility_id), plain(line.name), outcome, f"{line.rows:,}",
            f"{line.findings:,}", f"{line.seconds:.2f}", plain(message),
        )  # fmt: skip
    out = _wide()
    out.print(table)
    for report in pruned:  # what retention expired and deleted around the publish
        out.print(report.line(), highlight=False, markup=False)
    failed = sum(line.outcome == IngestOutcome.FAILED for line in lines)
    mb = sum(line.downloaded_bytes for line in lines) / 1e6
    out.print(f"{len(lines) - failed} ok, {failed} failed; {mb:,.1f} MB downloaded")
    for check in checks:
        if check.outcome != CheckOutcome.SKIPPED:
            detail = check.message or f"{len(check.outcomes)} expectations passed"
            out.print(f"warehouse check {check.outcome}: {detail}", highlight=False, markup=False)
    if failed or any(check.outcome == CheckOutcome.FAILED for check in checks):
        raise typer.Exit(1)


@sources_app.command("list")
def sources_list(sources: SourcesOption = None) -> None:
    """Show the registry entries."""
    entries = _entries(sources)
    table = Table("facility", "name", "state", "city", "zip", "source", title_justify="left",
                  title=f"{len(entries)} sources")  # fmt: skip
    for e in entries:
        where = f"file {e.mrf_url}" if e.mrf_url else f"site {e.website}"
        table.add_row(*map(plain, (e.key, e.name, e.state, e.city, e.zip, where)))
    _wide().print(table)


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="The facility's name.")],
    facility_id: Annotated[str, typer.Option(help="CCN where known.")] = "",
    state: Annotated[str, typer.Option(help="Two-letter state code.")] = "",
    city: Annotated[str, typer.Option()] = "",
    zip_code: Annotated[str, typer.Option("--zip")] = "",
    website: Annotated[str, typer.Option(help="Site root serving /cms-hpt.txt.")] = "",
    mrf_url: Annotated[str, typer.Option(help="The file's URL, if known directly.")] = "",
    location: Annotated[str, typer.Option(help="location-name to pick in cms-hpt.txt.")] = "",
    system: Annotated[str, typer.Option(help="Health system.")] = "",
    sources: SourcesOption = None,
) -> None:
    """Add a facility to the registry file."""
    from core.errors import UnreadableFile
    from ingest.registry import SourceEntry, add_source

    path = sources or settings.current().sources
    entry = SourceEntry(name, facility_id, state.upper(), city, zip_code, website, mrf_url,
                        location, system)  # fmt: skip
    try:
        entries = add_source(path, entry)
    except UnreadableFile as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(plain(f"added {entry.key} to {path} ({len(entries)} sources)"))


@demo_app.command("generate")
def demo_generate(
    folder: Annotated[Path, typer.Argument(help="Where to write the universe.")] = Path(
        "data/demo"
    ),
    port: Annotated[
        int | None, typer.Option(help="Port the server will use [HPT_DEMO_PORT].")
    ] = None,
    host: Annotated[str, typer.Option(help="Host name in the URLs.")] = "127.0.0.1",
    big: Annotated[bool, typer.Option("--big", help="Make one file ~100 MB.")] = False,
    facilities: Annotated[
        int | None,
        typer.Option(min=1, help="Add healthy hospitals until the universe holds this many."),
    ] = None,
) -> None:
    """Write the demo universe: websites, files, and a matching `sources.csv`."""
    from devtools.synthetic.universe import generate

    port = port or settings.current().demo_port
    entries = generate(folder, f"http://{host}:{port}", big=big, facilities=facilities)
    size = sum(p.stat().st_size for p in (folder / "sites").rglob("*") if p.is_file())
    console.print(f"{len(entries)} hospitals, {size / 1e6:,.1f} MB in {folder}; "
                  f"registry {folder / 'sources.csv'}")  # fmt: skip


@demo_app.command("serve")
def demo_serve(
    folder: Annotated[Path, typer.Argument(help="A generated universe.")] = Path("data/demo"),
    port: Annotated[int | None, typer.Option(help="Port [HPT_DEMO_PORT].")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the universe over HTTP until stopped (SIGTERM or Ctrl-C)."""
    from devtools.demo_server import serve

    if not (folder / "sites").is_dir():
        err.print(error_line(f"{folder} is not a demo universe (run `hpt demo generate`)"))
        raise typer.Exit(2)
    port = port or settings.current().demo_port
    err.print(plain(f"serving {folder} on http://{host}:{port}/ (stop with Ctrl-C or SIGTERM)"))
    serve(folder, port, host)


@demo_app.command("wait")
def demo_wait(
    port: Annotated[int | None, typer.Option(help="Port [HPT_DEMO_PORT].")] = None,
    host: Annotated[str, typer.Option(help="Address of the server.")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 30.0,
) -> None:
    """Wait until a demo server answers (for scripts that start one in the background)."""
    import time

    import requests

    port = port or settings.current().demo_port
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.head(f"http://{host}:{port}/", timeout=1)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                err.print(error_line(f"no demo server on {host}:{port} after {timeout:g} s"))
                raise typer.Exit(1) from None
            time.sleep(0.1)
