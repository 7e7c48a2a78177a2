"""The comparison marts: comparable prices by code, facility, payer and plan type.

Built incrementally, so their cost follows the files that changed, not the warehouse:

* `stage_file(folder)` runs when a file is ingested, in the worker, without the catalog:
  it writes the file's derived data beside its charges (`<folder>/marts/`): its rate × code
  rows that may be compared (the comparable-price rules applied), the counts and medians per
  group that no judgement changes, its payer map, its payer prices counted per distinct
  value, and its counts.
* `rebuild(con, wh)` runs in the writer's catalog on every publish and folds in only the files
  that became current or stopped being current since the last build: their price values
  update the outlier bands of the codes they price; each new current file is judged
  against those bands once, into its own `price_compare` and `facility_code_prices`
  Parquet files; the cross-facility marts (`code_summary`, `code_catalog`) are recomputed
  for the codes whose facility prices changed. A facility whose file did not change keeps
  the judgement made when its file was folded in (`rebuild(con, wh, force=True)` re-judges
  all). The small `facility_summary` is rebuilt each time. Idempotent.
* A new current file whose facility had another file folded in is compared with it there,
  from the two files' judged marts alone (`warehouse.marts.changes`: `price_changes`,
  `code_changes`, `file_timeline`).

The warehouse's own payer aliases (`transform.local_aliases`) are not part of the rules'
signature: when they change, a publish derives again only the files whose payer map they
change (`warehouse.marts.remap`) and folds those out and in again.

Like `files.data_path`, the mart file paths in `mart_files` are relative to the data's
storage (`Warehouse.relative`); files are read and written at `wh.location`, a local path
or an `s3://` URL (`core.storage`): DuckDB reads, globs and writes single files there
through the catalog connection's registered filesystem; on an object store a publish's fold
reads and writes them in a local copy, fetched and put many at once (`mirror`). Deriving a
file's data again on an object store (new rules, new local aliases) copies its charges to a
local folder, derives there and puts `marts/` back.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from core import settings
from core.storage import Storage
from core.warehouse_files import open_snapshot, snapshot_storage
from transform.local_aliases import digest
from transform.local_aliases import read as read_local_aliases
from transform.payers import PAYER_MAP_SCHEMA, LocalAliases, payer_map
from warehouse.db import Warehouse
from warehouse.marts import changes, mirror, remap, runs
from warehouse.service_codes import MACROS, create_macros
from warehouse.views import CHARGE_COLUMNS, parquet_source

log = logging.getLogger("hpt.marts")
_STAGE_SQL = ("01_comparable_charges.sql", "02_rate_codes.sql")
_JUDGE_SQL = "03_price_compare.sql"
_SUMMARY_SQL = "04_code_summary.sql"
_BOUNDS_SQL = "05_bounds.sql"
_VIEWS_SQL = ("01_comparable_charges.sql", "06_views.sql")
_DATA = ("payers.csv", "payer_aliases.csv", "blue_plans.csv", "shoppable_services.csv")

#: The folder of a file's derived data, inside its charges folder.
MARTS = "marts"
#: The folder of a file's judged marts (one pair of Parquet files per fold that judged it),
#: apart from `marts/`: deriving a file's data again replaces `marts/` while published
#: snapshots still read the judgement they list.
JUDGED = "judged"

#: How a file's judged marts are written. They are sorted by code, and the dashboard reads
#: one code at a time from every facility's file: in row groups of 2,048 rows a query reads
#: in each file only the row group(s) whose code range holds the code (their statistics
#: skip the others). DuckDB's default row group, 122,880 rows, is a whole facility: at 500
#: facilities a code's query read ~0.5 GB, now ~20 MB.
_JUDGED_PARQUET = "(FORMAT parquet, ROW_GROUP_SIZE 2048)"

#: A file's index of where each service code's rates are in it: per code (keyed as in
#: `comparable_charge_codes`) the first and last `row_no`, sorted by code. The charges are
#: written in row order in row groups of `CHARGE_ROW_GROUP` rows, so one code's rates at a
#: few facilities are read from the row groups holding those rows (`scoped_comparable`),
#: not from every rate of each file: the `codes` lists alone take ~0.15 s per million
#: rates to decode.
CODE_ROWS = "code_rows.parquet"

#: A code's rates are indexed by stretches of this many rows (`row_no`).
_ROWS_GAP = 256
#: Stretches of rows read apart at most (those of every file that prices the code, in one
#: scan of those files); closer ones are read as one (a row group holds `CHARGE_ROW_GROUP`
#: rows), and more are read from the first row to the last.
_STRETCHES = 256
_STRETCH_GAP = 4_096

#: Catalog tables only the writer needs (published snapshots leave them out).
WRITER_ONLY = ("mart_price_bins", "mart_facility_code_prices", "mart_keys", "mart_runs_retired")

PRICE_COMPARE_COLUMNS = {
    "code_type": "VARCHAR", "code": "VARCHAR", "setting": "VARCHAR", "price_unit": "VARCHAR",
    "facility_id": "VARCHAR", "payer": "VARCHAR", "plan_type": "VARCHAR", "rates": "BIGINT",
    "comparable_rates": "BIGINT", "min_dollar": "DOUBLE", "median_dollar": "DOUBLE",
    "max_dollar": "DOUBLE", "gross_charge": "DOUBLE", "discounted_cash": "DOUBLE",
    "published_code_type": "VARCHAR",
}  # fmt: skip
FACILITY_PRICES_COLUMNS = {
    "code_type": "VARCHAR", "code": "VARCHAR", "setting": "VARCHAR", "price_unit": "VARCHAR",
    "facility_id": "VARCHAR", "rates": "BIGINT", "comparable_rates": "BIGINT",
    "median_dollar": "DOUBLE", "gross_charge": "DOUBLE", "discounted_cash": "DOUBLE",
    "description": "VARCHAR", "published_code_type": "VARCHAR",
}  # fmt: skip
_MART_COLUMNS = {
    "price_compare": PRICE_COMPARE_COLUMNS,
    "facility_code_prices": FACILITY_PRICES_COLUMNS,
}


@dataclass(frozen=True)
class BuildReport:
    """What one rebuild did."""

    #: No file was folded in or out: only the small marts were rebuilt.
    skipped_heavy: bool
    seconds: float
    folded_in: int = 0
    folded_out: int = 0
    #: Files derived again because the local payer aliases changed their payer map (those
    #: already folded in are folded out and in again, and counted in the two above).
    remapped: int = 0


def _sql(name: str) -> str:
    return resources.files("warehouse.marts").joinpath(name).read_text(encoding="utf-8")


def _data(name: str) -> str:
    return resources.files("transform").joinpath("data", name).read_text(encoding="utf-8")


def _quote(path: str | Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


#: The shape of a file's derived data (`stage_file`): a new one derives every file again.
_STAGE_VERSION = "10"


#: Signatures of earlier releases whose rules are those of today, only written otherwise
#: (the bounds computed in fewer sorts, to the same values): a warehouse built under one of
#: them is not derived again.
SAME_RULES = frozenset({
    "f2654ead8b5e39755da48b5889805deaf00509697efc5616f8150168e448bece",
    # The bounds' middle positions found in polars (`_bounds`), and the judged
    # `price_compare` written by its COPY straight from a view: the same values.
    "647c64f210f42bff4b62a74f919a8d7d95edae4ba46a8777203e77f34a0a9641",
})  # fmt: skip


def signature() -> str:
    """What every file's derived data depends on: the rules (their data and SQL)."""
    digest = hashlib.sha256(_STAGE_VERSION.encode())
    digest.update(MACROS.encode())
    for name in _DATA:
        digest.update(_data(name).encode())
    for name in (*_STAGE_SQL, _JUDGE_SQL, _BOUNDS_SQL):
        digest.update(_sql(name).encode())
    return digest.hexdigest()


# --- per file, at ingest -------------------------------------------------------------------


def stage_file(folder: str | Path, local: LocalAliases = (), state: str | None = None) -> Path:
    """Derive one file's marts data from its charges folder; write it to `folder/marts/`.

    Reads only this file's Parquet parts and needs no catalog, so it runs in the ingesting
    worker; `local` are its warehouse's own payer aliases, `state` its facility's (a generic
    Blue Cross Blue Shield name is that state's Blue company). Written to a temporary folder
    renamed at the end: `marts/` is whole or absent.
    """
    folder = Path(folder)
    out = folder / MARTS
    tmp = folder / f".{MARTS}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # A small file's derivation is mostly fixed costs: it reuses the thread's database. A
    # big one gets a database of its own, closed after it, so its working set is returned.
    small = sum(p.stat().st_size for p in folder.glob("*.parquet")) <= _REUSE_BYTES
    con = _stage_connection() if small else _new_stage_connection()
    done = False
    try:
        con.execute("SET memory_limit = ?", [settings.current().mart_memory_limit])
        parts = parquet_source([str(folder / "*.parquet")], "")
        con.execute(
            f"CREATE VIEW standard_charges AS SELECT {CHARGE_COLUMNS} "
            f"FROM read_parquet({parts}, union_by_name = true)"
        )
        pairs = con.sql(
            "SELECT payer_name, plan_name, count(*) AS rates FROM standard_charges "
            "WHERE payer_name IS NOT NULL OR plan_name IS NOT NULL GROUP BY ALL"
        ).pl()
        # The file's pairs with their rates: the review queue of unmapped spellings counts them.
        con.register("staged_payer_map", payer_map(pairs, local, state).join(
            pairs, on=["payer_name", "plan_name"], nulls_equal=True
        ))  # fmt: skip
        con.execute(
            "CREATE TABLE payer_map AS SELECT (SELECT file_id FROM standard_charges LIMIT 1) "
            "AS file_id, * FROM staged_payer_map"
        )
        con.unregister("staged_payer_map")
        for name in _STAGE_SQL:
            con.execute(_sql(name))
        # What no judgement changes, computed here once: the rates that may be compared
        # (judged at publish against the cross-facility bands), and per group the counts
        # and medians of gross charge, cash price and description.
        con.execute(
            "COPY (SELECT k, payer, plan_type, has_payer, comparable_dollar AS dollar "
            f"FROM rate_codes WHERE comparable) TO {_quote(tmp / 'candidates.parquet')}"
        )
        _stage_groups(con, tmp)
        con.execute(
            "COPY (SELECT k, round(100 * ln(comparable_dollar))::INTEGER AS bin, "
            "count(*)::BIGINT AS n FROM rate_codes "
            "WHERE comparable AND has_payer AND comparable_dollar > 0 "
            f"GROUP BY ALL) TO {_quote(tmp / 'price_bins.parquet')}"
        )
        con.execute(
            "COPY (SELECT * EXCLUDE (file_id) FROM payer_map) "
            f"TO {_quote(tmp / 'payer_map.parquet')}"
        )
        _stage_code_rows(con, tmp)
        con.execute(
            f"""
            COPY (
                SELECT
                    count(*) FILTER (payer_name IS NOT NULL OR plan_name IS NOT NULL) AS rates,
                    count(*) FILTER ((payer_name IS NOT NULL OR plan_name IS NOT NULL)
                                     AND exclusion_reason IS NULL) AS comparable_rates,
                    count(*) FILTER (payer_matched) AS mapped_rates,
                    (SELECT count(DISTINCT (code_type, code)) FROM rate_codes) AS codes
                FROM comparable_charges
            ) TO {_quote(tmp / "counts.parquet")}
            """
        )
        done = True
    finally:
        if small:
            _release_stage_connection(con, clean=done)
        else:
            con.close()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


_stage_local = threading.local()

#: Files whose Parquet parts hold at most this many bytes reuse the thread's database.
_REUSE_BYTES = 16 << 20


def _new_stage_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    create_macros(con)
    return con


def _stage_connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB for `stage_file`, with the service-code macros: opened
    once (a new database costs ~15 ms, a tiny file's whole derivation ~60 ms) and emptied
    of the file's tables and views after each file."""
    con: duckdb.DuckDBPyConnection | None = getattr(_stage_local, "con", None)
    if con is None:
        con = _stage_local.con = _new_stage_connection()
    return con


def _release_stage_connection(con: duckdb.DuckDBPyConnection, *, clean: bool) -> None:
    """Drop what a file's derivation created, keeping the connection for the next file; or,
    after a failure (or if anything is left), close it: the next file opens a fresh one."""
    if clean:
        try:
            for kind, name, temporary in con.execute(
                "SELECT 'VIEW', view_name, temporary FROM duckdb_views() WHERE NOT internal "
                "UNION ALL SELECT 'TABLE', table_name, temporary FROM duckdb_tables() "
                "WHERE NOT internal"
            ).fetchall():
                schema = "temp." if temporary else ""
                con.execute(f'DROP {kind} IF EXISTS {schema}"{name}"')
            left = con.execute(
                "SELECT (SELECT count(*) FROM duckdb_views() WHERE NOT internal) "
                "+ (SELECT count(*) FROM duckdb_tables() WHERE NOT internal)"
            ).fetchall()[0][0]
            clean = left == 0
        except duckdb.Error:
            clean = False
    if not clean:
        _stage_local.con = None
        con.close()


#: Rate × code rows per pass of the group aggregates: medians hold their values per group,
#: so a big file is aggregated in slices of its groups (by key) to stay within the memory
#: limit instead of spilling, which is many times slower.
_ROWS_PER_PASS = 2_000_000

# Per group: the price figures as if no rate were an outlier and the lowest and highest
# payer rate (at publish, a group whose payer rates all sit inside its band keeps these;
# only the few with an outlier are judged rate by rate), the payer rates, and the medians of
# gross charge and cash price. (median over a column that is NULL where excluded: with
# FILTER it is many times slower.)
_GROUP_STATS = """
    count(dollar) AS comparable_rates, min(dollar) AS min_dollar,
    median(dollar) AS median_dollar, max(dollar) AS max_dollar,
    min(payer_dollar) AS low, max(payer_dollar) AS high,
    count(*) FILTER (has_payer) AS rates, median(gross_per_unit) AS gross_charge,
    median(cash_per_unit) AS discounted_cash
"""


def _stage_groups(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write `groups-NNN.parquet` (per group and canonical payer × plan type) and
    `codes-NNN.parquet` (per group) from `rate_codes`, in slices of the groups."""
    rows, facility = con.execute(
        "SELECT (SELECT count(*) FROM rate_codes), "
        "(SELECT facility_id FROM standard_charges LIMIT 1)"
    ).fetchall()[0]
    con.execute(
        "CREATE TEMP VIEW rate_dollars AS SELECT *, "
        "CASE WHEN comparable THEN comparable_dollar END AS dollar, "
        "CASE WHEN comparable AND has_payer THEN comparable_dollar END AS payer_dollar "
        "FROM rate_codes"
    )
    keys = "k, code_type, code, setting, price_unit, ?::VARCHAR AS facility_id"
    for name, select, rows_per_pass in (
        ("groups", f"{keys}, payer, plan_type, {_GROUP_STATS}", _ROWS_PER_PASS),
        # Far fewer groups (no payer split): a median's cost is then its values alone.
        # The code type the facility published most for the service code (CPT or HCPCS).
        (
            "codes",
            f"{keys}, {_GROUP_STATS}, mode(description) AS description, "
            "mode(published_code_type) AS published_code_type",
            4 * _ROWS_PER_PASS,
        ),
    ):
        passes = max(1, -(-rows // rows_per_pass))
        for part in range(passes):
            target = _quote(out / f"{name}-{part:03d}.parquet")
            con.execute(
                f"COPY (SELECT {select} FROM rate_dollars WHERE k % {passes} = {part} "
                f"GROUP BY ALL) TO {target}",
                [facility],
            )


def _stage_code_rows(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write `code_rows.parquet` (`CODE_ROWS`): per service code and stretch of
    `_ROWS_GAP` rows, the first and last row of its rates there, sorted by code."""
    con.execute(
        f"""
        COPY (
            SELECT code_type, code, min(row_no) AS first_row, max(row_no) AS last_row
            FROM rate_codes GROUP BY code_type, code, row_no // {_ROWS_GAP}
            ORDER BY code_type, code, first_row
        ) TO {_quote(out / CODE_ROWS)} {_JUDGED_PARQUET}
        """
    )


def _stage(wh: Warehouse, folder: str, local: LocalAliases, state: str | None) -> None:
    """`stage_file` for a charges folder on the warehouse's storage (see the module
    docstring for an object store)."""
    if not wh.storage.remote:
        stage_file(folder, local, state)
        return
    with tempfile.TemporaryDirectory(prefix=".hpt-stage-", dir=_scratch()) as tmp:
        copy = Path(tmp) / "charges"
        copy.mkdir()
        for path, _, _ in wh.storage.files(folder):
            name = path[len(folder) + 1 :]
            if "/" not in name and name.endswith(".parquet"):
                wh.storage.filesystem.get_file(path, str(copy / name))
        out = stage_file(copy, local, state)
        wh.storage.remove(f"{folder}/{MARTS}")
        wh.storage.upload(out, f"{folder}/{MARTS}")


def _scratch() -> Path:
    folder = Path(settings.current().work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- in the catalog, at publish ------------------------------------------------------------


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT internal "
        "AND database_name = current_database()",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT temporary "
        "AND database_name = current_database()",
        [name],
    ).fetchall()
    rows2 = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
        "AND database_name = current_database()",
        [name],
    ).fetchall()
    return bool(rows[0][0] or rows2[0][0])


def _load_shoppable(con: duckdb.DuckDBPyConnection) -> None:
    frame = pl.read_csv(_data("shoppable_services.csv").encode(), infer_schema=False)
    con.register("staged_shoppable", frame)
    con.execute("CREATE OR REPLACE TABLE shoppable_services AS SELECT * FROM staged_shoppable")
    con.unregister("staged_shoppable")


def _facility_locations(con: duckdb.DuckDBPyConnection) -> None:
    """State, city and ZIP of each facility: registry columns when present, else the license."""
    cols = _columns(con, "facilities")

    def pick(*names: str) -> str:
        present = [n for n in names if n in cols]
        return f"coalesce({', '.join(present)})" if present else "NULL::VARCHAR"

    con.execute(
        f"""
        CREATE OR REPLACE VIEW facility_locations AS
        SELECT facility_id, hospital_name,
               upper({pick("state", "license_state")}) AS state,
               {pick("city")} AS city,
               {pick("zip", "zip_code")} AS zip
        FROM facilities
        """
    )


def _mart_views(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> None:
    """The judged marts as views over their code-sorted runs; the analyst views."""
    runs.create_views(con, wh, _MART_COLUMNS)
    create_macros(con)
    for name in _VIEWS_SQL:
        con.execute(_sql(name))
    changes.create_views(con, wh)


def _files_to_fold(
    con: duckdb.DuckDBPyConnection, wh: Warehouse, full: bool
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(file_id, facility_id, charges folder) of current files not folded in yet, and
    (file_id, facility_id) of folded files no longer current (all of them when `full`)."""
    added = con.execute(
        "SELECT c.file_id, c.facility_id, c.data_path FROM current_files c "
        + ("" if full else "ANTI JOIN mart_files m USING (file_id) ")
        + "ORDER BY c.facility_id"
    ).fetchall()
    folders = [(file_id, facility_id, wh.location(path)) for file_id, facility_id, path in added]
    removed = con.execute(
        "SELECT m.file_id, m.facility_id FROM mart_files m "
        + ("" if full else "ANTI JOIN current_files c USING (file_id) ")
        + "ORDER BY m.facility_id"
    ).fetchall()
    return folders, removed


def _states(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each facility's state (`facility_locations`), for its generic Blue payer names."""
    rows = con.execute(
        "SELECT facility_id, state FROM facility_locations WHERE state IS NOT NULL"
    ).fetchall()
    return dict(rows)


def _moved_facilities(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Folded files whose facility's state changed since (registry data, a new license)."""
    return con.execute(
        "SELECT m.file_id, m.facility_id FROM mart_files m JOIN facility_locations l "
        "USING (facility_id) WHERE m.state IS DISTINCT FROM l.state"
    ).fetchall()


def _fold(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    files: mirror.Mirror,
    added: list[tuple[str, str, str]],
    removed: list[tuple[str, str]],
    moved: list[tuple[str, str]],
    built_at: dt.datetime,
    local: LocalAliases,
    before: dict[str, changes.Judged],
) -> None:
    """Fold files out of and into the marts (see the module docstring); a file whose
    facility had another file folded in (`before`, by facility) is compared with it.

    On an object store (`files` a scratch folder), what the fold reads is fetched first and
    what it writes put on the store at the end, many objects at once
    (`warehouse.marts.mirror`)."""
    gone = _data_paths(con, wh, [file_id for file_id, _ in removed])
    previous = [
        wh.location(path)
        for file_id, facility_id, _ in added
        if (old := before.get(facility_id)) is not None and old.file_id != file_id
        for path in (old.price_compare_path, old.facility_prices_path)
    ]
    files.fetch(
        [f"{folder}/{MARTS}" for _, _, folder in added],
        [_values_file(p) for p in gone] + previous,
    )
    states = _states(con)
    for _, facility_id, folder in added:
        if not files.exists(f"{folder}/{MARTS}/counts.parquet"):
            # Loaded before derived data existed, or by hand.
            _stage(wh, folder, local, states.get(facility_id))
            files.fetch([f"{folder}/{MARTS}"], [])
    _fold_files(con, wh, files, added, removed, moved, built_at, before, gone)
    files.put()  # before the catalog rows naming them are committed


def _fold_files(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    files: mirror.Mirror,
    added: list[tuple[str, str, str]],
    removed: list[tuple[str, str]],
    moved: list[tuple[str, str]],
    built_at: dt.datetime,
    before: dict[str, changes.Judged],
    gone: list[str],
) -> None:
    """`_fold`, reading and writing the files' data where `files` places them."""
    marts = [files.path(f"{folder}/{MARTS}") for _, _, folder in added]
    out_ids = [file_id for file_id, _ in removed]
    stamp = built_at.strftime("%Y%m%dT%H%M%S%f")
    # Groups whose facility prices change: of the files going out, and (below) coming in.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE folded_out AS SELECT unnest(?::VARCHAR[]) AS file_id",
        [out_ids],
    )
    # With the state whose rows of `code_summary` they change (besides 'ALL'): a folded
    # file's as folded and its facility's now (they differ when it moved).
    groups = """
        SELECT DISTINCT p.code_type, p.code, p.setting, p.price_unit, s.state
        FROM mart_facility_code_prices p JOIN (
            SELECT m.file_id, unnest([m.state, l.state]) AS state
            FROM mart_files m SEMI JOIN {files} USING (file_id)
            LEFT JOIN facility_locations l USING (facility_id)
        ) s USING (file_id)
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE affected_groups AS " + groups.format(files="folded_out")
    )
    if moved:  # a facility in another state: its groups' per-state rows change
        con.execute(
            "CREATE OR REPLACE TEMP TABLE moved AS SELECT unnest(?::VARCHAR[]) AS file_id",
            [[i for i, _ in moved]],
        )
        con.execute("INSERT INTO affected_groups " + groups.format(files="moved"))
        con.execute(
            "UPDATE mart_files m SET state = l.state FROM facility_locations l "
            "WHERE l.facility_id = m.facility_id AND m.file_id IN (SELECT file_id FROM moved)"
        )
    # Price values: out with the old files' (their own counts, from their folders), in with
    # the new; the bands of every group touched are recomputed.
    values = [
        _values(files.path(_values_file(p)), -1) for p in gone if files.exists(_values_file(p))
    ]
    values += [_values(f"{mart}/price_bins.parquet", 1) for mart in marts]
    if len(values) < len(gone) + len(marts):
        # A folded-out file's derived data is gone: count every current value again.
        log.warning("marts: price values of a removed file are missing; recounting all")
        con.execute("DELETE FROM mart_price_bins")
        con.execute("DELETE FROM code_price_bounds")
        folded = [r[0] for r in con.execute("SELECT file_id FROM mart_files").fetchall()]
        keep = set(_data_paths(con, wh, folded)) - set(gone)
        values = [_values(_values_file(p), 1) for p in sorted(keep)]  # from the store
        values += [_values(f"{mart}/price_bins.parquet", 1) for mart in marts]
    if marts:  # the text of the groups the new files price, kept once per group
        codes = ", ".join(_quote(f"{m}/codes-*.parquet") for m in marts)
        con.execute(
            "INSERT INTO mart_keys SELECT DISTINCT k, code_type, code, setting, price_unit "
            f"FROM read_parquet([{codes}]) ANTI JOIN mart_keys USING (k)"
        )
    if values:
        summed = (
            f"SELECT k, bin, sum(n)::BIGINT AS n FROM ({' UNION ALL '.join(values)}) GROUP BY ALL"
        )
        # Only the bins the files change are rewritten (a group's others keep their row):
        # each changed bin's new count is its old one (none on a first publish) plus the change.
        con.execute(f"CREATE OR REPLACE TEMP TABLE value_delta AS {summed}")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE affected_keys AS SELECT DISTINCT k FROM value_delta"
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE merged_values AS
            SELECT d.k, d.bin, (d.n + coalesce(v.n, 0))::BIGINT AS n
            FROM value_delta d LEFT JOIN mart_price_bins v USING (k, bin)
            """
        )
        con.execute(
            "DELETE FROM mart_price_bins v USING value_delta d WHERE v.k = d.k AND v.bin = d.bin"
        )
        con.execute("INSERT INTO mart_price_bins SELECT * FROM merged_values WHERE n > 0")
        for table in ("value_delta", "merged_values"):
            con.execute(f"DROP TABLE {table}")
        _bounds(con)
        con.execute("DROP TABLE affected_keys")
    # Payer maps: each folded file's own (the analyst's comparable_charges joins a charge to
    # its file's map: a generic name maps by the facility's state).
    con.execute("DELETE FROM payer_map WHERE file_id IN (SELECT file_id FROM folded_out)")
    names = ", ".join(PAYER_MAP_SCHEMA)
    for (file_id, _, _), mart in zip(added, marts, strict=True):
        con.execute(
            f"INSERT INTO payer_map BY NAME SELECT ?::VARCHAR AS file_id, {names} "
            f"FROM read_parquet({_quote(f'{mart}/payer_map.parquet')})",
            [file_id],
        )
    # Out: the old files' facility prices and rows.
    con.execute(
        "DELETE FROM mart_facility_code_prices WHERE file_id IN (SELECT file_id FROM folded_out)"
    )
    con.execute("DELETE FROM mart_files WHERE file_id IN (SELECT file_id FROM folded_out)")
    # In: each new file judged against the bands, its marts written beside its data.
    judge = _sql(_JUDGE_SQL)
    for (file_id, facility_id, folder), mart in zip(added, marts, strict=True):
        for view, name in (
            ("file_candidates", "candidates"),
            ("file_groups", "groups"),
            ("file_codes", "codes"),
        ):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS "
                f"SELECT * FROM read_parquet({_quote(f'{mart}/{name}*.parquet')})"
            )
        con.execute(judge)
        judged = f"{folder}/{JUDGED}"
        wh.storage.makedirs(judged)
        compare = f"{judged}/price_compare-{stamp}.parquet"
        prices = f"{judged}/facility_code_prices-{stamp}.parquet"
        con.execute(f"COPY file_price_compare TO {_quote(files.path(compare))} {_JUDGED_PARQUET}")
        con.execute("DROP VIEW file_price_compare")
        for table in ("rates_judged", "judged_keys"):
            con.execute(f"DROP TABLE {table}")
        con.execute(
            f"COPY file_facility_code_prices TO {_quote(files.path(prices))} {_JUDGED_PARQUET}"
        )
        con.execute(
            "INSERT INTO mart_facility_code_prices "
            "SELECT ?, * EXCLUDE (published_code_type) FROM file_facility_code_prices",
            [file_id],
        )
        con.execute(
            "INSERT INTO affected_groups SELECT DISTINCT code_type, code, setting, price_unit, "
            "(SELECT state FROM facility_locations WHERE facility_id = ?) "
            "FROM file_facility_code_prices",
            [facility_id],
        )
        counts = con.execute(
            f"SELECT * FROM read_parquet({_quote(f'{mart}/counts.parquet')})"
        ).fetchall()[0]
        paths = [wh.relative(compare), wh.relative(prices)]
        con.execute(
            "INSERT INTO mart_files SELECT ?, ?, (SELECT state FROM facility_locations "
            "WHERE facility_id = ?), ?, ?, ?, ?, ?, ?, ?",
            [file_id, facility_id, facility_id, *paths, *counts, built_at],
        )
        rates, _, _, codes = counts
        con.execute(
            "INSERT OR REPLACE INTO mart_file_counts VALUES (?, ?, ?, ?, ?)",
            [file_id, facility_id, rates, codes, built_at],
        )
        old = before.get(facility_id)
        if old is not None and old.file_id != file_id:
            new = changes.Judged(file_id, facility_id, *paths)
            changes.derive(con, wh, old, new, built_at, stamp, files.path)
    con.execute("DROP TABLE IF EXISTS file_facility_code_prices")
    changes.forget_gone(con)
    for view in ("file_candidates", "file_groups", "file_codes"):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    # Cross-facility marts, for the groups that changed.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE affected_groups AS SELECT DISTINCT * FROM affected_groups"
    )
    _summarise(con)
    for table in ("affected_groups", "affected_codes", "folded_out", "moved"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


#: Facility prices per pass of the cross-facility summaries: their medians and quantiles
#: hold every value of a group, so a fold of many files (a first publish of 500 facilities:
#: 3.5 M facility prices) is summarised in slices of its codes to stay within the memory
#: limit (in one pass it ran out of memory at 1 GB).
_PRICES_PER_PASS = 1_000_000


def _summarise(con: duckdb.DuckDBPyConnection) -> None:
    """`code_summary` and `code_catalog` for the groups in `affected_groups` (`code_summary`:
    their rows of all states and of the states named there), in slices of their codes."""
    con.execute("ALTER TABLE affected_groups RENAME TO all_affected_groups")
    rows = con.execute(
        "SELECT count(*) FROM mart_facility_code_prices p SEMI JOIN all_affected_groups a "
        "ON a.code_type = p.code_type AND a.code = p.code"
    ).fetchall()[0][0]
    passes = max(1, -(-rows // _PRICES_PER_PASS))
    for part in range(passes):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE affected_groups AS SELECT * FROM all_affected_groups "
            f"WHERE hash(code_type, code) % {passes} = {part}"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE affected_codes AS "
            "SELECT DISTINCT code_type, code FROM affected_groups"
        )
        con.execute(_sql(_SUMMARY_SQL))
    con.execute("DROP TABLE all_affected_groups")


def _bounds(con: duckdb.DuckDBPyConnection) -> None:
    """`code_price_bounds` for the groups in `affected_keys` (05_bounds.sql), from their
    bins in `mart_price_bins`: per group, the middle positions of its bins and of their
    distances to its median. In two sorts of all the groups' bins here, each on one integer
    (the group's number, then the bin or distance): in SQL (running counts by window, then
    joins and aggregates per group) it took about twice the CPU time."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bin_groups AS "
        "SELECT (row_number() OVER ()) - 1 AS g, k FROM affected_keys"
    )
    keys = con.sql("SELECT k FROM bin_groups ORDER BY g").pl()["k"]
    # group number × 2^32 + bin + 2^31: sorted, the groups' bins in order (a bin is 32-bit)
    bins = con.sql(
        f"SELECT a.g * {_BIN_SPAN} + (v.bin::BIGINT + {_BIN_SPAN // 2}) AS key, v.n "
        "FROM mart_price_bins v JOIN bin_groups a USING (k)"
    ).pl()
    middles = pl.DataFrame(
        schema={"k": pl.UInt64, "total": pl.Int64, "median2": pl.Int64, "mad4": pl.Int64}
    )
    if bins.height:
        bins = bins.sort("key")
        value = bins["key"] % _BIN_SPAN - _BIN_SPAN // 2
        groups, total, median2, row_group = _middle(bins["key"] // _BIN_SPAN, value, bins["n"])
        # twice each bin's distance to its group's median: below 4 × 2^31
        distances = row_group * (4 * _BIN_SPAN) + (2 * value - median2.gather(row_group)).abs()
        order = distances.arg_sort()
        distances = distances.gather(order)
        mad4 = _middle(
            distances // (4 * _BIN_SPAN), distances % (4 * _BIN_SPAN), bins["n"].gather(order)
        )[2]
        middles = pl.DataFrame(
            {"k": keys.gather(groups), "total": total, "median2": median2, "mad4": mad4}
        ).filter(pl.col("total") >= 5)
    con.register("bin_middles", middles)
    try:
        con.execute(_sql(_BOUNDS_SQL))
    finally:
        con.unregister("bin_middles")
        con.execute("DROP TABLE bin_groups")


#: The span of a bin (INTEGER) in `_bounds`' sort keys.
_BIN_SPAN = 1 << 32


def _middle(
    groups: pl.Series, values: pl.Series, counts: pl.Series
) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
    """Per group (`groups` sorted, `values` sorted within a group, each counted `counts` > 0
    times): the group, its count, and the sum of the values at its two middle positions
    (the same position when the count is odd, as median() averages); and each row's group's
    place among them. The positions are found in the running count of all rows."""
    upto = counts.cum_sum()
    first = pl.concat([pl.Series([True]), groups.slice(1) != groups.slice(0, groups.len() - 1)])
    starts = first.arg_true()
    ends = pl.concat([starts.slice(1) - 1, pl.Series([groups.len() - 1], dtype=starts.dtype)])
    before = upto.gather(starts) - counts.gather(starts)
    total = upto.gather(ends) - before
    low = upto.search_sorted(before + (total - 1) // 2 + 1, side="left")
    high = upto.search_sorted(before + total // 2 + 1, side="left")
    place = first.cast(pl.Int64).cum_sum() - 1
    return groups.gather(starts), total, values.gather(low) + values.gather(high), place


def _values_file(folder: str) -> str:
    return f"{folder}/{MARTS}/price_bins.parquet"


def _values(path: str, sign: int) -> str:
    """SQL reading one file's price values (`path`: its `_values_file`), counted `sign`
    times (-1: taken out)."""
    return f"SELECT k, bin, {sign} * n AS n FROM read_parquet({_quote(path)})"


def _data_paths(con: duckdb.DuckDBPyConnection, wh: Warehouse, file_ids: list[str]) -> list[str]:
    """The charges folders of these files."""
    if not file_ids:
        return []
    rows = con.execute(
        "SELECT data_path FROM files WHERE file_id IN (SELECT unnest(?::VARCHAR[]))", [file_ids]
    ).fetchall()
    return [wh.location(r[0]) for r in rows]


def _clear(con: duckdb.DuckDBPyConnection) -> None:
    for table in (
        "mart_files",
        "mart_price_bins",
        "mart_facility_code_prices",
        "mart_keys",
        "code_price_bounds",
        "code_summary",
        "code_catalog",
        "payer_map",
    ):
        con.execute(f"DELETE FROM {table}")


def _facility_summary(con: duckdb.DuckDBPyConnection, built_at: dt.datetime) -> None:
    """Per facility: current file, rates, codes, share comparable, compliance, freshness."""
    compliance, join = "NULL::DOUBLE", ""
    if _exists(con, "facility_compliance"):
        score = next(
            (c for c in ("compliance_score", "score") if c in _columns(con, "facility_compliance")),
            None,
        )
        if score:
            compliance = f"q.{score}"
            join = "LEFT JOIN facility_compliance q USING (facility_id)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE facility_summary AS
        SELECT f.facility_id, l.hospital_name, l.state, l.city, l.zip,
               f.file_id AS current_file_id, f.version, f.layout, f.row_count,
               coalesce(m.rates, 0) AS rates,
               coalesce(m.codes, 0) AS codes,
               m.comparable_rates / nullif(m.rates, 0) AS share_comparable,
               m.mapped_rates / nullif(m.rates, 0) AS share_payer_mapped,
               {compliance} AS compliance_score,
               f.last_updated_on, f.loaded_at,
               date_diff('day', f.last_updated_on, ?::DATE) AS days_since_update,
               ?::TIMESTAMP AS built_at
        FROM current_files f
        LEFT JOIN facility_locations l USING (facility_id)
        LEFT JOIN mart_files m USING (file_id)
        {join}
        ORDER BY f.facility_id
        """,
        [built_at.date(), built_at],
    )


def rebuild(con: duckdb.DuckDBPyConnection, wh: Warehouse, *, force: bool = False) -> BuildReport:
    """Bring the comparison marts of `wh` (`con`: its catalog) up to date with the current
    files; one transaction.

    Folds in only what changed since the last build (see the module docstring); everything
    when `force` or when the rules changed (each file's derived data is derived again)."""
    started = time.monotonic()
    built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # Medians per group hold their values in memory: cap what the build may take (it spills
    # to disk beyond that) so a big fold never starves the machine.
    con.execute("SET memory_limit = ?", [settings.current().mart_memory_limit])
    con.execute("BEGIN")
    try:
        rules = signature()
        local = read_local_aliases(wh.local_aliases)
        last = con.execute(
            "SELECT signature, local_aliases FROM mart_builds ORDER BY built_at DESC LIMIT 1"
        ).fetchall()
        # Derived again only when asked or when the rules changed: a first build folds in
        # what each file's ingest derived.
        rederive = force or bool(last and last[0][0] not in {rules, *SAME_RULES})
        full = rederive or not last
        _facility_locations(con)
        _load_shoppable(con)
        # Each facility's file folded in until now: a new file of the facility is compared
        # with it (also when everything is folded in again).
        before = changes.folded(con)
        if full:
            _clear(con)
        added, removed = _files_to_fold(con, wh, full)
        moved = _moved_facilities(con)
        if rederive:
            states = _states(con)
            for _, facility_id, folder in added:  # the rules changed: derive every file again
                _stage(wh, folder, local, states.get(facility_id))
        remapped = [] if rederive else _remap(con, wh, added, removed, local, last)
        with mirror.opened(wh.storage, _scratch()) as files:
            if added or removed or moved:
                _fold(con, wh, files, added, removed, moved, built_at, local, before)
            # The folds no run holds yet go into one new run (read from the copies of the
            # judged files just written, on an object store); runs are merged as they grow.
            runs.update(con, wh, built_at, _MART_COLUMNS, files.copy)
        _mart_views(con, wh)
        _facility_summary(con, built_at)
        seconds = time.monotonic() - started
        heavy = bool(added or removed)
        con.execute(
            "INSERT INTO mart_builds (built_at, signature, seconds, heavy, local_aliases) "
            "VALUES (?, ?, ?, ?, ?)",
            [built_at, rules, seconds, heavy, digest(local)],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("RESET memory_limit")
    log.info(
        "marts: %d file(s) folded in, %d out (%d of them for the local payer aliases), in %.2f s",
        len(added), len(removed), len(remapped), seconds,
    )  # fmt: skip
    return BuildReport(
        skipped_heavy=not heavy,
        seconds=seconds,
        folded_in=len(added),
        folded_out=len(removed),
        remapped=len(remapped),
    )


def _remap(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    added: list[tuple[str, str, str]],
    removed: list[tuple[str, str]],
    local: LocalAliases,
    last: list[tuple[str, str | None]],
) -> list[str]:
    """Derive again the files whose payer map the local aliases change; add those already
    folded in to `added` and `removed` (folded out and in again). Returns their ids.

    When the aliases changed since the last build, every current file is looked at; else
    only the files coming in (derived at ingest, perhaps with older aliases)."""
    since = last[0][1] if last else None
    files = list(added)
    if last and digest(local) != since:
        gone = {file_id for file_id, _ in removed}
        files += [
            (file_id, facility_id, wh.location(path))
            for file_id, facility_id, path in con.execute(
                "SELECT m.file_id, m.facility_id, f.data_path FROM mart_files m "
                "JOIN files f USING (file_id) ORDER BY m.facility_id"
            ).fetchall()
            if file_id not in gone
        ]
    elif not local and since is None:
        return []  # no aliases of our own, now or before: nothing they could change
    states = _states(con)
    maps = [
        (file_id, f"{folder}/{MARTS}/payer_map.parquet", states.get(facility_id))
        for file_id, facility_id, folder in files
    ]
    maps = [m for m in maps if wh.storage.exists(m[1])]
    changed = set(remap.remapped(con, maps, local))
    incoming = {file_id for file_id, _, _ in added}
    for file_id, facility_id, folder in files:
        if file_id in changed:
            # Price values don't depend on the payer map: out and in, they count the same.
            _stage(wh, folder, local, states.get(facility_id))
            if file_id not in incoming:
                removed.append((file_id, facility_id))
                added.append((file_id, facility_id, folder))
    remap.forget_remapped_pairs(con)
    return sorted(changed)


def folded_in_last_build(snapshot: Path) -> list[str]:
    """Ids of the files the snapshot's mart build folded in (made current)."""
    con = open_snapshot(snapshot)
    try:
        rows = con.execute(
            "SELECT file_id FROM mart_files "
            "WHERE built_at = (SELECT max(built_at) FROM mart_builds) ORDER BY file_id"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


# --- reads scoped to a few facilities ------------------------------------------------------


@functools.cache
def _view_body(name: str, view: str) -> str:
    """The query of `CREATE OR REPLACE VIEW view AS …` in the SQL file `name`."""
    text = _sql(name)
    head = f"CREATE OR REPLACE VIEW {view} AS"
    return text[text.index(head) + len(head) :].strip().rstrip(";")


def scoped_comparable(
    con: duckdb.DuckDBPyConnection,
    facility_ids: list[str],
    code_type: str | None = None,
    code: str | None = None,
) -> str:
    """A `WITH` clause defining `standard_charges`, `comparable_charges` and
    `comparable_charge_codes` — the analyst views' own SQL — over the current files of
    `facility_ids` only: a query that starts with it opens those facilities' Parquet files
    and no other (the views list every current file, and a filter on `facility_id` alone
    still opens each file's footer). `con` is a catalog or a snapshot.

    With a `code` (and its type; None: any), only the rows of each file that its
    `code_rows` index places that code's rates in are read — the row groups holding them —
    and files that do not price it are not read at all; a file staged before the index
    existed is read whole. The query must still filter on the code.

    (No filter on the code in the scan: `list_contains(list_transform(codes, …), $code)`
    there, with a payer filter above, hit an internal DuckDB error that invalidates the
    whole database.)"""
    paths = [
        r[0]
        for r in con.sql(
            "SELECT data_path FROM current_files WHERE list_contains($ids, facility_id) "
            "ORDER BY facility_id",
            params={"ids": facility_ids},
        ).fetchall()
    ]
    store = snapshot_storage(con)
    folders = [store.location(p) for p in paths]
    scans = [
        f"SELECT {CHARGE_COLUMNS} FROM read_parquet("
        f"{parquet_source([f'{folder}/*.parquet' for folder in group], '')}){where}"
        for group, where in _code_rows(con, store, folders, code_type, code)
    ]
    charges = (
        "\nUNION ALL\n".join(scans)
        if scans
        else f"SELECT {CHARGE_COLUMNS} FROM main.standard_charges LIMIT 0"
    )
    return (
        f"WITH standard_charges AS ({charges}),\n"
        f"comparable_charges AS ({_view_body(_VIEWS_SQL[0], 'comparable_charges')}),\n"
        f"comparable_charge_codes AS ({_view_body(_VIEWS_SQL[1], 'comparable_charge_codes')})\n"
    )


def _code_rows(
    con: duckdb.DuckDBPyConnection,
    store: Storage,
    folders: list[str],
    code_type: str | None,
    code: str | None,
) -> list[tuple[list[str], str]]:
    """The charges folders to read, in at most two scans, each with its filter on the rows:
    the folders whose `code_rows` index places `code` somewhere, filtered on those rows
    (folders that do not price it left out), and the folders without the index (or all,
    with no code), unfiltered. A filter may let through rows of other codes (the stretches
    of every folder apply to each): the query filters on the code."""
    if code is None:
        return [(folders, "")] if folders else []
    index = {f"{f}/{MARTS}/{CODE_ROWS}": f for f in folders}
    index = {path: f for path, f in index.items() if store.exists(path)}
    whole = [f for f in folders if f not in index.values()]
    out = [(whole, "")] if whole else []
    if not index:
        return out
    found = con.sql(
        "SELECT filename, first_row, last_row "
        "FROM read_parquet($files, filename = true) WHERE code = $code "
        "AND ($code_type IS NULL OR code_type = service_code_type($code_type, $code)) "
        "ORDER BY first_row",
        params={"files": list(index), "code": code, "code_type": code_type},
    ).fetchall()
    stretches: list[tuple[int, int]] = []
    for _, first, last in found:
        if stretches and first - stretches[-1][1] <= _STRETCH_GAP:
            stretches[-1] = (stretches[-1][0], max(last, stretches[-1][1]))
        else:
            stretches.append((first, last))
    if len(stretches) > _STRETCHES:
        stretches = [(stretches[0][0], max(last for _, last in stretches))]
    if stretches:
        where = " OR ".join(f"row_no BETWEEN {int(a)} AND {int(b)}" for a, b in stretches)
        pricing = sorted({index[name] for name, _, _ in found})
        out.append((pricing, f" WHERE {where}"))
    return out
