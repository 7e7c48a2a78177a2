"""Which files a change of the warehouse's own payer aliases touches.

A file's payer map is derived when it is ingested (`stage_file`), with the local aliases in
force then. When they change (`hpt payers map`), the next publish maps the distinct
spellings of the files' payer maps again and derives again only the files where a spelling
now maps differently. Mapping the spellings again costs milliseconds per thousand
exact ones; the heavy work, deriving a file again, follows the files the change touches.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from transform.payers import PAYER_MAP_SCHEMA, LocalAliases, payer_map

_MAPPING = [c for c in PAYER_MAP_SCHEMA if c not in ("payer_name", "plan_name")]
_SAME_PAIR = (
    "s.payer_name IS NOT DISTINCT FROM f.payer_name "
    "AND s.plan_name IS NOT DISTINCT FROM f.plan_name"
)


def remapped(
    con: duckdb.DuckDBPyConnection, maps: list[tuple[str, Path]], local: LocalAliases
) -> list[str]:
    """Ids of the files (file_id, its payer_map.parquet) whose payer map differs from what
    the registry and `local` say now. Leaves the pairs that changed in the temp table
    `remapped_pairs` (payer_name, plan_name)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE remapped_pairs (payer_name VARCHAR, plan_name VARCHAR)"
    )
    found = [(file_id, str(path)) for file_id, path in maps if path.exists()]
    if not found:
        return []
    con.register("remap_files", pl.DataFrame(found, schema=["file_id", "path"], orient="row"))
    paths = "[" + ", ".join("'" + p.replace("'", "''") + "'" for _, p in found) + "]"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE staged_maps AS SELECT r.file_id, m.* FROM "
        f"read_parquet({paths}, filename = true, union_by_name = true) m "
        "JOIN remap_files r ON r.path = m.filename"
    )
    pairs = con.sql("SELECT DISTINCT payer_name, plan_name FROM staged_maps").pl()
    con.register("fresh_map", payer_map(pairs, local))
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM f.{c}" for c in _MAPPING)
    con.execute(
        "INSERT INTO remapped_pairs SELECT DISTINCT s.payer_name, s.plan_name "
        f"FROM staged_maps s JOIN fresh_map f ON {_SAME_PAIR} WHERE {differs}"
    )
    rows = con.execute(
        f"SELECT DISTINCT s.file_id FROM staged_maps s JOIN remapped_pairs f ON {_SAME_PAIR} "
        "ORDER BY 1"
    ).fetchall()
    con.execute("DROP TABLE staged_maps")
    for name in ("remap_files", "fresh_map"):
        con.unregister(name)
    return [r[0] for r in rows]


def forget_remapped_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the catalog's rows of the pairs that map differently now: the files folded in
    again bring them back, mapped anew."""
    con.execute(
        f"DELETE FROM payer_map s WHERE EXISTS (SELECT 1 FROM remapped_pairs f WHERE {_SAME_PAIR})"
    )
    con.execute("DROP TABLE remapped_pairs")
