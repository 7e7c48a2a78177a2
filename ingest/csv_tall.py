"""Reader for CMS CSV "tall" files (v2.0 through v3.0): one standard charge per data row.

Rows 1–3 are read with Python's csv module; the data rows are streamed by Polars' CSV
reader in batches (all text, quoted line breaks allowed), into raw batches.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from core.errors import UnreadableFile
from core.files import Layout
from core.findings import FindingLog, Severity
from core.schema import CODE_STRUCT
from ingest.base import BATCH_ROWS, ParsedFile
from ingest.csv_header import CsvHead, file_meta, header_name, read_head
from ingest.encoding import PreparedFile

#: Item-level row-3 headers (both CSV layouts) → raw column.
ITEM_COLUMNS = {
    "description": "description",
    "setting": "setting",
    "billing_class": "billing_class",
    "modifiers": "modifiers",
    "drug_unit_of_measurement": "drug_unit",
    "drug_type_of_measurement": "drug_unit_type",
    "standard_charge|gross": "gross_charge",
    "standard_charge|discounted_cash": "discounted_cash",
    "standard_charge|min": "deidentified_min",
    "standard_charge|max": "deidentified_max",
    "additional_generic_notes": "notes",
}
#: Payer-level values headed `standard_charge|<suffix>` (tall layout) or
#: `standard_charge|P|p|<suffix>` (wide layout) → raw column.
PAYER_SUFFIXES = {
    "negotiated_dollar": "negotiated_dollar",
    "negotiated_percentage": "negotiated_percentage",
    "negotiated_algorithm": "negotiated_algorithm",
    "methodology": "methodology",
}
#: Payer-level values headed `<prefix>` (tall layout) or `<prefix>|P|p` (wide) → raw column.
PAYER_PREFIXES = {
    "median_amount": "median_allowed",
    "10th_percentile": "p10_allowed",
    "90th_percentile": "p90_allowed",
    "count": "allowed_count",
    "estimated_amount": "estimated_amount",
    "additional_payer_notes": "payer_notes",
}
#: Payer-level row-3 headers of the tall layout → raw column.
TALL_PAYER_COLUMNS = {
    "payer_name": "payer_name",
    "plan_name": "plan_name",
    **{f"standard_charge|{suffix}": raw for suffix, raw in PAYER_SUFFIXES.items()},
    **PAYER_PREFIXES,
}
CODE_COLUMN = re.compile(r"^code\|(\d+)(\|type)?$")
#: Spare columns past the header catch rows with more cells than headers.
SPARE = 4


def is_tall(header: list[str]) -> bool:
    """Row 3 of a tall file has both `payer_name` and `plan_name`."""
    names = {header_name(cell) for cell in header}
    return {"payer_name", "plan_name"} <= names


def duplicate_column(log: FindingLog, cell: str) -> None:
    """Record a row-3 header seen before (the first one is used)."""
    message = f"column {cell!r} appears twice; the first is used"
    log.add("header.duplicate_column", Severity.ERROR, message, row=3, column=cell)


def unknown_column(log: FindingLog, cell: str) -> None:
    """Record a row-3 header that is not a CMS column (its cells are ignored)."""
    message = f"column {cell!r} is not a CMS column; ignored"
    log.add("header.unknown_column", Severity.ALERT, message, row=3, column=cell)


def data_width(header: list[str]) -> int:
    """How many row-3 columns hold data: trailing blank headers are not counted."""
    width = len(header)
    while width and not header[width - 1].strip():
        width -= 1
    return width


def column_plan(
    header: list[str], known: dict[str, str], log: FindingLog
) -> tuple[dict[str, int], dict[int, dict[str, int]], list[int]]:
    """Map row-3 positions: raw column → position, code index → {code,type} → position.

    Returns also the positions not understood (left for the caller to interpret).
    Duplicate columns keep the first and are recorded.
    """
    columns: dict[str, int] = {}
    codes: dict[int, dict[str, int]] = {}
    unknown: list[int] = []
    for position, cell in enumerate(header):
        name = header_name(cell)
        if not name:
            continue
        match = CODE_COLUMN.match(name)
        if match:
            slot = codes.setdefault(int(match.group(1)), {})
            part = "type" if match.group(2) else "code"
            if part in slot:
                duplicate_column(log, cell)
            else:
                slot[part] = position
        elif name in known:
            if known[name] in columns:
                duplicate_column(log, cell)
            else:
                columns[known[name]] = position
        else:
            unknown.append(position)
    return columns, codes, unknown


def codes_expr(codes: dict[int, dict[str, int]]) -> pl.Expr:
    """The raw `codes` list from `code|i` / `code|i|type` columns; empty pairs dropped."""
    pairs = [
        pl.struct(
            type=pl.col(f"c{slot['type']}") if "type" in slot else pl.lit(None, pl.String),
            code=pl.col(f"c{slot['code']}") if "code" in slot else pl.lit(None, pl.String),
        )
        for _, slot in sorted(codes.items())
    ]
    if not pairs:
        return pl.lit([], dtype=pl.List(CODE_STRUCT)).alias("codes")
    element = pl.element()
    # concat_arr + to_list is ~25x faster than concat_list for struct columns.
    return (
        pl.concat_arr(pairs)
        .arr.to_list()
        .list.eval(
            element.filter(
                element.struct.field("type").is_not_null()
                | element.struct.field("code").is_not_null()
            )
        )
        .alias("codes")
    )


#: Bytes per chunk Polars' streaming CSV reader parses at a time, for a tall file. The
#: reader runs ahead of `collect_batches` by a number of chunks: at Polars' default size that
#: held ~750 MB of a 1 GB tall file (peak RSS 1.47 GB against 1.09 GB, in the same time). A
#: wide file uses 4 MB chunks (`csv_wide.CSV_CHUNK_BYTES`): its rows are ~4 KB.
CSV_CHUNK_BYTES = 1 << 20
_CHUNK_SETTING = "POLARS_CSV_CHUNK_SIZE"


@contextmanager
def csv_chunk_size(size: int) -> Iterator[None]:
    """Polars' CSV chunk size while a scan runs (it reads the setting as the scan goes);
    a value the user set in the environment is left alone."""
    if _CHUNK_SETTING in os.environ:
        yield
        return
    os.environ[_CHUNK_SETTING] = str(size)
    try:
        yield
    finally:
        os.environ.pop(_CHUNK_SETTING, None)


def scan_rows(path: Path, width: int) -> pl.LazyFrame:
    """Data rows from row 4 on, all text, columns `c0…` plus spare `x0…`, with `row_no`."""
    schema = {f"c{i}": pl.String for i in range(width)} | {f"x{i}": pl.String for i in range(SPARE)}
    return pl.scan_csv(
        path,
        skip_rows=3,
        has_header=False,
        schema=schema,
        truncate_ragged_lines=True,
        missing_columns="insert",
        row_index_name="row_no",
        row_index_offset=4,
        quote_char='"',
    )


def check_not_truncated(prepared: PreparedFile, width: int) -> None:
    """Refuse a file cut off mid-row: no line end and a short or broken last record."""
    if prepared.ends_with_newline:
        return
    import csv

    with prepared.path.open("rb") as handle:
        handle.seek(max(0, prepared.path.stat().st_size - 65536))
        tail = handle.read().decode("utf-8", errors="replace")
    last = tail.rsplit("\n", 1)[-1]
    try:
        cells = next(csv.reader([last], strict=True), [])
    except csv.Error:
        cells = []
    if last.count('"') % 2 == 1 or len(cells) < width:
        raise UnreadableFile(
            f"file is truncated: the last row has {len(cells)} of {width} columns and no "
            f"line end ({prepared.bytes} bytes); nothing loaded"
        )


def parse_error(path: Path, error: pl.exceptions.PolarsError) -> UnreadableFile:
    """The one-line error for CSV data Polars could not parse."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UnreadableFile(f"{path.name}: CSV data could not be parsed: {first}")


def data_rows(
    lazy: pl.LazyFrame,
    width: int,
    log: FindingLog,
    path: Path,
    *,
    chunk_rows: int,
    chunk_bytes: int | None = None,
) -> Iterator[pl.DataFrame]:
    """The scanned rows of either CSV layout, `chunk_rows` at a time: blank rows dropped,
    cells past the last header recorded. `chunk_bytes` sets Polars' CSV chunk size for the
    scan (default: Polars' own)."""
    data_cols = [f"c{i}" for i in range(width)]
    spare_cols = [f"x{i}" for i in range(SPARE)]
    blank = pl.all_horizontal([pl.col(c).is_null() for c in data_cols + spare_cols])
    extra_cells = pl.any_horizontal([pl.col(c).is_not_null() for c in spare_cols])
    sized = csv_chunk_size(chunk_bytes) if chunk_bytes else contextlib.nullcontext()
    try:
        with sized:
            for frame in lazy.collect_batches(chunk_size=chunk_rows):
                frame = frame.filter(~blank)
                extra = frame.filter(extra_cells)
                if extra.height:
                    log.add_frame(
                        "csv.extra_cells",
                        Severity.ERROR,
                        "row has more cells than row 3 has headers; extra cells ignored",
                        extra.select(pl.col("row_no"), pl.col("x0").alias("value")),
                        "(past last column)",
                    )
                yield frame
    except pl.exceptions.PolarsError as error:
        raise parse_error(path, error) from error


def batches(
    lazy: pl.LazyFrame, select: list[pl.Expr], width: int, log: FindingLog, path: Path
) -> Iterator[pl.DataFrame]:
    """Raw tall batches: the data rows with their columns mapped by `select`."""
    rows = data_rows(lazy, width, log, path, chunk_rows=BATCH_ROWS, chunk_bytes=CSV_CHUNK_BYTES)
    for frame in rows:
        yield frame.select(pl.col("row_no").cast(pl.Int64), *select)


def read(prepared: PreparedFile, log: FindingLog, head: CsvHead | None = None) -> ParsedFile:
    """Open a tall CSV file: metadata and header now, raw batches streamed later."""
    head = head or read_head(prepared.path)
    meta = file_meta(head, log)
    known = ITEM_COLUMNS | TALL_PAYER_COLUMNS
    columns, codes, unknown = column_plan(head.header, known, log)
    for position in unknown:
        unknown_column(log, head.header[position])
    check_not_truncated(prepared, data_width(head.header))
    select = [pl.col(f"c{position}").alias(raw) for raw, position in columns.items()]
    select.append(codes_expr(codes))
    lazy = scan_rows(prepared.path, len(head.header))
    return ParsedFile(
        layout=Layout.CSV_TALL,
        meta=meta,
        header=head.header,
        batches=batches(lazy, select, len(head.header), log, prepared.path),
        log=log,
        encoding=prepared.encoding,
    )
