"""Batches for the data-quality tests: synthetic files, loaded, and edited copies of them."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import duckdb

from core.files import FileMeta, StagedFile
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from quality.suites import gate_facts
from warehouse.db import Warehouse, writer

PRICE_COLUMNS = ("standard_charge|gross", "standard_charge|discounted_cash",
                 "standard_charge|negotiated_dollar", "standard_charge|min",
                 "standard_charge|max", "standard_charge|negotiated_percentage",
                 "standard_charge|negotiated_algorithm", "median_amount",
                 "10th_percentile", "90th_percentile")  # fmt: skip


def staged(
    data_path: Path | str, rows: int, facility_id: str = "ca-1", file_id: str = "f1"
) -> StagedFile:
    """A staged file for a Parquet batch (only what the gate reads is filled in)."""
    import polars as pl

    return StagedFile(
        facility_id=facility_id, file_id=file_id, source=str(data_path), sha256="0" * 64,
        bytes=0, layout="csv_tall", encoding="utf-8", meta=FileMeta(), data_path=str(data_path),
        row_count=rows, item_count=None, findings=pl.DataFrame(), finding_counts={}, seconds=0.0,
    )  # fmt: skip


def loaded_batch(tmp_path: Path, n_items: int = 120, seed: int = 1) -> tuple[Path, int]:
    """A synthetic tall file loaded without the gate: its Parquet data and row count."""
    wh = Warehouse.at(tmp_path / "source" / "hpt.duckdb")
    path = tmp_path / f"source-{seed}.csv"
    rows = tall_file(path, n_items=n_items, seed=seed)
    result = ingest_file(path, wh, publish_after=False)
    assert result.outcome in {"loaded", "held"}, result.message
    with writer(wh) as con:
        (data_path,) = con.execute(
            "SELECT data_path FROM files WHERE file_id = ?", [result.file_id]
        ).fetchone() or ("",)
    return wh.resolve(data_path), rows


def edited(parquet: Path, out: Path, replace: str = "", where: str = "") -> Path:
    """A copy of a batch with some columns replaced (DuckDB `REPLACE` list) or rows filtered.

    Small batches only: the copy is made in memory."""
    source = f"{parquet}/*.parquet" if parquet.is_dir() else str(parquet)
    select = f"* REPLACE ({replace})" if replace else "*"
    filtered = f"WHERE {where}" if where else ""
    query = f"SELECT {select} FROM read_parquet('{source}') {filtered}"
    batch = duckdb.sql(query).pl()
    # The gate's stored facts follow the edit, as the writer would have computed them.
    batch.with_columns(gate_facts(batch)).write_parquet(out)
    return out


def rewrite_csv(path: Path, out: Path, change: Callable[[dict[str, str]], None]) -> Path:
    """A copy of a CMS tall CSV with every data row (row 4 on) changed in place."""
    with (
        path.open(newline="", encoding="utf-8") as src,
        out.open("w", newline="", encoding="utf-8") as dst,
    ):
        reader = csv.reader(src)
        writer_ = csv.writer(dst, lineterminator="\n")
        writer_.writerow(next(reader))
        writer_.writerow(next(reader))
        header = next(reader)
        writer_.writerow(header)
        for values in reader:
            row = dict(zip(header, values, strict=True))
            change(row)
            writer_.writerow([row[h] for h in header])
    return out


def negate_prices(row: dict[str, str]) -> None:
    for column in (
        "standard_charge|gross",
        "standard_charge|discounted_cash",
        "standard_charge|negotiated_dollar",
    ):
        if row.get(column):
            row[column] = "-" + row[column]


def drop_prices(row: dict[str, str]) -> None:
    for column in PRICE_COLUMNS:
        if column in row:
            row[column] = ""
