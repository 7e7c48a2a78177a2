"""Which files a change of the warehouse's own payer aliases touches.

A file's payer map is derived when it is ingested (`stage_file`), with the local aliases in
force then. When they change (`hpt payers map`), the next publish maps the distinct
spellings of the files' payer maps again and derives again only the files where a spelling
now maps differently. Mapping the spellings again costs milliseconds per thousand
exact ones; the heavy work, deriving a file again, follows the files the change touches.
"""

from __future__ import annotations

import duckdb
import polars as pl

from transform.payers import PAYER_MAP_SCHEMA, LocalAliases, payer_map

_MAPPING = [c for c in PAYER_MAP_SCHEMA if c not in ("payer_name", "plan_name")]
_SAME_PAIR = (
    "s.payer_name IS NOT DISTINCT FROM f.payer_name "
    "AND s.plan_name IS NOT DISTINCT FROM f.plan_name"
)


def remapped(
    con: duckdb.DuckDBPyConnection,
    maps: list[tuple[str, str, str | None]],
    local: LocalAliases,
) -> list[str]:
    """Ids of the files (file_id, its payer_map.parquet, its facility's state) whose payer
    map differs from what the registry and `local` say now. Leaves the pairs that changed
    in the temp table `remapped_pairs` (payer_name, plan_name, state). Every map must
    exist (full paths or URLs, `core.storage`)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE remapped_pairs "
        "(payer_name VARCHAR, plan_name VARCHAR, state VARCHAR)"
    )
    found = list(maps)
    if not found:
        return []
    con.register(
        "remap_files",
        pl.DataFrame(found, schema=["file_id", "path", "state"], orient="row"),
    )
    paths = "[" + ", ".join("'" + p.replace("'", "''") + "'" for _, p, _ in found) + "]"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE staged_maps AS SELECT r.file_id, r.state, m.* FROM "
        f"read_parquet({paths}, filename = true, union_by_name = true) m "
        "JOIN remap_files r ON r.path = m.filename"
    )
    # A generic Blue name maps by the facility's state: map each state's pairs.
    fresh = []
    for state in {s for _, _, s in found}:
        pairs = con.sql(
            "SELECT DISTINCT payer_name, plan_name FROM staged_maps "
            "WHERE state IS NOT DISTINCT FROM ?",
            params=[state],
        ).pl()
        fresh.append(payer_map(pairs, local, state).with_columns(state=pl.lit(state, pl.String)))
    con.register("fresh_map", pl.concat(fresh))
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM f.{c}" for c in _MAPPING)
    con.execute(
        "INSERT INTO remapped_pairs SELECT DISTINCT s.payer_name, s.plan_name, s.state "
        f"FROM staged_maps s JOIN fresh_map f ON {_SAME_PAIR} "
        f"AND s.state IS NOT DISTINCT FROM f.state WHERE {differs}"
    )
    rows = con.execute(
        f"SELECT DISTINCT s.file_id FROM staged_maps s JOIN remapped_pairs f ON {_SAME_PAIR} "
        "AND s.state IS NOT DISTINCT FROM f.state "
        "ORDER BY 1"
    ).fetchall()
    con.execute("DROP TABLE staged_maps")
    for name in ("remap_files", "fresh_map"):
        con.unregister(name)
    return [r[0] for r in rows]


def forget_remapped_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the list of changed pairs. (The catalog's payer map holds each file's own rows:
    the files folded out and in again replace theirs.)"""
    con.execute("DROP TABLE remapped_pairs")
