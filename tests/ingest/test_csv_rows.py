"""Reading CSV data rows as Python's csv module does: quoted line breaks across any block
boundary, rows with more or fewer cells than headers, lone `\\r` line ends, blank rows,
broken quoting, and a quote that never closes."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.findings import FindingLog
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import general_rows, tall_file
from hpt.pipeline.steps import ingest_file
from ingest import csv_tall, csv_wide
from ingest.csv_header import read_head
from ingest.csv_rows import MIN_BLOCK_BYTES, RowReader
from ingest.detect import open_file
from ingest.encoding import prepare
from warehouse.db import Warehouse, reader

HOSPITAL = make_hospital(3)
TALL = ["description", "code|1", "code|1|type", "setting", "payer_name", "plan_name",
        "standard_charge|negotiated_dollar", "standard_charge|methodology",
        "additional_payer_notes"]  # fmt: skip
DOLLAR = TALL.index("standard_charge|negotiated_dollar")
GROUPS = ["Aetna|PPO", "Cigna|HMO"]
WIDE = ["description", "code|1", "code|1|type", "setting",
        *[field.format(g) for g in GROUPS for field in (
            "standard_charge|{}|negotiated_dollar", "standard_charge|{}|methodology",
            "additional_payer_notes|{}")],
        "additional_generic_notes"]  # fmt: skip
WIDE_DOLLARS = [i for i, name in enumerate(WIDE) if name.endswith("negotiated_dollar")]
WIDE_GROUPS = [range(i, i + 3) for i in WIDE_DOLLARS]


def records(text: str) -> list[list[str]]:
    """The data records (row 4 on) as Python's csv module reads them."""
    return list(csv.reader(io.StringIO(text, newline="")))[3:]


def head_text(header: list[str]) -> str:
    """Rows 1–3 of a v3 file with `header` as row 3."""
    names, values = general_rows(HOSPITAL, "3.0.0")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([names, values, header])
    return out.getvalue()


def read_raw(path: Path, tmp_path: Path, block: int) -> tuple[pl.DataFrame, FindingLog]:
    """The reader's raw batches of `path` (either layout), Polars parsing `block` bytes at
    a time."""
    log = FindingLog()
    prepared = prepare(path, tmp_path / "work")
    with (
        mock.patch.object(csv_tall, "CSV_CHUNK_BYTES", block),
        mock.patch.object(csv_wide, "CSV_CHUNK_BYTES", block),
    ):
        frames = list(open_file(prepared, log).batches)
    # A wide batch of payer-less rows has no payer columns.
    return pl.concat(frames, how="diagonal") if frames else pl.DataFrame(), log


# --- the real failure, reproduced ------------------------------------------------------


def test_quoted_line_breaks_and_broken_quotes_across_blocks(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tall file like the real one that stopped the reader: many payer notes with quoted
    line breaks (with 64 KB blocks, several where a block is cut), a few with a quote that
    is not doubled, a few rows with extra cells. Polars alone refuses it; every record Python's csv
    module reads is one row, with its dollars. (The quality gate, off here, would hold the
    file: the rows a broken quote splits off have no setting.)"""
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    path = tmp_path / "notes.csv"
    tall_file(path, target_bytes=3 << 20, seed=5,
              pathologies=["multiline_notes", "broken_quotes", "extra_cells"])  # fmt: skip
    text = path.read_text()
    everything = list(csv.reader(io.StringIO(text, newline="")))
    header, rows = everything[2], [r for r in everything[3:] if any(r)]
    width, dollar = len(header), header.index("standard_charge|negotiated_dollar")
    multiline = sum(1 for r in rows if len(r) >= width and "\n" in r[width - 1])
    assert multiline > 500 and sum(len(r) > width for r in rows) > 3
    with pytest.raises(pl.exceptions.PolarsError):  # the reproduction: Polars alone fails
        pl.read_csv(text.split("\n", 3)[3].encode(), has_header=False,
                    schema={f"c{i}": pl.String for i in range(width + 4)})  # fmt: skip
    with mock.patch.object(csv_tall, "CSV_CHUNK_BYTES", 64 << 10):  # ~50 blocks
        result = ingest_file(path, wh)
    assert (result.outcome, result.rows) == ("loaded", len(rows)), result.message
    con = reader(wh)
    count, dollars, notes = con.sql(
        "SELECT count(*), sum(negotiated_dollar), "
        "count(*) FILTER (payer_notes LIKE '%\n%') FROM standard_charges"
    ).fetchall()[0]
    expected = sum(float(r[dollar]) for r in rows if len(r) > dollar and r[dollar])
    assert (count, notes) == (len(rows), multiline)
    assert dollars == pytest.approx(expected, rel=1e-12)
    long_rows = sum(1 for r in rows if any(r[width:]))
    short_rows = sum(1 for r in rows if len(r) < width)
    assert result.findings["csv.extra_cells"] == long_rows
    assert result.findings["csv.missing_cells"] == short_rows


def test_quote_that_never_closes_names_its_row(tmp_path: Path, wh: Warehouse) -> None:
    body = ["Office visit,99213,CPT,outpatient,Aetna,PPO,120,fee schedule,ok\n"] * 50
    body[20] = 'Office visit,99213,CPT,outpatient,Aetna,PPO,120,fee schedule,"never closed\n'
    path = tmp_path / "open.csv"
    path.write_text(head_text(TALL) + "".join(body))
    for block in (64, 1 << 20):
        with mock.patch.object(csv_tall, "CSV_CHUNK_BYTES", block):
            result = ingest_file(path, wh)
        assert result.outcome == "failed"
        assert "row 24: a quoted cell opened in this row never closes" in result.message
        assert "\n" not in result.message
    assert reader(wh).sql("SELECT count(*) FROM files").fetchall() == [(0,)]


def test_each_oddity_is_a_finding_with_its_row(tmp_path: Path) -> None:
    lines = [
        "Visit,99213,CPT,outpatient,Aetna,PPO,120,fee schedule,\n",  # row 4
        "Visit,99214,CPT,outpatient,Aetna,PPO,130,fee schedule,,surprise\n",  # 5: extra
        "Visit,99215,CPT,outpatient,Aetna,PPO,140\n",  # 6: fewer
        "Visit,99211,CPT,outpatient,Aetna,PPO,150,fee schedule,\r",  # 7: lone \r
        "\r\n",  # 8: blank
        ",,,,,,,,\n",  # 9: blank
        'Visit,99212,CPT,outpatient,Aetna,PPO,160,fee schedule,"two\nlines"\n',  # 10
    ]
    path = tmp_path / "odd.csv"
    path.write_text(head_text(TALL) + "".join(lines), newline="")
    for block in (16, 100, 1 << 20):
        raw, log = read_raw(path, tmp_path, block)
        assert raw["row_no"].to_list() == [4, 5, 6, 7, 10]
        assert raw["negotiated_dollar"].to_list() == ["120", "130", "140", "150", "160"]
        assert raw["payer_notes"].to_list()[-1] == "two\nlines"
        found = log.frame().filter(pl.col("rule").str.starts_with("csv."))
        assert sorted(found.select("rule", "row_no", "value").rows()) == [
            ("csv.extra_cells", 5, "surprise"),
            ("csv.lone_cr", 7, None),
            ("csv.missing_cells", 6, "7"),
        ]


def _python_read(path: Path) -> tuple[int, int]:
    """Rows read from `path` with 1 MB blocks, and how many bytes Python's csv module read."""
    rows = RowReader(path, read_head(path).header, FindingLog(), 1 << 20)
    count = sum(frame.collect().height for frame, _ in rows.blocks())
    return count, rows.exact_bytes


def test_only_the_region_around_an_odd_row_is_read_by_python(tmp_path: Path) -> None:
    """A plain file is read by Polars alone; one odd row costs one small region of Python's
    csv module; rows all one cell longer (an empty one) are noticed and read by Polars."""
    path = tmp_path / "plain.csv"
    written = tall_file(path, target_bytes=6 << 20, seed=2)
    assert _python_read(path) == (written, 0)
    lines = path.read_bytes().split(b"\n")
    middle = len(lines) // 2
    short = [*lines[:middle], b",".join(lines[middle].split(b",")[:5]), *lines[middle + 1 :]]
    path.write_bytes(b"\n".join(short))
    count, by_python = _python_read(path)
    assert count == written and 0 < by_python <= MIN_BLOCK_BYTES + 1024
    longer = lines[:3] + [line + b"," if line else line for line in lines[3:]]
    path.write_bytes(b"\n".join(longer))
    assert _python_read(path) == (written, 0)


# --- property: any such rows, anywhere, any block size -----------------------------------

ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])
NOTES = st.sampled_from(["", "see contract", "two\nlines", 'a "quoted", note\r\nend', "cr\ronly"])
SHAPES = st.sampled_from(["full"] * 6 + ["extra", "fewer", "empty_line", "commas"])
ROW = st.tuples(SHAPES, st.integers(0, 10**7), NOTES, st.integers(1, 8), ENDINGS)
BLOCKS = st.one_of(st.integers(8, 600), st.sampled_from([4096, 1 << 20]))


def _write(cells: list[str], ending: str) -> str:
    """One record, ended by `ending`; a cell with `\\r` or `\\n` quoted (csv.writer quotes
    only the characters of its own line end)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().removesuffix("\r\n") + ending


def _body(rows: list[tuple[str, int, str, int, str]], layout: str) -> str:
    """Data rows of `layout`, each shaped as drawn; a lone `\\r` is never followed by an
    empty line (together they would be one `\\r\\n`)."""
    width = len(TALL if layout == "tall" else WIDE)
    parts: list[str] = []
    previous = "\n"
    for shape, cents, note, keep, ending in rows:
        dollar = "" if cents % 7 == 0 else f"{cents / 100:.2f}"
        if layout == "tall":
            cells = ["Visit", "99213", "CPT", "outpatient", "Aetna", "PPO", dollar, "fee schedule",
                     note]  # fmt: skip
        else:
            second = "" if cents % 3 == 0 else f"{cents / 300:.2f}"
            method, other = "fee schedule" if dollar else "", "case rate" if second else ""
            cells = ["Visit", "99213", "CPT", "outpatient", dollar, method, note, second, other,
                     "", ""]  # fmt: skip
        if shape == "extra":
            cells += ["", "surprise", "cells"]
        elif shape == "fewer":
            cells = cells[: keep % width or 1]
        elif shape == "commas":
            cells = [""] * width
        if shape == "empty_line":
            parts.append("\r\n" if previous == "\r" and ending == "\n" else ending)
        else:
            parts.append(_write(cells, ending))
        previous = parts[-1][-1]
    return "".join(parts)


def _expected(text: str, layout: str) -> tuple[int, float]:
    """Rows and dollars as Python's csv module reads the file."""
    rows = [r for r in records(text) if any(r)]
    if layout == "tall":
        dollars = [r[DOLLAR] for r in rows if len(r) > DOLLAR]
        return len(rows), sum(float(d) for d in dollars if d)
    count, total = 0, 0.0
    for r in rows:
        groups = [g for g in WIDE_GROUPS if any(r[i] for i in g if i < len(r))]
        count += len(groups) or 1
        total += sum(float(r[g[0]]) for g in groups if g[0] < len(r) and r[g[0]])
    return count, total


@pytest.mark.parametrize("layout", ["tall", "wide"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, min_size=1, max_size=40), block=BLOCKS)
def test_rows_and_dollars_match_pythons_csv_module(
    tmp_path: Path, layout: str, rows: list[tuple[str, int, str, int, str]], block: int
) -> None:
    text = head_text(TALL if layout == "tall" else WIDE) + _body(rows, layout)
    path = tmp_path / f"{layout}.csv"
    path.write_bytes(text.encode())
    raw, log = read_raw(path, tmp_path, block)
    count, dollars = _expected(text, layout)
    cells = raw.get_column("negotiated_dollar", default=pl.Series([], dtype=pl.String))
    got = cells.cast(pl.Float64).sum()
    assert (raw.height, got) == (count, pytest.approx(dollars, rel=1e-12))
    width = len(TALL if layout == "tall" else WIDE)
    kept = [r for r in records(text) if any(r)]
    assert log.counts["csv.missing_cells"] == sum(len(r) < width for r in kept)
    assert log.counts["csv.extra_cells"] == sum(any(r[width:]) for r in kept)
    lone = sum(1 for shape, *_, ending in rows if ending == "\r")
    assert log.counts["csv.lone_cr"] == lone
