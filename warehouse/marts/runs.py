"""The comparison marts laid out for one code's read across every facility: a few runs.

Each folded file's judgement is a pair of Parquet files of its own (`price_compare` and
`facility_code_prices` in `<file folder>/judged/`), and the history, the changes mart and
`mart_files` read those. But the dashboard reads one code at every facility: over the
per-file files that opens one file per facility (500 footers and row groups for a code
priced everywhere). So the two marts are also kept as *runs*: Parquet files holding many
files' rows, sorted by code (`RUN_PARQUET`), each row carrying its `file_id` and the
`built_at` of its fold (together: the fold's key in `mart_files`). One code's query reads
its one or two row groups in each run.

* A publish that folds files in writes ONE new run of just those files (read back from
  their judged files), so its cost follows the files that changed. Any fold in
  `mart_files` that no run holds goes into it: a new file, one judged again (`force`, the
  local payer aliases) or, after an upgrade, every folded file.
* Rows of a fold no longer in `mart_files` (a facility's file replaced, a re-judged file)
  are dead: the views `price_compare` and `facility_code_prices` keep only rows whose
  (file_id, built_at) is in the snapshot's `mart_files` (a semi-join on ~1 row per
  facility), so nothing is counted twice.
* Compaction, size-tiered: from the oldest run holding no more live rows than all newer
  runs together, it and every newer run are merged into one. So each run holds more than
  all newer runs together — at most ~log2(files) runs — and a row is rewritten only when
  its run at least doubles: O(log N) times, amortised in proportion to the data that
  changed. A merge drops dead rows; a run holding more dead rows than live is rewritten
  alone; one with no live row is dropped.
* Runs are immutable: each snapshot's views list the runs of its publish. A run merged
  away is listed in `mart_runs_retired` and deleted by retention (`warehouse.sweep`)
  once no kept snapshot can list it, so a reader of an older snapshot never breaks.

Run files live in `<db stem>-marts/` on the data's storage (a local folder or `s3://`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.db import Warehouse
from warehouse.views import parquet_source, typed_parquet_view

log = logging.getLogger("hpt.marts")

#: How runs are written: sorted by code, so a query for one code reads only the row
#: group(s) whose code range holds it, in row groups of DuckDB's default size. Not the
#: judged files' 2,048 rows: a code's rows sit together here, and a scan pays for every row
#: group of the file (their statistics, per column read). One run of 11 M rows, one code,
#: every column: 2,048-row groups 123 ms, 8,192 32 ms, 32,768 13 ms, 122,880 9 ms.
RUN_PARQUET = "(FORMAT parquet, ROW_GROUP_SIZE 122880)"

#: Per mart: its path's column in `mart_files` and `mart_runs`, and its rows' order.
_MARTS = (
    (
        "price_compare",
        "price_compare_path",
        "code, code_type, setting, facility_id, payer, plan_type",
    ),
    ("facility_code_prices", "facility_prices_path", "code, code_type, setting, facility_id"),
)

#: Live rows of the runs, oldest first: (run_id, compare path, prices path, live files,
#: live rows, dead rows).
_SIZES = """
SELECT r.run_id, r.price_compare_path, r.facility_prices_path, r.since,
       count(m.file_id) AS live_files,
       coalesce(sum(f.compare_rows + f.prices_rows) FILTER (m.file_id IS NOT NULL), 0) AS live,
       coalesce(sum(f.compare_rows + f.prices_rows) FILTER (m.file_id IS NULL), 0) AS dead
FROM mart_runs r
LEFT JOIN mart_run_files f USING (run_id)
LEFT JOIN mart_files m ON m.file_id = f.file_id AND m.built_at = f.built_at
GROUP BY r.since, r.run_id, r.price_compare_path, r.facility_prices_path
ORDER BY r.since, r.run_id
"""


@dataclass(frozen=True)
class RunsReport:
    """What one update of the runs did."""

    #: Files (folds) written into a new run.
    files_in: int = 0
    #: Runs merged (or rewritten alone) into new ones, and runs dropped with no live row.
    merged: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class _Run:
    run_id: str
    price_compare_path: str
    facility_prices_path: str
    since: dt.datetime
    live_files: int
    live: int
    dead: int


def local_folder(wh: Warehouse) -> Path:
    """The runs' folder in the warehouse folder (where they are with the default storage)."""
    return wh.root / f"{wh.db_path.stem}-marts"


def folder(wh: Warehouse) -> str:
    """Where the runs are written: `<db stem>-marts/` on the data's storage."""
    return wh.location(wh.relative(local_folder(wh)))


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


#: Each mart's columns (name → SQL type), as `update` and `create_views` are given them.
Columns = dict[str, dict[str, str]]


class _Writer:
    """Names and writes the runs of one update (all stamped with its fold time)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, wh: Warehouse, built_at: dt.datetime):
        self.con, self.wh, self.built_at = con, wh, built_at
        self.stamp = built_at.strftime("%Y%m%dT%H%M%S%f")
        self.count = 0
        self.folder = folder(wh)

    def write(self, select: dict[str, str], since: dt.datetime) -> str:
        """Write one run: per mart, `select[mart]` (its columns, `file_id`, `built_at`)
        sorted by code; list it in `mart_runs` (in the place of a run of `since`) and its
        folds in `mart_run_files`."""
        run_id = f"{self.stamp}-{self.count}"
        self.count += 1
        self.wh.storage.makedirs(self.folder)
        paths = {}
        for mart, _, order in _MARTS:
            target = f"{self.folder}/{mart}-{run_id}.parquet"
            self.con.execute(
                f"COPY (SELECT * FROM ({select[mart]}) ORDER BY {order}) "
                f"TO {_quote(target)} {RUN_PARQUET}"
            )
            paths[mart] = target
        compare, prices = paths["price_compare"], paths["facility_code_prices"]
        self.con.execute(
            "INSERT INTO mart_runs VALUES (?, ?, ?, ?)",
            [run_id, self.wh.relative(compare), self.wh.relative(prices), since],
        )
        self.con.execute(
            f"""
            INSERT INTO mart_run_files
            SELECT ?, file_id, built_at, coalesce(c.n, 0), coalesce(p.n, 0)
            FROM (SELECT file_id, built_at, count(*) AS n
                  FROM read_parquet({_quote(compare)}) GROUP BY ALL) c
            FULL JOIN (SELECT file_id, built_at, count(*) AS n
                       FROM read_parquet({_quote(prices)}) GROUP BY ALL) p
                USING (file_id, built_at)
            """,
            [run_id],
        )
        return run_id


def update(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    built_at: dt.datetime,
    columns: Columns,
    place: Callable[[str], str] = str,
) -> RunsReport:
    """Bring the runs up to date with `mart_files` (in the caller's transaction): one new
    run of the folds no run holds, then compaction (see the module docstring). `columns`:
    each mart's columns; `place`: where to read a judged file's location (a local copy)."""
    writer = _Writer(con, wh, built_at)
    files_in = _new_run(con, wh, writer, columns, place)
    runs = [_Run(*row) for row in con.execute(_SIZES).fetchall()]
    empty = [run for run in runs if run.live_files == 0]
    _retire(con, empty, built_at)
    runs = [run for run in runs if run.live_files > 0]
    merges = _plan(runs)
    for group in merges:
        _merge(con, wh, writer, group)
        _retire(con, group, built_at)
    report = RunsReport(files_in, sum(len(g) for g in merges), len(empty))
    if files_in or merges or empty:
        log.info(
            "marts: %d file(s) in a new run, %d run(s) merged into %d, %d dropped; %d live",
            files_in, report.merged, len(merges), len(empty),
            con.execute("SELECT count(*) FROM mart_runs").fetchall()[0][0],
        )  # fmt: skip
    return report


def _new_run(
    con: duckdb.DuckDBPyConnection,
    wh: Warehouse,
    writer: _Writer,
    columns: Columns,
    place: Callable[[str], str],
) -> int:
    """Write the folds of `mart_files` that no run holds into one new run, read from their
    judged files (where `place` puts them). Returns how many."""
    folds = con.execute(
        "SELECT m.file_id, m.built_at, m.price_compare_path, m.facility_prices_path "
        "FROM mart_files m ANTI JOIN mart_run_files r USING (file_id, built_at) "
        "ORDER BY m.facility_id, m.file_id"
    ).fetchall()
    if not folds:
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE run_folds AS SELECT unnest(?::VARCHAR[]) AS file_id, "
        "unnest(?::TIMESTAMP[]) AS built_at, unnest(?::VARCHAR[]) AS compare, "
        "unnest(?::VARCHAR[]) AS prices",
        [
            [f[0] for f in folds],
            [f[1] for f in folds],
            [place(wh.location(f[2])) for f in folds],
            [place(wh.location(f[3])) for f in folds],
        ],
    )
    select = {}
    for index, (mart, path) in enumerate(
        (("price_compare", "compare"), ("facility_code_prices", "prices"))
    ):
        files = parquet_source([place(wh.location(f[2 + index])) for f in folds], "")
        names = ", ".join(f"j.{c}" for c in columns[mart])
        select[mart] = (
            f"SELECT {names}, f.file_id, f.built_at "
            f"FROM read_parquet({files}, filename = true) j JOIN run_folds f "
            f"ON f.{path} = j.filename"
        )
    writer.write(select, writer.built_at)
    con.execute("DROP TABLE run_folds")
    return len(folds)


def _plan(runs: list[_Run]) -> list[list[_Run]]:
    """The merges to make, each a list of runs (oldest first): from the oldest run holding
    no more live rows than all newer runs together, it and every newer run (then each run
    holds more than all newer ones: a new run, or rows dying in an older one, break that);
    and, alone, each other run holding more dead rows than live ones."""
    merges: list[list[_Run]] = []
    newer = 0
    start = len(runs)
    for index in range(len(runs) - 1, -1, -1):
        if index < len(runs) - 1 and runs[index].live <= newer:
            start = index
        newer += runs[index].live
    if start < len(runs):
        merges.append(runs[start:])
    merges += [[run] for run in runs[:start] if run.dead > run.live]
    return merges


def _merge(
    con: duckdb.DuckDBPyConnection, wh: Warehouse, writer: _Writer, group: list[_Run]
) -> None:
    """Write the live rows of `group` into one new run."""
    select = {}
    for mart, column, _ in _MARTS:
        stored = [getattr(run, column) for run in group]
        files = parquet_source([wh.location(p) for p in stored], "")
        select[mart] = (
            f"SELECT r.* FROM read_parquet({files}) r "
            "SEMI JOIN mart_files m ON m.file_id = r.file_id AND m.built_at = r.built_at"
        )
    writer.write(select, group[0].since)  # in the place of the oldest


def _retire(con: duckdb.DuckDBPyConnection, runs: list[_Run], at: dt.datetime) -> None:
    """Take runs out of the live set; their files wait in `mart_runs_retired` for
    retention (a snapshot published before may list them)."""
    if not runs:
        return
    ids = [run.run_id for run in runs]
    paths = [p for run in runs for p in (run.price_compare_path, run.facility_prices_path)]
    con.execute("DELETE FROM mart_run_files WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    con.execute("DELETE FROM mart_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    con.execute(
        "INSERT OR REPLACE INTO mart_runs_retired SELECT unnest(?::VARCHAR[]), ?", [paths, at]
    )


def create_views(con: duckdb.DuckDBPyConnection, wh: Warehouse, columns: Columns) -> None:
    """`price_compare` and `facility_code_prices` over the live runs, keeping the rows of
    the folds in `mart_files` (names and columns as analysts know them)."""
    runs = con.execute(
        "SELECT price_compare_path, facility_prices_path FROM mart_runs ORDER BY since, run_id"
    ).fetchall()
    for index, view in enumerate(("price_compare", "facility_code_prices")):
        if not runs:
            typed_parquet_view(con, view, [], columns[view])
            continue
        files = parquet_source([wh.view_path(run[index]) for run in runs], "")
        names = ", ".join(f"r.{c}" for c in columns[view])
        con.execute(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {names} FROM read_parquet({files}) r "
            "SEMI JOIN mart_files m ON m.file_id = r.file_id AND m.built_at = r.built_at"
        )
