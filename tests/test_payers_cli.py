"""The review queue of payer names: `hpt payers unmapped` lists a name no canonical payer
was found for, `hpt payers map` adds a local alias, and the next publish derives again only
the file that publishes it."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from hpt.cli import app
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse, reader, writer
from warehouse.marts import rebuild
from warehouse.publish import publish

runner = CliRunner()
ODD = "Acme Helth [Partners] 7"  # made up, with Rich markup in it


def hpt(wh: Warehouse, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", str(wh.db_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def two_facilities(wh: Warehouse) -> None:
    load_facility(wh, "tx-a", [
        rate("99213", ODD, "Gold PPO", 100.0),
        rate("99214", ODD, "Silver HMO", 150.0),
        rate("99213", "Aetna", "PPO", 110.0),
    ])  # fmt: skip
    load_facility(wh, "tx-b", [rate("99213", "Cigna", "OAP", 120.0)])
    publish(wh)


def judged(wh: Warehouse) -> dict[str, tuple[str, int]]:
    """Each facility's judged price_compare file and its modification time."""
    with reader(wh) as con:
        rows = con.execute("SELECT facility_id, price_compare_path FROM mart_files").fetchall()
    return {f: (p, wh.resolve(p).stat().st_mtime_ns) for f, p in rows}


def test_map_an_unmapped_name_and_derive_only_its_file(wh: Warehouse) -> None:
    two_facilities(wh)
    code, out = hpt(wh, "payers", "unmapped", "--json")
    assert code == 0, out
    [row] = json.loads(out)
    assert (row["payer_name"], row["rates"], row["facilities"]) == (ODD, 2, 1)
    assert row["plan_names"] == ["Gold PPO", "Silver HMO"]
    assert len(row["candidates"]) == 3 and row["next_publish"] is None
    assert all(0 <= c["score"] <= 100 for c in row["candidates"])
    code, out = hpt(wh, "payers", "unmapped", "--min-rates", "3")
    assert code == 0 and "no unmapped payer names with 3+ rates" in out
    code, out = hpt(wh, "payers", "unmapped")
    assert code == 0 and ODD in out.replace("\n", "")  # shown as typed, not as markup

    code, out = hpt(wh, "payers", "map", ODD, "aetna")  # any case: stored as the registry's
    assert code == 0 and "applies at the next publish" in out
    with wh.local_aliases.open(newline="", encoding="utf-8") as handle:
        [added] = list(csv.DictReader(handle))
    assert (added["alias"], added["payer"]) == (ODD, "Aetna") and added["added_at"]
    code, out = hpt(wh, "payers", "unmapped", "--json")
    assert json.loads(out)[0]["next_publish"] == "Aetna"  # published maps unchanged so far

    before = judged(wh)
    with writer(wh) as con:
        report = rebuild(con, wh)
    assert (report.remapped, report.folded_in, report.folded_out) == (1, 1, 1)
    publish(wh)
    after = judged(wh)
    assert after["tx-b"] == before["tx-b"]  # Cigna's facility was not derived again
    assert after["tx-a"][0] != before["tx-a"][0]
    with reader(wh) as con:
        payers = con.execute(
            "SELECT payer, sum(rates) FROM price_compare WHERE facility_id = 'tx-a' "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        shares = con.execute(
            "SELECT facility_id, share_payer_mapped FROM facility_summary ORDER BY ALL"
        ).fetchall()
        mapped = con.execute(
            "SELECT payer, match_method FROM payer_map WHERE payer_name = ?", [ODD]
        ).fetchall()
    assert payers == [("Aetna", 3)]
    assert shares == [("tx-a", 1.0), ("tx-b", 1.0)]
    assert mapped == [("Aetna", "exact"), ("Aetna", "exact")]  # one row per plan name
    assert json.loads(hpt(wh, "payers", "unmapped", "--json")[1]) == []

    publish(wh)  # nothing changed since: nothing derived again
    assert judged(wh) == after
    # A file ingested now is derived with the alias at once.
    load_facility(wh, "tx-c", [rate("99213", ODD.lower(), "PPO", 130.0)])
    publish(wh)
    with reader(wh) as con:
        new = con.execute(
            "SELECT DISTINCT payer FROM price_compare WHERE facility_id = 'tx-c'"
        ).fetchall()
    assert new == [("Aetna",)]
    assert judged(wh)["tx-b"] == before["tx-b"]


def test_an_unknown_canonical_payer_is_refused_in_one_line(wh: Warehouse) -> None:
    code, out = hpt(wh, "payers", "map", "Acme Health", "Aetnna")
    assert code == 2
    assert out.strip().count("\n") == 0, out
    assert out.startswith("error: 'Aetnna' is no canonical payer; closest: Aetna;")
    assert not wh.local_aliases.exists()
    code, out = hpt(wh, "payers", "map", "[12345]", "Aetna")
    assert code == 2 and "no words to match" in out


def test_unmapped_needs_a_published_warehouse(wh: Warehouse) -> None:
    code, out = hpt(wh, "payers", "unmapped")
    assert code == 1 and out.startswith("error: no published warehouse")
