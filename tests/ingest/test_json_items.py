"""The item array parsed in pieces, two at a time: cuts, order, and cuts that go wrong."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from core.errors import UnreadableFile
from core.findings import FindingLog
from devtools.synthetic.json_file import write_json
from devtools.synthetic.model import items, make_hospital
from hpt.pipeline.steps import ingest_file
from ingest import json_items, json_reader
from ingest.encoding import prepare
from ingest.json_locate import locate
from ingest.prefetch import in_order
from warehouse.db import Warehouse


def _hospital_file(path: Path, count: int, pathologies: list[str] | None = None) -> Path:
    hospital = make_hospital(5, plans=4)
    write_json(path, hospital, items(hospital, count, 5), pathologies=pathologies or [])
    return path


def _raw(path: Path, workdir: Path) -> pl.DataFrame:
    """Every raw row the JSON reader gives for `path`."""
    parsed = json_reader.read(prepare(path, workdir), FindingLog())
    return pl.concat(list(parsed.batches))


@pytest.mark.parametrize("pathology", ["", "pretty", "metadata_last"])
def test_pieces_are_arrays_of_whole_items(tmp_path: Path, pathology: str) -> None:
    """Cut anywhere but inside an item — nor in `modifier_information` after the array,
    whose entries also start with `{"description":`."""
    path = _hospital_file(tmp_path / "h.json", 300, [pathology] if pathology else [])
    layout = locate(path)
    parts = json_items.pieces(path, layout.start, layout.end, size=20_000)
    assert len(parts) > 5
    whole = json.loads(path.read_bytes())["standard_charge_information"]
    found = []
    for number, piece in enumerate(parts):
        copy = tmp_path / f"piece{number}.json"
        piece.copy_to(path, copy)
        found += json.loads(copy.read_bytes())
    assert found == whole


def test_many_pieces_read_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _hospital_file(tmp_path / "h.json", 400)
    one = _raw(path, tmp_path / "w1")
    monkeypatch.setattr(json_items, "PIECE_BYTES", 16_000)
    layout = locate(path)
    assert len(json_items.pieces(path, layout.start, layout.end, 16_000)) > 10
    many = _raw(path, tmp_path / "w2")
    assert many.equals(one)
    assert many["row_no"].n_unique() == many["row_no"].max() + 1  # items numbered 0, 1, …


def test_a_wrong_cut_is_read_again_in_one_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects nested in an item that start with an item key fool the cutter: the pieces
    around such a cut fail, and the reader parses on from there in one piece."""
    path = _hospital_file(tmp_path / "h.json", 200)
    root = json.loads(path.read_bytes())
    nested = [{"description": f"note {n}", "x": n} for n in range(40)]
    for item in root["standard_charge_information"]:
        item["custom_notes"] = nested
    path.write_text(json.dumps(root))
    one = _raw(path, tmp_path / "w1")

    monkeypatch.setattr(json_items, "PIECE_BYTES", 30_000)
    layout = locate(path)
    parts = json_items.pieces(path, layout.start, layout.end, 30_000)
    broken = 0
    for piece in parts:
        piece.copy_to(path, tmp_path / "piece.json")
        try:
            json.loads((tmp_path / "piece.json").read_bytes())
        except json.JSONDecodeError:
            broken += 1
    assert broken > 0, "no cut fell inside the nested objects: the test proves nothing"
    assert _raw(path, tmp_path / "w2").equals(one)


def test_broken_item_in_a_later_piece_is_named(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _hospital_file(tmp_path / "h.json", 300)
    text = path.read_text()
    at = text.index('"standard_charge_information"')
    for _ in range(238):
        at = text.index('{"description"', at + 1)
    path.write_text(text[:at] + '{"description": "cut' + text[at + 300 :])
    monkeypatch.setattr(json_items, "PIECE_BYTES", 16_000)
    result = ingest_file(path, wh)
    assert result.outcome == "failed"
    assert "item 237" in result.message, result.message


def test_wrong_shape_in_a_later_piece_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _hospital_file(tmp_path / "h.json", 300)
    root = json.loads(path.read_bytes())
    root["standard_charge_information"][250]["code_information"] = {"code": "1"}
    path.write_text(json.dumps(root))
    monkeypatch.setattr(json_items, "PIECE_BYTES", 16_000)
    with pytest.raises(UnreadableFile, match=r"item 250 .*code_information"):
        _raw(path, tmp_path / "w")


def _slowly(task: int) -> Iterator[tuple[int, int]]:
    for step in range(3):
        time.sleep(0.002 * ((task * 7 + step) % 3))
        if task == 4 and step == 1:
            raise ValueError("task 4 failed")
        yield task, step


def test_in_order_keeps_order_and_raises_in_place() -> None:
    seen = []
    with pytest.raises(ValueError, match="task 4 failed"):
        for stream in in_order(range(8), _slowly, workers=2, depth=1):
            for item in stream:
                seen.append(item)
    assert seen == [(task, step) for task in range(4) for step in range(3)] + [(4, 0)]


def test_in_order_closed_early_stops_its_workers() -> None:
    closed = []

    def endless(task: int) -> Iterator[int]:
        try:
            while True:
                yield task
        finally:
            closed.append(task)

    streams = in_order(range(100), endless, workers=2)
    first = next(streams)
    assert [next(first) for _ in range(3)] == [0, 0, 0]
    streams.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("hpt-worker")]
    assert 0 in closed
