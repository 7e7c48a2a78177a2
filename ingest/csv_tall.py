"""Reader for CMS CSV "tall" files (v2.0 through v3.0): one standard charge per data row.

Rows 1–3 are read with Python's csv module; the data rows are streamed in batches (all
text) by `ingest.csv_rows`: Polars parses them, Python's csv module where Polars would
read them differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import polars as pl

from core.errors import UnreadableFile
from core.files import Layout
from core.findings import FindingLog, Severity
from core.schema import CODE_STRUCT
from ingest.base import BATCH_ROWS, ParsedFile
from ingest.csv_header import CsvHead, file_meta, header_name, read_head
from ingest.csv_rows import data_rows, data_width, truncated
from ingest.encoding import PreparedFile
from ingest.prefetch import prefetched

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


#: Bytes Polars parses at a time, for a tall file (`csv_rows`): a batch of `BATCH_ROWS`
#: rows is ~8 of them. Smaller blocks cost more CPU (each parse and check has a fixed
#: cost: 1 MB blocks ~10–35% more for the reader); the read-ahead is `prefetch`'s two
#: batches.
CSV_CHUNK_BYTES = 4 << 20


def check_not_truncated(prepared: PreparedFile, width: int) -> None:
    """Refuse a file cut off mid-row, before reading it, when its last line shows it: no
    line end and a short last record. A last line with a quote may end a record that began
    lines before: `csv_rows` judges that one when it reaches it."""
    if prepared.ends_with_newline:
        return
    import csv

    with prepared.path.open("rb") as handle:
        handle.seek(max(0, prepared.path.stat().st_size - 65536))
        tail = handle.read().decode("utf-8", errors="replace")
    last = re.split(r"\r\n|\r|\n", tail)[-1]
    if not last or '"' in last:
        return
    cells = next(csv.reader([last]), [])
    if len(cells) < width:
        raise UnreadableFile(truncated(len(cells), width, prepared.bytes))


def batches(
    prepared: PreparedFile, header: list[str], select: list[pl.Expr], log: FindingLog
) -> Iterator[pl.DataFrame]:
    """Raw tall batches: the data rows with their columns mapped by `select`."""
    rows = data_rows(prepared.path, header, log, chunk_rows=BATCH_ROWS, block_bytes=CSV_CHUNK_BYTES)
    for frame in rows:
        yield frame.select("row_no", *select)


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
    return ParsedFile(
        layout=Layout.CSV_TALL,
        meta=meta,
        header=head.header,
        # Read ahead in a thread: Polars and Python's csv module parse while the caller
        # normalises and writes the batch before.
        batches=prefetched(batches(prepared, head.header, select, log)),
        log=log,
        encoding=prepared.encoding,
    )
