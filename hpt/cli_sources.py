"""`hpt sources import` and `hpt sources check`: building a registry from hospital lists,
and checking one offline (and a sample of its websites online)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core import settings
from hpt.cli import err, error_line, plain
from hpt.cli_acquire import SourcesOption, _entries, _wide, sources_app
from ingest.hospital_lists import ListFormat


@sources_app.command("import")
def sources_import(
    file: Annotated[Path, typer.Argument(help="The hospital list to import.")],
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format",
            help="onefact: the onefact/Payless list; cms-hpt: "
            "cms-hpt.txt blocks or JSON lines of their keys; csv: a registry file.",
        ),
    ],
    sources: SourcesOption = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Report of rejected, doubtful and merged rows [default: "
            "<registry>-import-report.csv beside the registry]."
        ),
    ] = None,
    note: Annotated[
        str, typer.Option(help="Where the list came from, for the registry's header.")
    ] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Start the registry afresh instead of merging.")
    ] = False,
) -> None:
    """Merge a hospital list into the registry: rows checked and normalised, the rejected
    and doubtful reported with their reason."""
    from core.errors import UnreadableFile
    from ingest.registry_merge import import_list, report_path

    registry = sources or settings.current().sources
    started = time.perf_counter()
    try:
        done = import_list(file, fmt, registry, report=report, note=note, replace_all=replace)
    except UnreadableFile as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(2) from None
    seconds = time.perf_counter() - started
    out = _wide()
    out.print(plain(
        f"{file.name}: {done.rows:,} rows read in {seconds:.1f} s — {done.added:,} added, "
        f"{done.updated:,} updated, {done.unchanged:,} unchanged; {done.rejected:,} rejected, "
        f"{done.doubtful:,} doubtful; {done.dropped_fallbacks:,} unusable file URLs dropped"
    ))  # fmt: skip
    if done.issues:
        table = Table("verdict", "reason", "rows", title="rows reported", title_justify="left")
        for (verdict, reason), count in sorted(done.reasons().items()):
            table.add_row(verdict, reason, f"{count:,}")
        out.print(table)
    out.print(plain(f"registry {registry}: {len(done.entries):,} entries; "
                    f"report {report or report_path(registry)}"))  # fmt: skip


@sources_app.command("check")
def sources_check(
    sources: SourcesOption = None,
    online: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also ask N websites, sampled at random, for their cms-hpt.txt (0: offline only).",
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the sample of websites.")] = 0,
    show: Annotated[int, typer.Option(help="Problems listed at most (counts are exact).")] = 50,
) -> None:
    """Check the registry offline (schema, ids, URLs, states, CCNs, coordinates) and, with
    `--online N`, a sample of its websites; exit 1 on an error or a site without a file."""
    from core.errors import UnreadableFile
    from core.findings import Severity
    from ingest.registry_check import check_registry

    path = sources or settings.current().sources
    try:
        checked = check_registry(path)
    except UnreadableFile as error:
        err.print(error_line(error), soft_wrap=True)
        raise typer.Exit(2) from None
    out = _wide()
    warnings = sum(p.severity != Severity.ERROR for p in checked.problems)
    out.print(plain(f"{path}: {checked.entries:,} entries, {checked.errors:,} errors, "
                    f"{warnings:,} warnings"))  # fmt: skip
    if checked.problems:
        table = Table("line", "facility", "severity", "rule", "problem", title_justify="left",
                      title=f"problems (first {min(show, len(checked.problems))})")  # fmt: skip
        for p in checked.problems[:show]:
            table.add_row(str(p.line), plain(p.facility_id), str(p.severity), p.rule,
                          plain(p.message))  # fmt: skip
        out.print(table)
    bad = checked.errors > 0
    if online and not bad:
        bad = _online(_entries(path), online, seed)
    if bad:
        raise typer.Exit(1)


def _online(entries: list, n: int, seed: int) -> bool:  # type: ignore[type-arg]
    """Ask `n` sampled websites for their cms-hpt.txt; whether any has no file for us."""
    from ingest.download import Limits
    from ingest.site_check import SiteOutcome, check_sites

    limits = Limits.from_settings()
    interval = settings.current().sources_check_interval
    with err.status(f"asking {n} websites for their cms-hpt.txt, one request per "
                    f"{interval:g} s"):  # fmt: skip
        sites = check_sites(entries, n, limits=limits, interval=interval, seed=seed)
    title = f"{len(sites)} websites asked for cms-hpt.txt"
    table = Table("website", "facilities", "outcome", "HTTP", "files", "message",
                  title=title, title_justify="left")  # fmt: skip
    for s in sites:
        table.add_row(plain(s.website), str(s.facilities), str(s.outcome), str(s.status or "-"),
                      str(s.files), plain(s.message))  # fmt: skip
    out = _wide()
    out.print(table)
    counts = {o: sum(s.outcome == o for s in sites) for o in SiteOutcome}
    out.print(plain(", ".join(f"{count} {outcome}" for outcome, count in counts.items())))
    return any(s.outcome != SiteOutcome.FOUND for s in sites)
