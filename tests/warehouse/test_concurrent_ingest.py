"""Loads that run at once: two `hpt ingest` processes on one warehouse, and publishes that
overtake each other.

Different facilities: both commit, both are published with their marts. The same facility,
two versions at once: the first load to commit stays current, the other is kept as history
and its process says so in one line (exit 0); ingesting either again changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline import steps
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse, reader, writer
from warehouse.publish import publish

HPT = str(Path(sys.executable).parent / "hpt")
#: Items per file: a few thousand rows, a few seconds to ingest.
ITEMS = 400


def start(wh: Warehouse, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HPT, "ingest", str(path), "--json", "--db", str(wh.db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    """Exit code, the JSON summary and stderr of an `hpt ingest --json`."""
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    return proc.returncode, json.loads(out), err


def current(wh: Warehouse) -> dict[str, tuple[str, int]]:
    """Each published facility's current file and its rows."""
    con = reader(wh)
    try:
        rows = con.execute("SELECT facility_id, file_id, row_count FROM current_files").fetchall()
    finally:
        con.close()
    return {facility: (file_id, count) for facility, file_id, count in rows}


def published_rows(wh: Warehouse, sql: str) -> dict[str, Any]:
    con = reader(wh)
    try:
        return dict(con.execute(sql).fetchall())
    finally:
        con.close()


def leftovers(wh: Warehouse) -> list[Path]:
    """Half-written charge folders or snapshots."""
    return [*wh.charges_dir.glob("*/*.part"), *wh.published_dir.glob("*.part")]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_facilities_at_once_both_commit_and_are_published(
    tmp_path: Path, wh: Warehouse
) -> None:
    # A new warehouse: both processes create it (catalog, empty-data file) at once too.
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    rows = {
        "one": tall_file(one, n_items=ITEMS, seed=71, hospital=make_hospital(71, state="NY")),
        "two": tall_file(two, n_items=ITEMS, seed=72, hospital=make_hospital(72, state="TX")),
    }
    procs = [start(wh, one), start(wh, two)]
    (code1, first, _), (code2, second, _) = (finish(p) for p in procs)
    assert code1 == code2 == 0, (first, second)
    assert first["outcome"] == second["outcome"] == "loaded"
    assert first["superseded_by"] is None and second["superseded_by"] is None
    assert first["facility_id"] != second["facility_id"]
    assert (first["rows"], second["rows"]) == (rows["one"], rows["two"])

    # The snapshot readers open now holds both, whichever process published last.
    expected = {
        first["facility_id"]: (first["file_id"], rows["one"]),
        second["facility_id"]: (second["file_id"], rows["two"]),
    }
    assert current(wh) == expected
    charges = published_rows(wh, "SELECT facility_id, count(*) FROM standard_charges GROUP BY 1")
    assert charges == {facility: count for facility, (_, count) in expected.items()}
    summary = published_rows(wh, "SELECT facility_id, current_file_id FROM facility_summary")
    assert summary == {facility: file_id for facility, (file_id, _) in expected.items()}
    compared = published_rows(wh, "SELECT facility_id, count(*) FROM price_compare GROUP BY 1")
    assert set(compared) == set(expected) and all(compared.values())
    assert not leftovers(wh)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_same_facility_at_once_one_wins_the_other_says_so(tmp_path: Path, wh: Warehouse) -> None:
    hospital = make_hospital(73, state="CA")
    v0, v1, v2 = (tmp_path / f"v{n}.csv" for n in range(3))
    tall_file(v0, n_items=ITEMS, seed=730, hospital=hospital)
    rows = {
        str(v1): tall_file(v1, n_items=ITEMS, seed=731, hospital=hospital),
        str(v2): tall_file(v2, n_items=ITEMS, seed=732, hospital=hospital),
    }
    first = ingest_file(v0, wh)
    assert first.outcome == "loaded"
    facility, v0_id = str(first.facility_id), str(first.file_id)

    # Both processes start while another writer holds the catalog, so both begin their
    # ingest with v0 current, then read and load their files at the same time.
    with writer(wh):
        procs = {str(v1): start(wh, v1), str(v2): start(wh, v2)}
        time.sleep(5)
    done = {source: finish(proc) for source, proc in procs.items()}
    assert all(code == 0 for code, _, _ in done.values()), done
    assert all(summary["outcome"] == "loaded" for _, summary, _ in done.values()), done
    lost = [source for source, (_, summary, _) in done.items() if summary["superseded_by"]]
    assert len(lost) == 1, f"not exactly one superseded: {done}"
    [loser] = lost
    [winner] = set(done) - {loser}
    won, gone = done[winner][1], done[loser][1]
    assert gone["superseded_by"] == won["file_id"]
    # One line says so, naming the file that stays current; the winner says nothing of it.
    said = [line for line in done[loser][2].splitlines() if "superseded" in line]
    assert said == [
        f"warning: {loser}: superseded: another process loaded {won['file_id']} of this "
        f"facility while this file was read; {won['file_id']} stays current, this file is "
        "kept as history"
    ]
    assert gone["message"].startswith("superseded: ") and "\n" not in gone["message"]
    assert "superseded" not in done[winner][2] and not won["superseded_by"]

    def settled() -> None:
        """The winner current and whole; the loser and v0 whole in the history."""
        assert current(wh)[facility] == (won["file_id"], rows[winner])
        assert published_rows(
            wh, f"SELECT facility_id, count(*) FROM standard_charges WHERE facility_id = "
            f"'{facility}' GROUP BY 1"
        ) == {facility: rows[winner]}  # fmt: skip
        assert published_rows(wh, "SELECT file_id, count(*) FROM charge_history GROUP BY 1") == {
            v0_id: first.rows,
            won["file_id"]: rows[winner],
            gone["file_id"]: rows[loser],
        }
        assert published_rows(wh, "SELECT facility_id, current_file_id FROM facility_summary") == {
            facility: won["file_id"]
        }
        assert set(published_rows(wh, "SELECT facility_id, 1 FROM price_compare")) == {facility}
        with writer(wh) as con:
            files = con.execute(
                "SELECT file_id, status, status_reason FROM files ORDER BY loaded_at"
            ).fetchall()
        assert files == [
            (v0_id, "loaded", None),
            (gone["file_id"], "loaded",
             f"superseded by {won['file_id']}, loaded meanwhile by another process"),
            (won["file_id"], "loaded", None),
        ]  # fmt: skip
        assert not leftovers(wh)

    settled()
    # Ingesting either file again converges: nothing changes.
    for source in (loser, winner):
        again = subprocess.run(
            [HPT, "ingest", source, "--json", "--db", str(wh.db_path)],
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["outcome"] == "unchanged"
        settled()


def test_a_file_loaded_meanwhile_stays_current(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one ingest writes its charges, another loads a file of the same facility:
    the later load keeps the other current and says so; sequential loads say nothing."""
    hospital = make_hospital(74, state="FL")
    v1, v2, v3 = (tmp_path / f"v{n}.csv" for n in (1, 2, 3))
    for number, path in enumerate((v1, v2, v3)):
        tall_file(path, n_items=30, seed=740 + number, hospital=hospital)
    first = ingest_file(v1, wh, publish_after=False)
    assert first.outcome == "loaded" and first.superseded_by is None

    real = steps.write_charges
    meanwhile: list[steps.IngestResult] = []
    others = [v3]

    def write_then_another_loads(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if others:  # the other process's whole ingest, between our start and our load
            meanwhile.append(ingest_file(others.pop(), wh))

    monkeypatch.setattr(steps, "write_charges", write_then_another_loads)
    late = ingest_file(v2, wh)
    [other] = meanwhile
    assert other.outcome == "loaded" and other.superseded_by is None
    assert late.outcome == "loaded" and late.superseded_by == other.file_id
    assert late.message == steps.superseded(str(other.file_id))
    assert current(wh) == {str(first.facility_id): (str(other.file_id), other.rows)}
    with writer(wh) as con:
        order = con.execute("SELECT file_id FROM files ORDER BY loaded_at").fetchall()
        logged = con.execute(
            "SELECT outcome, message FROM ingest_log WHERE file_id = ?", [late.file_id]
        ).fetchall()
    assert [r[0] for r in order] == [first.file_id, late.file_id, other.file_id]
    assert logged == [("loaded", late.message)]


def test_a_publish_overtaken_does_not_switch_readers_back(wh: Warehouse) -> None:
    """Publishes go in the order they held the writer's lock: one whose snapshot another
    publish overtook (here, while its check ran) leaves the newer snapshot current."""
    publish(wh)
    newer: list[Path] = []

    def overtaken(snapshot: Path) -> None:
        newer.append(publish(wh))
        assert newer[0].name > snapshot.name

    older = publish(wh, inspect=overtaken)
    assert wh.published_path.resolve() == newer[0] != older
    publish(wh)  # and a later one switches as usual
    assert wh.published_path.resolve().name > newer[0].name
