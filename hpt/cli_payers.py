"""`hpt payers unmapped` and `hpt payers map`: the review queue of payer spellings the
registry doesn't know, and the warehouse's own aliases that map them (docs/payers.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from hpt.cli import DbOption, app, console, db_path, err, error_line, plain, published
from hpt.cli_acquire import _wide

payers_app = typer.Typer(
    help="Payer spellings no canonical payer was found for: review them, map them.",
    no_args_is_help=True,
)
app.add_typer(payers_app, name="payers")


@payers_app.command("unmapped")
def unmapped(
    min_rates: Annotated[
        int, typer.Option(min=1, help="Only spellings with at least this many rates.")
    ] = 1,
    limit: Annotated[int, typer.Option(min=1, help="Spellings to print (most rates first).")] = 50,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List payer names no canonical payer was found for: rates, facilities, best guesses."""
    from transform.local_aliases import read
    from transform.payers import candidates, rules
    from warehouse.db import Warehouse
    from warehouse.queries import unmapped_payers

    wh = Warehouse.at(db_path(db))
    con = published(db)
    try:
        rows = unmapped_payers(con, min_rates)
    finally:
        con.close()
    local = read(wh.local_aliases)
    mine = rules(local)
    found = []
    for row in rows.head(limit).iter_rows(named=True):
        pending = mine.cached(row["payer_name"]) if local else None
        guesses = candidates(row["payer_name"], 3, local)
        found.append({
            **row,
            "candidates": [{"payer": p, "score": score} for p, score in guesses],
            "next_publish": pending.payer if pending else None,
        })  # fmt: skip
    if as_json:
        console.print_json(json.dumps(found, default=str))
        return
    if not found:
        console.print(plain(f"no unmapped payer names with {min_rates:,}+ rates"))
        return
    table = Table(title="unmapped payer names", title_justify="left")
    for column in ("payer name", "rates", "facilities", "plans", "closest canonical payers",
                   "next publish"):  # fmt: skip
        numeric = column in ("rates", "facilities")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=numeric)
    for r in found:
        plans = r["plan_names"] or []
        shown = "; ".join(plans[:3]) + (f" (+{len(plans) - 3})" if len(plans) > 3 else "")
        near = "; ".join(f"{c['payer']} ({c['score']:.0f})" for c in r["candidates"])
        table.add_row(
            plain(r["payer_name"]), f"{r['rates']:,}", f"{r['facilities']:,}", plain(shown),
            plain(near), plain(r["next_publish"]),
        )  # fmt: skip
    out = _wide()
    out.print(table)
    if rows.height > limit:
        out.print(f"{rows.height - limit:,} more; raise --min-rates or --limit")
    out.print(plain('map one with: hpt payers map "PAYER NAME" "CANONICAL PAYER"'))


@payers_app.command("map")
def map_name(
    spelling: Annotated[str, typer.Argument(help="The payer name as files publish it.")],
    payer: Annotated[str, typer.Argument(help="The canonical payer of the registry.")],
    db: DbOption = None,
) -> None:
    """Map a payer name to a canonical payer here (a local alias, at the next publish)."""
    from transform.local_aliases import append, key
    from transform.payers import canonical_name, close_payers
    from warehouse.db import Warehouse

    canonical = canonical_name(payer)
    if canonical is None:
        closest = "; ".join(close_payers(payer))
        err.print(error_line(f"{payer!r} is no canonical payer; closest: {closest}"),
                  soft_wrap=True)  # fmt: skip
        raise typer.Exit(2)
    if not key(spelling):
        err.print(error_line(f"{spelling!r} has no words to match (ids and punctuation only)"),
                  soft_wrap=True)  # fmt: skip
        raise typer.Exit(2)
    wh = Warehouse.at(db_path(db))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    append(wh.local_aliases, spelling.strip(), canonical, now)
    console.print(
        plain(f"{spelling.strip()} → {canonical}: applies at the next publish (hpt publish)"),
        soft_wrap=True,
    )
