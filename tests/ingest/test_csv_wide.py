"""The wide CSV reader: CMS examples, 100+ payer/plan groups, awkward names, header problems."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from core.findings import FindingLog
from devtools.synthetic.model import items, make_hospital
from devtools.synthetic.wide import write_wide
from hpt.pipeline.steps import ingest_file
from ingest.csv_wide import group_column, groups
from warehouse.db import Warehouse, reader

_FIELD = re.compile(
    r"^(?:standard_charge\|(?P<a>.+)\|(?:negotiated_dollar|negotiated_percentage|"
    r"negotiated_algorithm|methodology)|(?:median_amount|10th_percentile|90th_percentile|count|"
    r"estimated_amount|additional_payer_notes)\|(?P<b>.+))$"
)


def independent_counts(path: Path) -> tuple[int, float]:
    """Unpivoted rows and the sum of negotiated dollars, counted with Python's csv module."""
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = [re.sub(r"\s*\|\s*", "|", h.strip()).lower() for h in records[2]]
    group_of: dict[int, str] = {}
    dollar_columns = []
    for index, name in enumerate(header):
        match = _FIELD.match(name)
        if match:
            group_of[index] = match.group("a") or match.group("b")
            if name.endswith("|negotiated_dollar"):
                dollar_columns.append(index)
    rows, dollars = 0, 0.0
    for record in records[3:]:
        if not any(cell.strip() for cell in record):
            continue
        with_value = {group_of[i] for i in group_of if i < len(record) and record[i].strip()}
        rows += max(1, len(with_value))
        dollars += sum(
            float(record[i].replace("$", "").replace(",", ""))
            for i in dollar_columns
            if record[i].strip()
        )
    return rows, dollars


@pytest.mark.parametrize("name", ["cms/v3.0.0_wide.csv", "cms/v2.0.0_wide.csv"])
def test_cms_examples_load_every_row_and_dollar(samples: Path, wh: Warehouse, name: str) -> None:
    path = samples / name
    rows, dollars = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert (result.layout, result.rows) == ("csv_wide", rows)
    count, total = (
        reader(wh)
        .sql("SELECT count(*), sum(negotiated_dollar) FROM standard_charges")
        .fetchall()[0]
    )
    assert (count, total) == (rows, pytest.approx(dollars, rel=1e-9))


def test_v2_example_keeps_published_payer_names(samples: Path, wh: Warehouse) -> None:
    ingest_file(samples / "cms/v2.0.0_wide.csv", wh)
    payers = (
        reader(wh)
        .sql("SELECT DISTINCT payer_name, plan_name FROM standard_charges ORDER BY 1")
        .fetchall()
    )
    # Underscores are what the v2 wide header says; readers keep names as published.
    assert payers == [("Platform_Health_Insurance", "PPO"), ("Region_Health_Insurance", "HMO")]


@pytest.mark.parametrize("version", ["3.0.0", "2.0.0"])
def test_120_groups_with_awkward_names(tmp_path: Path, wh: Warehouse, version: str) -> None:
    hospital = make_hospital(7, plans=120)
    path = tmp_path / "wide.csv"
    patho = ["pipe_in_payer", "pipe_spaces", "bom", "crlf", "dollar_signs", "nine_nines"]
    written = write_wide(path, hospital, items(hospital, 80, 7, version), version=version,
                         pathologies=patho, seed=7)  # fmt: skip
    header = next(r for i, r in enumerate(csv.reader(path.open(encoding="utf-8-sig"))) if i == 2)
    assert len(header) > 1000 if version == "3.0.0" else len(header) > 700
    rows, dollars = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.rows == rows
    assert rows > written * 100  # most items carry a rate for each of the 120 groups
    con = reader(wh)
    plans = con.sql(
        "SELECT count(DISTINCT (payer_name, plan_name)) FROM standard_charges "
        "WHERE payer_name IS NOT NULL"
    ).fetchall()[0][0]
    assert plans == 120
    total = con.sql("SELECT sum(negotiated_dollar) FROM standard_charges").fetchall()[0][0]
    assert total == pytest.approx(dollars, rel=1e-9)
    # A payer name containing `|` survives whole; the plan is what follows the last pipe.
    assert (
        con.sql(
            "SELECT count(*) FROM standard_charges WHERE payer_name = 'Blue Cross|Blue Shield'"
        ).fetchall()[0][0]
        > 0
    )
    assert result.findings.get("header.missing_column") is None


def test_group_column_matches_known_field_names_at_the_ends() -> None:
    assert group_column("standard_charge | Aetna | PPO | negotiated_dollar") == (
        "Aetna|PPO",
        "negotiated_dollar",
    )
    assert group_column("STANDARD_CHARGE|A|B|C|Plan|METHODOLOGY") == ("A|B|C|Plan", "methodology")
    assert group_column("count|Payer_With_Underscores|Gold Plan") == (
        "Payer_With_Underscores|Gold Plan",
        "allowed_count",
    )
    assert group_column("standard_charge|gross") is None
    assert group_column("standard_charge|methodology") is None
    log = FindingLog()
    [group] = groups(["median_amount|A|B|C|Plan 1"], [0], log)
    assert (group.payer, group.plan) == ("A|B|C", "Plan 1")


def _write(path: Path, header_edit: object) -> Path:
    hospital = make_hospital(3, plans=3)
    write_wide(path, hospital, items(hospital, 30, 3), seed=3)
    lines = path.read_text().split("\n")
    lines[2] = header_edit(lines[2])  # type: ignore[operator]
    path.write_text("\n".join(lines))
    return path


def test_group_missing_a_column_is_a_finding_and_reads_as_null(
    tmp_path: Path, wh: Warehouse
) -> None:
    hospital = make_hospital(3, plans=3)
    _, plan = hospital.payer_plans[0]
    payer = hospital.payer_plans[0][0]
    victim = f"median_amount|{payer}|{plan}"
    path = _write(tmp_path / "missing.csv", lambda h: h.replace(victim, "median_amount_gone"))
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.findings["header.missing_column"] == 1
    detail = (
        reader(wh)
        .sql("SELECT \"column\", message FROM findings WHERE rule = 'header.missing_column'")
        .fetchall()
    )
    # Reported once, on the header (by the conformance checks, which know the version).
    assert [column.lower() for column, _ in detail] == [victim.lower()]
    assert reader(wh).sql(
        "SELECT count(*) FROM standard_charges WHERE payer_name = ? AND plan_name = ? "
        "AND median_allowed IS NOT NULL",
        params=[payer, plan],
    ).fetchall() == [(0,)]


def test_duplicate_group_keeps_the_first(tmp_path: Path, wh: Warehouse) -> None:
    hospital = make_hospital(3, plans=3)
    (p1, q1), (p2, q2) = hospital.payer_plans[:2]
    # The second group's columns are renamed to the first group's: a duplicate group.
    path = _write(tmp_path / "dup.csv", lambda h: h.replace(f"|{p2}|{q2}", f"|{p1}|{q1}"))
    rows_before, _ = independent_counts(path)
    result = ingest_file(path, wh)
    assert result.outcome == "loaded", result.message
    assert result.findings["header.duplicate_column"] == 9
    con = reader(wh)
    names = con.sql(
        "SELECT DISTINCT payer_name, plan_name FROM standard_charges WHERE payer_name IS NOT NULL"
    ).fetchall()
    assert (p2, q2) not in names and (p1, q1) in names
    assert result.rows <= rows_before


def test_quoted_newlines_across_the_readers_chunks(tmp_path: Path, wh: Warehouse) -> None:
    """A wide file three times the reader's CSV chunk size, with line breaks inside quoted
    descriptions throughout: every record is read whole and unpivoted, wherever a chunk
    ends."""
    from devtools.synthetic.wide import wide_file
    from ingest.csv_wide import CSV_CHUNK_BYTES

    path = tmp_path / "big.csv"
    wide_file(path, target_bytes=3 * CSV_CHUNK_BYTES, seed=11, plans=30)
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    broken = 0
    for number, record in enumerate(records[3:]):
        if number % 50 == 0:
            record[0] += "\nsecond line"
            broken += 1
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)
    assert broken > 100 and path.stat().st_size > 2 * CSV_CHUNK_BYTES
    rows, dollars = independent_counts(path)
    result = ingest_file(path, wh)
    assert (result.outcome, result.rows) == ("loaded", rows), result.message
    count, total, items_split = (
        reader(wh)
        .sql(
            "SELECT count(*), sum(negotiated_dollar), "
            "count(DISTINCT row_no) FILTER (description LIKE '%\n%') FROM standard_charges"
        )
        .fetchall()[0]
    )
    assert (count, items_split) == (rows, broken)
    assert total == pytest.approx(dollars, rel=1e-9)
