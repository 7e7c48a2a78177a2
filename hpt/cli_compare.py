"""`hpt compare`: what each hospital charges for one code, from the published snapshot."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hpt.cli import DbOption, app, console, err, plain, published


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:,.2f}"


@app.command()
def compare(
    code: Annotated[str, typer.Argument(help="A code (99213), or type:code (MS-DRG:470).")],
    state: Annotated[str | None, typer.Option(help="Two-letter state of the facility.")] = None,
    payer: Annotated[
        str | None, typer.Option(help="Payer, any published spelling (bcbs, UHC, Aetna).")
    ] = None,
    setting: Annotated[str | None, typer.Option(help="inpatient, outpatient or both.")] = None,
    plan_type: Annotated[
        str | None,
        typer.Option(
            help="Plan type, e.g. commercial_ppo, medicare_advantage_hmo, medicaid_managed_care "
            "(all in docs/payers.md)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (cheapest first).")] = 50,
    db: DbOption = None,
) -> None:
    """Compare the comparable prices of one code across facilities, payers and plan types."""
    from warehouse.queries import compare as compare_rows
    from warehouse.queries import search_codes

    con = published(db)
    try:
        rows = compare_rows(
            con, code, setting=setting, state=state, payer=payer, plan_type=plan_type
        )
        names = search_codes(con, code.split(":")[-1], limit=1)
    finally:
        con.close()
    if rows.is_empty():
        err.print(plain(f"no comparable prices for {code} with these filters"))
        raise typer.Exit(1)
    title = code if names.is_empty() else f"{code}: {names['display_name'][0]}"
    table = Table(title=plain(title), title_justify="left")
    money = ("median", "gross", "cash")
    for column in ("facility", "state", "payer", "plan type", "rates", *money):
        if column in money or column in {"state", "rates"}:
            table.add_column(column, justify="right", no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    for r in rows.head(limit).iter_rows(named=True):
        unit = f"/{r['price_unit']}" if r["price_unit"] else ""
        table.add_row(
            *map(plain, (r["hospital_name"] or r["facility_id"], r["state"], r["payer"],
                         r["plan_type"])),
            f"{r['comparable_rates']}/{r['rates']}",
            plain(_money(r["median_dollar"]) + unit),
            plain(_money(r["gross_charge"]) + unit),
            plain(_money(r["discounted_cash"]) + unit),
        )  # fmt: skip
    console.print(table)
    if rows.height > limit:
        console.print(f"{rows.height - limit:,} more rows; narrow with --state/--payer/--limit")
