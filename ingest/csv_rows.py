"""The data rows of a CMS CSV file (row 4 on), for both layouts: every record read as
Python's csv module reads it, at Polars' speed wherever the file is plain.

Polars parses the file a block at a time, each block cut at a line end. A block is kept
only when its bytes show that Polars read it as Python's csv module would: it parsed (a
quote inside an unquoted cell, text after a closing quote or a cut inside a quoted cell
make Polars refuse it), it holds no lone `\\r` (a line end to Python, not to Polars), and
its rows all have the number of cells the file's rows have (Polars refuses a longer row and
pads a shorter one: byte counts show it, without a second parse). A block that fails is
tried again smaller, and the small one that still fails is read record by record with
Python's csv module, which notes each oddity as a finding; the next block starts where that
read stopped, at a record's end. Either way every record is one row (numbered from 4), and
a blank one (every cell empty) is dropped. docs/formats.md has the rules.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

from core.errors import UnreadableFile
from core.findings import FindingLog, Severity

#: Spare columns past the header: a row with a few cells more parses, and is noticed.
SPARE = 4
#: The first data row's number (rows 1–3 are the hospital data and the headers).
FIRST_ROW = 4
#: The smallest block Polars is given when it narrows down a block it could not take: the
#: most Python's csv module reads around one odd row.
MIN_BLOCK_BYTES = 64 << 10
#: A record longer than this is taken for a quoted cell that never closes (a wide row of
#: 1,000 payer groups is ~10 KB).
MAX_RECORD_BYTES = 16 << 20
_LONE_CR = re.compile(rb"\r(?!\n)")
# A cell may be as long as a record (csv_header may have set a higher limit already).
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))


class _RecordTooLong(Exception):
    """A record grew past `MAX_RECORD_BYTES`."""


def data_width(header: list[str]) -> int:
    """How many row-3 columns hold data: trailing blank headers are not counted."""
    width = len(header)
    while width and not header[width - 1].strip():
        width -= 1
    return width


class Lines:
    """The lines of a UTF-8 file from a byte offset, split where Python's csv module splits
    them (`\\n`, `\\r\\n`, a lone `\\r`), as text for `csv.reader`. Keeps the offset after
    the last line handed out, how that line ended, and whether the file ran out."""

    PIECE = 1 << 20

    def __init__(self, handle: BinaryIO, offset: int) -> None:
        handle.seek(offset)
        self.handle = handle
        self.offset = offset
        self.record_start = offset
        self.last = b""
        self.exhausted = False
        self._lines: list[bytes] = []  # reversed: the next line is last
        self._rest = b""

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        if not self._lines and not self._fill():
            self.exhausted = True
            raise StopIteration
        self.last = line = self._lines.pop()
        self.offset += len(line)
        if self.offset - self.record_start > MAX_RECORD_BYTES:
            raise _RecordTooLong
        return line.decode("utf-8", errors="replace")

    @property
    def ended(self) -> bool:
        """Whether the last line handed out has a line end."""
        return self.last.endswith((b"\n", b"\r"))

    @property
    def lone_cr(self) -> bool:
        """Whether the last line handed out ends with a lone `\\r` (`splitlines` keeps a
        `\\r\\n` whole, so a line ending in `\\r` ends in a lone one)."""
        return self.last.endswith(b"\r")

    def _fill(self) -> bool:
        """Split the next piece of the file into lines; False at the end of the file."""
        while True:
            piece = self.handle.read(self.PIECE)
            data = self._rest + piece
            if not piece:
                self._rest = b""
                self._lines = [data] if data else []
                return bool(data)
            lines = data.splitlines(keepends=True)
            # The last line may go on in the next piece (a `\r` there may be half a `\r\n`).
            self._rest = b"" if lines[-1].endswith(b"\n") else lines.pop()
            if lines:
                lines.reverse()
                self._lines = lines
                return True


def data_start(handle: BinaryIO) -> int:
    """The byte offset of row 4: after a BOM and the first three records."""
    bom = handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    lines = Lines(handle, len(codecs.BOM_UTF8) if bom else 0)
    reader = csv.reader(lines)
    for _ in range(FIRST_ROW - 1):
        if next(reader, None) is None:
            break
    return lines.offset


def truncated(cells: int, width: int, size: int) -> str:
    """The one line for a file cut off in its last row."""
    return (
        f"file is truncated: the last row has {cells} of {width} columns and no line end "
        f"({size} bytes); nothing loaded"
    )


def _missing_message(cells: int, width: int) -> str:
    return (
        f"row has {cells} of the {width} cells row 3 has headers for; the missing cells "
        "are read as empty"
    )


def _separators(data: bytes, frame: pl.DataFrame, *, estimate: bool = False) -> int:
    """The commas between cells in `data` (those outside quoted cells), as Polars read it
    into `frame` (`row_no` and text columns): from byte counts, not a second parse. With
    `estimate`, the text's size is Polars' own count of its string bytes (`estimated_size`,
    which costs nothing: ~0.4 s per GB less than measuring each cell), unchecked."""
    cells = pl.all().exclude("row_no")
    if b'"' in data:
        # The commas of the bytes less those inside cells (only quoted cells hold one);
        # joined first, as counting cell by cell costs more than the join's copy.
        inside = frame.select(
            pl.sum_horizontal(cells.str.join("").str.count_matches(",", literal=True))
        ).item()
        return data.count(b",") - int(inside)
    # Nothing quoted: every byte is a cell's, a comma or part of a line end.
    if estimate:
        size = frame.drop("row_no").estimated_size()
    else:
        size = frame.select(pl.sum_horizontal(cells.str.len_bytes().sum())).item()
    ends = frame.height - (not data.endswith(b"\n"))
    if b"\r" in data:  # no lone `\r` here (checked before): each is half a `\r\n`
        ends += data.count(b"\r")
    return len(data) - int(size) - ends


@dataclass
class RowReader:
    """Reads the data rows of one CSV file (see the module docstring)."""

    path: Path
    header: list[str]
    log: FindingLog
    block_bytes: int
    width: int = field(init=False)
    data_width: int = field(init=False)
    columns: list[str] = field(init=False)
    #: How many cells the rows have (row 3's count, until blocks show another).
    cells: int = field(init=False)
    #: Whether Polars' `estimated_size` of text columns is their exact size (while so).
    sizes_exact: bool = True
    #: Bytes read by Python's csv module so far (the rest Polars read).
    exact_bytes: int = 0

    def __post_init__(self) -> None:
        self.width = len(self.header)
        self.data_width = data_width(self.header)
        self.columns = [f"c{i}" for i in range(self.width)]
        self.cells = self.width
        self._out = pl.Schema({"row_no": pl.Int64, **{c: pl.String for c in self.columns}})

    def blocks(self) -> Iterator[tuple[pl.LazyFrame, int]]:
        """Rows block by block, with how many records each block holds: `row_no` and `c0…`
        as text, blank rows dropped when collected (lazy: a batch of blocks is collected
        at once, as each collect costs ~1 ms however small the block)."""
        size = self.path.stat().st_size
        smallest = min(self.block_bytes, MIN_BLOCK_BYTES)
        block = self.block_bytes
        with self.path.open("rb") as handle:
            position = data_start(handle)
            row = FIRST_ROW
            while position < size:
                handle.seek(position)
                data = handle.read(block)
                at_end = position + len(data) >= size
                fast = self._fast(data, at_end, row, learn=block == smallest)
                if fast is None and block > smallest:
                    # Most of a block is plain: try a smaller one, so that Python's csv
                    # module reads only the little around the odd rows.
                    block = max(smallest, block // 8)
                    continue
                if fast is None:
                    frame, records, end = self._exact(handle, position, position + len(data), row)
                    rows = frame.lazy()
                    self.exact_bytes += end - position
                else:
                    frame, used = fast
                    records, end = frame.height, position + used
                    rows = self._kept(frame)
                yield rows, records
                position = end
                row += records
                block = min(self.block_bytes, block * 2)

    def _fast(
        self, data: bytes, at_end: bool, row: int, *, learn: bool
    ) -> tuple[pl.DataFrame, int] | None:
        """Polars' reading of the whole records at the start of `data` and the bytes they
        take, or None where it would differ from Python's csv module's. With `learn`, rows
        of another length than before (all alike) are taken too."""
        end = len(data) if at_end else data.rfind(b"\n") + 1
        if not end:
            return None  # a record longer than the block
        if b"\r" in data and _LONE_CR.search(data, 0, end):
            return None
        if at_end and data.count(b'"') % 2:
            return None  # the file may end inside a quoted cell, which Polars may not see
        frame = self._parse(data[:end], row, self.cells)
        if frame is None and data.find(b'"', 0, end) >= 0:
            # The cut may be inside a quoted cell: cut where an even number of quotes lies
            # before the line end (counted only now, as most blocks parse at once).
            cut = _record_end(data, end)
            if cut != end:
                end = cut
                frame = self._parse(data[:end], row, self.cells) if end else None
        if frame is None and end and learn:
            frame = self._relearn(data[:end], row)
        if at_end and self.cells < self.data_width and not data.endswith((b"\n", b"\r")):
            return None  # a short last row without a line end: judged exactly (truncated?)
        return None if frame is None else (frame, end)

    def _relearn(self, data: bytes, row: int) -> pl.DataFrame | None:
        """`data` parsed, if all its rows have another number of cells than the blocks
        before (which is then expected of the next ones)."""
        roomy = self._parse(data, row, self.width + SPARE, strict=False)
        if roomy is None:
            return None
        per_row, rest = divmod(_separators(data, roomy), roomy.height)
        if rest or per_row + 1 == self.cells:
            return None
        frame = self._parse(data, row, per_row + 1)
        if frame is not None:
            self.cells = per_row + 1
        return frame

    def _parse(
        self, data: bytes, row: int, cells: int, *, strict: bool = True
    ) -> pl.DataFrame | None:
        """`data` parsed by Polars into `cells` columns, if it parses and (when `strict`)
        every row has exactly `cells` cells."""
        names = self.columns[:cells] + [f"x{i}" for i in range(cells - self.width)]
        try:
            # A row with more cells than `names` is refused (not truncated); so when the
            # separators are `cells - 1` per row on average, each row has exactly `cells`.
            frame = pl.read_csv(
                data,
                has_header=False,
                schema={name: pl.String for name in names},
                truncate_ragged_lines=False,
                missing_columns="insert",
                quote_char='"',
                # An empty cell is null, quoted (`""`) or not, as from Python's csv module.
                null_values=[""],
                row_index_name="row_no",
                row_index_offset=row,
            )
        except pl.exceptions.PolarsError:
            return None
        if not frame.height:
            return None
        # A row shorter than `cells` ends in nulls; if none does, no count is needed.
        short = frame.get_column(names[-1]).null_count()
        if strict and short and not self._all_rows_have(data, frame, cells):
            return None
        if strict and cells > self.width:
            extra = pl.any_horizontal(pl.col(names[self.width :]).is_not_null()).any()
            if frame.select(extra).item():
                return None  # cells past row 3's headers: read exactly, to report them
        return frame

    def _all_rows_have(self, data: bytes, frame: pl.DataFrame, cells: int) -> bool:
        """Whether the rows of `frame` (none longer than `cells`) add up to `cells` cells
        each, the separators of `data` show."""
        wanted = frame.height * (cells - 1)
        if b'"' in data or not self.sizes_exact:
            return _separators(data, frame) == wanted
        if _separators(data, frame, estimate=True) == wanted:
            return True
        if _separators(data, frame) != wanted:
            return False
        self.sizes_exact = False  # the estimate was not exact: measure from now on
        return True

    def _kept(self, frame: pl.DataFrame) -> pl.LazyFrame:
        """A block's rows as Polars read them, each of `self.cells` cells: blank ones
        dropped, short ones reported, the columns of row 3 only."""
        blank = pl.all_horizontal(pl.all().exclude("row_no").is_null())
        rows = frame.lazy().filter(~blank).with_columns(pl.col("row_no").cast(pl.Int64))
        if self.cells == self.width:
            return rows
        if self.cells < self.data_width:
            self.log.add_frame(
                "csv.missing_cells",
                Severity.ALERT,
                _missing_message(self.cells, self.data_width),
                rows.select("row_no", pl.lit(self.cells).alias("value")).collect(),
                self.header[self.cells],
            )
        have = frame.columns
        return rows.select(
            "row_no",
            *(pl.col(c) if c in have else pl.lit(None, pl.String).alias(c) for c in self.columns),
        )

    def _exact(
        self, handle: BinaryIO, start: int, stop: int, row: int
    ) -> tuple[pl.DataFrame, int, int]:
        """The records from byte `start` (a record's start) through the one that ends at or
        past `stop`, read by Python's csv module and their oddities recorded: the rows of
        the non-blank ones, how many records were read, and where they end."""
        lines = Lines(handle, start)
        reader = csv.reader(lines)
        rows: list[list[str | None]] = []
        numbers: list[int] = []
        records = 0
        width = self.width
        while lines.offset < stop:
            lines.record_start = lines.offset
            try:
                cells = next(reader)
            except StopIteration:
                break
            except _RecordTooLong:
                raise UnreadableFile(
                    f"row {row + records:,}: a quoted cell opened in this row is still open "
                    f"{MAX_RECORD_BYTES >> 20} MB later (a quote that never closes?); "
                    "nothing loaded"
                ) from None
            except csv.Error as error:
                raise UnreadableFile(
                    f"row {row + records:,}: CSV data could not be read: {error}"
                ) from error
            if lines.exhausted:
                cut = "" if lines.ended else " and the file has no line end (truncated?)"
                raise UnreadableFile(
                    f"row {row + records:,}: a quoted cell opened in this row never closes"
                    f"{cut} (byte {lines.record_start:,}); nothing loaded"
                )
            blank = not any(cells)
            if len(cells) != width or lines.lone_cr:
                self._note(row + records, cells, blank, lines)
            if not blank:
                padded: list[str | None] = [cell or None for cell in cells[:width]]
                if len(padded) < width:
                    padded += [None] * (width - len(padded))
                rows.append(padded)
                numbers.append(row + records)
            records += 1
        values = zip(*rows, strict=True) if rows else ((),) * self.width
        data = {"row_no": numbers, **dict(zip(self.columns, map(list, values), strict=True))}
        return pl.DataFrame(data, schema=self._out), records, lines.offset

    def _note(self, row: int, cells: list[str], blank: bool, lines: Lines) -> None:
        """Record a record's oddities: a lone `\\r` line end, fewer or more cells; refuse a
        file whose last record is short and has no line end (it was cut off)."""
        if lines.lone_cr:
            self.log.add(
                "csv.lone_cr",
                Severity.ALERT,
                "row ends with a lone carriage return (\\r); read as a line end",
                row=row,
            )
        if blank:
            return
        if len(cells) < self.data_width and not lines.ended:
            raise UnreadableFile(truncated(len(cells), self.data_width, lines.offset))
        if len(cells) < self.data_width:
            self.log.add(
                "csv.missing_cells",
                Severity.ALERT,
                _missing_message(len(cells), self.data_width),
                row=row,
                column=self.header[len(cells)],
                value=len(cells),
            )
        extra = next((cell for cell in cells[self.width :] if cell), None)
        if extra is not None:
            self.log.add(
                "csv.extra_cells",
                Severity.ERROR,
                "row has more cells than row 3 has headers; extra cells ignored",
                row=row,
                column="(past last column)",
                value=extra,
            )


def _record_end(data: bytes, end: int) -> int:
    """The last line end at or before `end` with an even number of quotes before it (so
    outside a quoted cell, in a block that starts at a record's start); 0 if none."""
    quotes = data.count(b'"', 0, end)
    while end and quotes % 2:
        start = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', start, end)
        end = start
    return end


def data_rows(
    path: Path, header: list[str], log: FindingLog, *, chunk_rows: int, block_bytes: int
) -> Iterator[pl.DataFrame]:
    """The data rows of either CSV layout, about `chunk_rows` at a time (`row_no`, `c0…`),
    blank rows dropped, Polars parsing `block_bytes` at a time."""
    pending: list[pl.LazyFrame] = []
    count = 0
    for rows, records in RowReader(path, header, log, block_bytes).blocks():
        pending.append(rows)
        count += records
        if count >= chunk_rows:
            yield pl.concat(pending).collect()
            pending, count = [], 0
    if pending:
        yield pl.concat(pending).collect()
