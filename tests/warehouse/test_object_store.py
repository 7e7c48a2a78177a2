"""The warehouse's data on S3 (`HPT_STORAGE=s3://bucket/prefix`), against a real local S3
server (moto in server mode, on a loopback port).

The same two hospitals ingested with local storage and with the S3 storage publish the same
charges and marts, and so do several hospitals folded in at once, then one's next file; on
S3 no charge Parquet is written in the warehouse folder; a reader in a loop never sees a
half-published facility while another process publishes new versions; retention deletes the
objects of an expired file; a bad storage URL is refused in one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.outcomes import CheckOutcome
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file, prune, publish_checked
from tests.servers import s3_server
from tests.warehouse.file_versions import two_versions
from warehouse.db import Warehouse, reader
from warehouse.marts import scoped_comparable

pytestmark = pytest.mark.slow

BUCKET = "hpt-test"
HPT = str(Path(sys.executable).parent / "hpt")
ITEMS = 200


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 server on a free loopback port with an empty bucket; its S3 client."""
    yield from s3_server(monkeypatch, BUCKET)


def keys(client: Any, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def figures(wh: Warehouse) -> dict[str, Any]:
    """What the snapshot serves, per facility: charges, judged prices, summary, and one
    code's rates read from the rows each file's index places them in."""
    con = reader(wh)
    try:
        ids = [r[0] for r in con.execute("SELECT facility_id FROM current_files").fetchall()]
        knee = scoped_comparable(con, ids, "CPT", "73721") + (
            "SELECT facility_id, row_no, payer, comparable_dollar FROM comparable_charge_codes "
            "WHERE code = '73721' ORDER BY ALL"
        )
        assert "WHERE row_no BETWEEN" in knee  # the index is read, on S3 too
        return {"knee": con.execute(knee).fetchall()} | {
            name: sorted(con.execute(sql).fetchall())
            for name, sql in {
                "charges": "SELECT facility_id, file_id, count(*), "
                "round(sum(negotiated_dollar), 2),"
                " round(sum(gross_charge), 2) FROM standard_charges GROUP BY ALL",
                "codes": "SELECT count(*), count(DISTINCT code) FROM standard_charge_codes",
                "compare": "SELECT facility_id, count(*), sum(rates), "
                "round(sum(median_dollar), 2) FROM price_compare GROUP BY ALL",
                "summary": "SELECT facility_id, current_file_id, rates, codes "
                "FROM facility_summary",
                "code_summary": "SELECT count(*), round(sum(median_dollar), 2) FROM code_summary",
                "history": "SELECT file_id, count(*) FROM charge_history GROUP BY ALL",
            }.items()
        }
    finally:
        con.close()


def local_parquet(wh: Warehouse) -> list[Path]:
    """Parquet files in the warehouse folder but the typed empty one the views fall back on."""
    return [p for p in wh.root.rglob("*.parquet") if p != wh.empty_charges]


def test_ingest_and_publish_on_s3_serve_what_local_storage_does(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hospitals = [make_hospital(81, state="MN"), make_hospital(82, state="WI")]
    files = []
    for number, hospital in enumerate(hospitals):
        path = tmp_path / f"h{number}.csv"
        tall_file(path, n_items=ITEMS, seed=81 + number, hospital=hospital)
        files.append(path)
    local = Warehouse.at(tmp_path / "local" / "hpt.duckdb", "")
    remote = Warehouse.at(tmp_path / "remote" / "hpt.duckdb", f"s3://{BUCKET}/prod/wh")
    for wh in (local, remote):
        for path in files:
            result = ingest_file(path, wh)
            assert result.outcome == "loaded", result.message

    stored = keys(s3, "prod/wh/")
    facilities = {k.split("/")[3] for k in stored if k.startswith("prod/wh/hpt-charges/")}
    runs = {k.split("/")[-1].split("-")[0] for k in stored if k.startswith("prod/wh/hpt-marts/")}
    assert runs == {"price_compare", "facility_code_prices"}  # the marts' runs, there too
    assert len(facilities) == 2
    for facility in facilities:
        folder = f"prod/wh/hpt-charges/{facility}/"
        mine = [k[len(folder) :].split("/", 1)[1] for k in stored if k.startswith(folder)]
        assert "part-00000.parquet" in mine
        assert {"marts/counts.parquet", "marts/payer_map.parquet"} <= set(mine)
        assert any(m.startswith("judged/price_compare-") for m in mine)
    assert local_parquet(remote) == []
    assert not list((tmp_path / "work").glob(".hpt-store-*"))  # staging cleaned up
    con = reader(remote)
    views = dict(
        con.execute(
            "SELECT view_name, sql FROM duckdb_views() "
            "WHERE view_name IN ('standard_charges', 'price_compare')"
        ).fetchall()
    )
    con.close()
    assert f"s3://{BUCKET}/prod/wh/hpt-charges/" in views["standard_charges"]
    assert f"s3://{BUCKET}/prod/wh/hpt-marts/" in views["price_compare"]

    expected = figures(local)
    assert expected["charges"] and all(row[2] > 0 for row in expected["charges"])
    assert expected["compare"] and expected["knee"]
    assert figures(remote) == expected
    # The warehouse suites read the snapshot's views, whose data is on S3, too.
    for wh in (local, remote):
        check = publish_checked(wh).check
        assert check.outcome != CheckOutcome.FAILED, check.message


#: The marts compared whole (but their times and the judged files' stamped paths).
MARTS = ("price_compare", "facility_code_prices", "code_summary", "code_catalog",
         "code_price_bounds", "payer_map", "price_changes", "code_changes", "top_price_changes",
         "mart_files", "mart_change_files", "mart_file_counts", "facility_summary",
         "file_timeline")  # fmt: skip


def marts(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the published marts, sorted, floats rounded to 9 digits."""
    out = {}
    with reader(wh) as con:
        for name in MARTS:
            columns = [
                f'"{column}"'
                for column, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
                if kind != "TIMESTAMP" and not column.endswith("_path")
            ]
            rows = con.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY ALL").fetchall()
            out[name] = [
                tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows
            ]
    return out


def test_folding_several_files_on_s3_gives_the_marts_local_storage_does(
    tmp_path: Path, s3: Any
) -> None:
    """Four files folded in one publish, then one facility's next file (its old file's
    values folded out, the changes derived from both judged files): the marts are those
    built on local storage, and the fold's scratch folder is gone."""
    local = Warehouse.at(tmp_path / "local" / "hpt.duckdb", "")
    remote = Warehouse.at(tmp_path / "remote" / "hpt.duckdb", f"s3://{BUCKET}/prod/wh")
    for wh in (local, remote):
        two_versions(wh.root, wh, others=3)
    expected = marts(local)
    assert len(expected["mart_files"]) == 4 and len(expected["file_timeline"]) == 5
    assert expected["price_compare"] and expected["code_summary"]
    assert expected["price_changes"] and expected["code_changes"]
    assert marts(remote) == expected
    assert local_parquet(remote) == []
    assert not list((tmp_path / "work").glob(".hpt-fold-*"))


def test_retention_deletes_expired_objects(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")  # retention is under test, not the gate
    monkeypatch.setenv("HPT_RETENTION_HISTORY_FILES", "0")
    monkeypatch.setenv("HPT_RETENTION_SNAPSHOTS", "1")
    monkeypatch.setenv("HPT_STORAGE", f"s3://{BUCKET}/r")
    wh = Warehouse.at(tmp_path / "wh" / "hpt.duckdb")  # the storage from the setting
    hospital = make_hospital(91)
    paths = [tmp_path / f"{n}.csv" for n in ("a", "b")]
    for number, path in enumerate(paths):
        tall_file(path, n_items=40 + 10 * number, seed=91 + number, hospital=hospital)
    first = ingest_file(paths[0], wh)
    second = ingest_file(paths[1], wh)
    old = f"r/hpt-charges/{first.facility_id}/{first.file_id}/"
    new = f"r/hpt-charges/{second.facility_id}/{second.file_id}/"
    assert keys(s3, old) and keys(s3, new)

    # Expires the first file, publishes without it; with one snapshot kept, none lists it.
    done = prune(wh)
    assert [e.file_id for e in done.expired] == [first.file_id]
    data = [g for g in done.deleted if g.kind == "file data"]
    assert [g.path for g in data] == [f"s3://{BUCKET}/{old[:-1]}"] and data[0].bytes > 0
    assert keys(s3, old) == []
    assert keys(s3, new)
    assert figures(wh)["history"] == [(second.file_id, second.rows)]


PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from devtools.synthetic.model import make_hospital
    from devtools.synthetic.tall import tall_file
    from hpt.pipeline.steps import ingest_file
    from warehouse.db import Warehouse

    wh, files, count = Warehouse.at(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    hospital = make_hospital(71, state="NY")
    for number in range(count):
        path = files / f"version-{number}.csv"
        tall_file(path, n_items=60 + 10 * number, seed=200 + number, hospital=hospital)
        result = ingest_file(path, wh, publish_after=True)
        assert result.outcome == "loaded", (result.outcome, result.message)
        print("published", number, flush=True)
    """
)


def check(wh: Warehouse) -> str:
    """One read of the current snapshot: every facility's charges are its current file's
    rows, once, and its judged prices are there. Returns the current files."""
    con = reader(wh)
    try:
        current = dict(
            (f, (file_id, rows))
            for f, file_id, rows in con.execute(
                "SELECT facility_id, file_id, row_count FROM current_files"
            ).fetchall()
        )
        charges = {
            f: (ids[0] if len(ids) == 1 else ids, rows)
            for f, ids, rows in con.execute(
                "SELECT facility_id, list(DISTINCT file_id), count(*) FROM standard_charges "
                "GROUP BY 1"
            ).fetchall()
        }
        compared = {
            r[0] for r in con.execute("SELECT DISTINCT facility_id FROM price_compare").fetchall()
        }
    finally:
        con.close()
    assert charges == current, f"half-published: {charges} != {current}"
    assert compared == set(current)
    return str(sorted(current.values()))


@pytest.mark.timeout(600)
def test_a_reader_never_sees_a_half_published_facility(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_STORAGE", f"s3://{BUCKET}/live")
    wh = Warehouse.at(tmp_path / "wh" / "hpt.duckdb")
    first = tmp_path / "first.csv"
    tall_file(first, n_items=50, seed=199, hospital=make_hospital(71, state="NY"))
    assert ingest_file(first, wh).outcome == "loaded"
    files = tmp_path / "files"
    files.mkdir()
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(wh.db_path), str(files), "4"],
        env={**os.environ, "HPT_WORK_DIR": str(tmp_path / "work2")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = [check(wh)]
    while publisher.poll() is None:
        state = check(wh)
        if state != seen[-1]:
            seen.append(state)
    out, err = publisher.communicate()
    assert publisher.returncode == 0, err[-3000:]
    assert out.count("published") == 4
    seen.append(check(wh))
    assert len(set(seen)) >= 2  # the reader saw versions switch, each one whole
    assert local_parquet(wh) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://bucket/x", "scheme 'gs' is not supported"),
        ("s3://Not_A_Bucket/x", "'Not_A_Bucket' is not an S3 bucket name"),
        ("s3://bucket/../x", "the prefix part '..' is not allowed"),
    ],
)
def test_a_bad_storage_url_is_refused_in_one_line(tmp_path: Path, url: str, says: str) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("x\n")
    for args, env in (
        ([HPT, "--storage", url, "ingest", str(csv)], {}),
        ([HPT, "ingest", str(csv)], {"HPT_STORAGE": url}),
    ):
        proc = subprocess.run(
            args, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "wh").exists()
