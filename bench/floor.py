"""The DuckDB floor: DuckDB itself doing only what every ingest of ours must do at the least.

Per file, in one process and as fast as DuckDB can: (a) store the file's rows as Parquet —
`COPY (SELECT * FROM read_csv(FILE, skip=2, header=true)) TO 'rows.parquet' (FORMAT parquet,
COMPRESSION lz4)`, or `read_json(items, format='array')` for a JSON file's item array — and
(b) from that Parquet, derive the per-file aggregates per service code × code type × setting ×
payer × plan: count, min, median and max of the negotiated dollar, median gross charge
(written to a second, small Parquet). None of the rest of `hpt ingest`: no normalising, no CMS
conformance, no quality gate, no catalog, no publish. A pipeline that stores the rows and
derives those aggregates cannot be faster than this, so its time over DuckDB's native load is
the highest ratio such a pipeline can reach.

The three layouts, from the header (CSV) or the item shape (JSON):

- tall CSV: the codes are `code|N` with `code|N|type` (UNION ALL of the N code columns), the
  rates `standard_charge|negotiated_dollar` and `standard_charge|gross`, grouped with
  `setting`, `payer_name`, `plan_name`;
- wide CSV: each `standard_charge|<payer>|<plan>|negotiated_dollar` column is a payer/plan;
  UNPIVOT of those columns (`<payer>|<plan>` the key; empty cells left out) beside the codes;
- JSON: `code_information` unnested for the codes, `standard_charges` for the setting and the
  gross charge, their `payers_information` for payer, plan and `standard_charge_dollar`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from bench.measure import Measured, measure

METRICS = "count(d) AS n, min(d) AS low, median(d) AS mid, max(d) AS high, median(g) AS gross"
_WIDE = re.compile(r"standard_charge\s*\|\s*(.+\|.+?)\s*\|\s*negotiated_dollar", re.I)
_CODE = re.compile(r"code\|(\d+)")


def _key(name: str) -> str:
    """A header name as matched here: lower case, no spaces (` | ` and `CODE|1` alike)."""
    return name.replace(" ", "").lower()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def csv_header(path: Path) -> list[str]:
    """The column names of a v3 CSV (its third row)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        rows = csv.reader(handle)
        for _ in range(2):
            next(rows)
        return next(rows)


def _codes(header: list[str]) -> list[tuple[str, str]]:
    """(code column, type column) of each `code|N`, from the header."""
    by_key = {_key(name): name for name in header}
    pairs = []
    for key, name in by_key.items():
        if (match := _CODE.fullmatch(key)) and f"code|{match[1]}|type" in by_key:
            pairs.append((int(match[1]), name, by_key[f"code|{match[1]}|type"]))
    if not pairs:
        raise ValueError("no code|N / code|N|type columns in the header")
    return [(code, kind) for _, code, kind in sorted(pairs)]


def _tall(header: list[str], rows: str) -> str:
    by_key = {_key(name): name for name in header}
    keep = ", ".join(
        f"{_q(by_key[k])} AS {alias}"
        for k, alias in (("setting", "setting"), ("payer_name", "payer_name"),
                         ("plan_name", "plan_name"))
    )  # fmt: skip
    d = f"TRY_CAST({_q(by_key['standard_charge|negotiated_dollar'])} AS DOUBLE) AS d"
    g = f"TRY_CAST({_q(by_key['standard_charge|gross'])} AS DOUBLE) AS g"
    union = " UNION ALL ".join(
        f"SELECT CAST({_q(code)} AS VARCHAR) AS code, CAST({_q(kind)} AS VARCHAR) AS type, "
        f"{keep}, {d}, {g} FROM {rows} WHERE {_q(code)} IS NOT NULL"
        for code, kind in _codes(header)
    )
    return (
        f"SELECT code, type, setting, payer_name, plan_name, {METRICS} FROM ({union}) "
        "GROUP BY code, type, setting, payer_name, plan_name"
    )


def _wide(header: list[str], rows: str) -> str:
    by_key = {_key(name): name for name in header}
    plans = [(name, match[1]) for name in header if (match := _WIDE.fullmatch(name.strip()))]
    dollars = ", ".join(f"TRY_CAST({_q(name)} AS DOUBLE) AS {_q(plan)}" for name, plan in plans)
    setting = _q(by_key["setting"])
    g = f"TRY_CAST({_q(by_key['standard_charge|gross'])} AS DOUBLE) AS g"
    union = " UNION ALL ".join(
        f"SELECT CAST({_q(code)} AS VARCHAR) AS code, CAST({_q(kind)} AS VARCHAR) AS type, "
        f"{setting} AS setting, {g}, {dollars} FROM {rows} WHERE {_q(code)} IS NOT NULL"
        for code, kind in _codes(header)
    )
    columns = ", ".join(_q(plan) for _, plan in plans)
    return (
        f"SELECT code, type, setting, plan, {METRICS} FROM "
        f"(UNPIVOT ({union}) ON {columns} INTO NAME plan VALUE d) "
        "GROUP BY code, type, setting, plan"
    )


def _json(rows: str) -> str:
    return (
        "WITH codes AS (SELECT unnest(code_information) AS c, standard_charges FROM "
        f"{rows}), "
        "charges AS (SELECT CAST(c.code AS VARCHAR) AS code, CAST(c.type AS VARCHAR) AS type, "
        "unnest(standard_charges) AS s FROM codes), "
        "payers AS (SELECT code, type, s.setting AS setting, "
        "TRY_CAST(s.gross_charge AS DOUBLE) AS g, unnest(s.payers_information) AS p "
        "FROM charges) "
        "SELECT code, type, setting, p.payer_name AS payer_name, p.plan_name AS plan_name, "
        f"{METRICS} FROM (SELECT *, TRY_CAST(p.standard_charge_dollar AS DOUBLE) AS d FROM payers) "
        "GROUP BY ALL"
    )


#: The issue's target for our ingest against DuckDB's native load.
TARGET = 0.8


def reach(floor_ratio: float) -> str:
    """Whether `TARGET` can be reached at all, given floor/DuckDB."""
    if floor_ratio != floor_ratio:  # NaN
        return "unknown (DuckDB refused the file)"
    if floor_ratio < TARGET:
        return f"unreachable: even the floor is {floor_ratio:.2f}×"
    return f"reachable: the floor is {floor_ratio:.2f}×"


def source(path: Path) -> str:
    """DuckDB's typed reader of a file: a CSV (its two metadata rows skipped), or a JSON
    file's item array (a file of its own)."""
    if path.suffix == ".csv":
        return f"read_csv({_lit(str(path))}, skip=2, header=true)"
    return f"read_json({_lit(str(path))}, format='array', maximum_object_size=1000000000)"


def statements(path: Path, parquet: Path, aggregates: Path) -> list[str]:
    """The floor for one file: the Parquet COPY of its rows, then the aggregates from that
    Parquet. `path` is a CSV, or a JSON file's item array (a file of its own)."""
    rows = f"read_parquet({_lit(str(parquet))})"
    if path.suffix == ".csv":
        header = csv_header(path)
        wide = any(_WIDE.fullmatch(name.strip()) for name in header)
        aggregate = _wide(header, rows) if wide else _tall(header, rows)
    else:
        aggregate = _json(rows)
    return [
        f"COPY (SELECT * FROM {source(path)}) TO {_lit(str(parquet))} "
        "(FORMAT parquet, COMPRESSION lz4)",
        f"COPY ({aggregate}) TO {_lit(str(aggregates))} (FORMAT parquet)",
    ]


def floor(paths: list[Path], scratch: Path) -> tuple[Measured, list[tuple[float, float]]]:
    """The floor of every file (CSV, or a JSON file's item array), all in one process (an
    in-memory DuckDB); and per file the seconds of its Parquet COPY and of its aggregates."""
    jobs = [
        statements(path, scratch / f"floor{n}.parquet", scratch / f"floor{n}_agg.parquet")
        for n, path in enumerate(paths)
    ]
    code = (
        "import duckdb, json, time\n"
        "con = duckdb.connect()\n"
        "times = []\n"
        f"for job in {jobs!r}:\n"
        "    seconds = []\n"
        "    for s in job:\n"
        "        started = time.perf_counter(); con.execute(s)\n"
        "        seconds.append(time.perf_counter() - started)\n"
        "    times.append(seconds)\n"
        "print(json.dumps(times))"
    )
    done = measure([sys.executable, "-c", code])
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return done, [(copy, aggregate) for copy, aggregate in times]
