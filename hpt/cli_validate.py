"""`hpt validate`: the CMS conformance report of one file (exit 1 when it is not valid)."""

from __future__ import annotations

import json
from typing import Annotated

import polars as pl
import typer
from rich.table import Table
from rich.text import Text

from core.files import Layout
from core.findings import Severity
from hpt.cli import app, console, err, plain
from quality.versions import VERSION_CHOICES

EXAMPLES_PER_RULE = 5


def print_report(validation: object) -> None:
    """Verdict, file facts, counts per rule, and a few examples of each."""
    from hpt.pipeline.read import Validation

    assert isinstance(validation, Validation)
    v = validation
    if v.unreadable:
        err.print(Text.assemble(("INVALID", "red"), f" {v.source}: {v.unreadable}"), soft_wrap=True)
        return
    verdict = ("VALID", "green") if v.valid else ("INVALID", "red")
    console.print(Text.assemble(verdict, f" {v.source}"), soft_wrap=True)
    facts = Table(show_header=False, box=None)
    for label, value in [
        ("layout", v.layout),
        (
            "version",
            f"{v.version_claimed or '(none)'} → validated against {v.template} with the "
            f"{v.rule_set} rules ({v.version_reason})",
        ),
        ("rows", f"{v.rows:,}"),
        ("errors", f"{v.log.count(Severity.ERROR):,}"),
        ("alerts", f"{v.log.count(Severity.ALERT):,}"),
        ("time", f"{v.seconds:,.2f} s"),
    ]:
        facts.add_row(f"[bold]{label}[/]", plain(value))
    console.print(facts)
    if v.stopped_after is not None:
        console.print(
            f"stopped after {v.stopped_after:,} errors (--max-errors); counts are partial"
        )
    if not v.log.counts:
        return
    counts = Table(title="findings by rule", title_justify="left")
    counts.add_column("rule", no_wrap=True)
    counts.add_column("severity")
    counts.add_column("count", justify="right")
    for rule, n in v.log.by_rule().items():
        counts.add_row(plain(rule), plain(v.log.severities[rule]), f"{n:,}")
    console.print(counts)
    examples = Table(title="examples", title_justify="left")
    examples.add_column("rule", no_wrap=True)
    json_file = v.layout == Layout.JSON  # JSON: where = the JSON path; CSV: the row
    examples.add_column("path" if json_file else "row", overflow="fold")  # paths run long
    for name in ("column", "value", "message"):
        examples.add_column(name)
    frame = v.findings().group_by("rule", maintain_order=True).head(EXAMPLES_PER_RULE)
    for row in frame.iter_rows(named=True):
        value, where = row["value"], row["path"] if json_file else row["row_no"]
        examples.add_row(
            plain(row["rule"]),
            plain(where),
            plain(None if json_file and row["column"] == where else row["column"]),
            plain(None if value is None else str(value)[:60]),
            plain(row["message"]),
        )
    console.print(examples)


@app.command()
def validate(
    source: Annotated[str, typer.Argument(help="A local file or an http(s) URL of an MRF.")],
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help=f"Check to this CMS rule set ({'|'.join(VERSION_CHOICES)}) instead of the "
            "one the file's version cell implies.",
        ),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="Report format: text or json.")] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Short for --format json.")] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", help="Stop reading after N errors (0: read all).")
    ] = 0,
) -> None:
    """Check a file against the CMS rules of its template version; exit 1 if not valid."""
    from hpt.pipeline.read import validate_source

    if version is not None and version not in VERSION_CHOICES:
        err.print(f"[red]error:[/] --version must be one of {', '.join(VERSION_CHOICES)}")
        raise typer.Exit(2)
    if output not in ("text", "json"):
        err.print("[red]error:[/] --format must be text or json")
        raise typer.Exit(2)
    result = validate_source(source, version=version, max_errors=max_errors)
    if output == "json" or as_json:
        typer.echo(json.dumps(result.as_dict(), default=str, indent=2))
    else:
        with pl.Config(fmt_str_lengths=60):
            print_report(result)
    if not result.valid:
        raise typer.Exit(1)
