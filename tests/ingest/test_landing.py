"""The landing area on an object store (`HPT_LANDING=s3://bucket/prefix`), against a real
local S3 server (moto in server mode) and the real demo universe server.

Facilities acquired on one "worker" (its own `HPT_WORK_DIR`) and ingested on another give
the same warehouse as a local landing folder; a second run downloads nothing; a landed
object that is damaged or gone fails the ingest in one line naming it and the facility,
and the facility's data stays; an upload the store refuses fails the download as worth
another try; retention drops the landed objects of URLs no longer used; a bad landing URL
is refused in one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import settings
from devtools.demo_server import DemoServer
from hpt.pipeline.acquire import acquire
from hpt.pipeline.steps import ingest_acquired, prune
from hpt.pipeline.tasks import FacilityFailed, acquired, ingested
from ingest.landing import landing_key
from ingest.registry import SourceEntry, load_sources
from tests.dags.runs import published
from tests.quality.batches import rewrite_csv
from tests.servers import s3_server, served_universe
from warehouse.db import Warehouse, writer
from warehouse.publish import publish

pytestmark = pytest.mark.slow

BUCKET = "hpt-landing"
LANDING = f"s3://{BUCKET}/landing"
HPT = str(Path(sys.executable).parent / "hpt")
# Erie (tall), Keystone (wide, zipped), Brazos (JSON, the registry names the file) and
# Austin (tall, its transfer cut once: the download resumes).
SEEDS = (501, 502, 203, 202)
CONTENTS = {
    "charges": "SELECT facility_id, count(*), round(sum(negotiated_dollar), 2), "
    "round(sum(gross_charge), 2) FROM standard_charges GROUP BY ALL ORDER BY ALL",
    "codes": "SELECT facility_id, count(DISTINCT (code_type, code)) FROM "
    "standard_charge_codes GROUP BY ALL ORDER BY ALL",
    "files": "SELECT facility_id, file_id, source, sha256, status FROM files ORDER BY ALL",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 server on a free loopback port with an empty bucket; its S3 client."""
    yield from s3_server(monkeypatch, BUCKET)


@pytest.fixture
def universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoServer, Path]]:
    yield from served_universe(tmp_path, monkeypatch, SEEDS)


def keys(client: Any, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def files_in(folder: Path) -> list[Path]:
    """The files left in a folder, but the per-URL download locks."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")


def on(worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Act as a worker whose only local folder is `worker`."""
    monkeypatch.setenv("HPT_WORK_DIR", str(worker))


def nightly(entries: list[SourceEntry], wh: Warehouse, acquirer: Path, ingester: Path,
            monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:  # fmt: skip
    """Acquire every entry on one worker, ingest each on another (what XCom would carry
    between them), then publish; the acquisitions."""
    on(acquirer, monkeypatch)
    done = [acquire(entry, wh).as_dict() for entry in entries]
    on(ingester, monkeypatch)
    for acquisition in done:
        result = ingest_acquired(acquisition, wh)
        assert result.outcome.ok, (acquisition["facility_id"], result.message)
    publish(wh)
    return done


def described(note: str) -> Callable[[dict[str, str]], None]:
    """A change to every row of a tall CSV: a note after its description."""

    def change(row: dict[str, str]) -> None:
        row["description"] += f" {note}"

    return change


def contents(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {name: published(wh, sql) for name, sql in CONTENTS.items()}


def test_acquired_on_one_worker_and_ingested_on_another_equals_a_local_landing(
    s3: Any, universe: tuple[DemoServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = universe
    entries = load_sources(folder / "sources.csv")
    assert len(entries) == len(SEEDS)
    local = Warehouse.at(tmp_path / "local" / "hpt.duckdb")
    nightly(entries, local, tmp_path / "work", tmp_path / "work", monkeypatch)

    monkeypatch.setenv("HPT_LANDING", LANDING)
    remote = Warehouse.at(tmp_path / "remote" / "hpt.duckdb")
    one, two = tmp_path / "worker-1", tmp_path / "worker-2"
    first = nightly(entries, remote, one, two, monkeypatch)
    assert contents(remote) == contents(local)
    assert {a["outcome"] for a in first} == {"downloaded"}
    austin = next(a for a in first if a["facility_id"] == "450202")
    assert austin["downloaded_bytes"] == austin["bytes"]  # resumed, not started over
    # The objects are laid out as the local landing folder is: a file and its state per URL.
    landed = {a["path"]: a for a in first}
    assert all(path.startswith(f"{LANDING}/") for path in landed)
    local_layout = [
        p.relative_to(tmp_path / "landing").as_posix() for p in files_in(tmp_path / "landing")
    ]
    assert keys(s3, "landing/") == [f"landing/{name}" for name in local_layout]
    for path, acquisition in landed.items():
        head = s3.head_object(Bucket=BUCKET, Key=path.removeprefix(f"s3://{BUCKET}/"))
        assert head["ContentLength"] == acquisition["bytes"]
    # No worker keeps a downloaded or fetched file.
    assert files_in(one) == [] and files_in(two) == []

    # The next night, the roles swapped: nothing is downloaded, nothing read again.
    on(two, monkeypatch)
    again = [acquire(entry, remote) for entry in entries]
    assert [(a.outcome, a.downloaded_bytes) for a in again] == [("not_modified", 0)] * len(SEEDS)
    assert all(a.path in landed for a in again)
    # Not even read again, as with a local landing folder (where the file's data is not the
    # bytes downloaded, a zip, the ingest finds it unchanged by its data's hash).
    monkeypatch.setenv("HPT_LANDING", str(tmp_path / "landing"))
    skipped_locally = {a.facility_id for a in (acquire(e, local) for e in entries) if a.previous}
    assert {a.facility_id for a in again if a.previous} == skipped_locally != set()
    on(one, monkeypatch)
    outcomes = {ingest_acquired(a.as_dict(), remote).outcome for a in again}
    assert outcomes == {"unchanged"}
    assert files_in(one) == [] and files_in(two) == []


def test_a_damaged_or_missing_landed_object_fails_in_one_line_and_keeps_the_data(
    s3: Any, universe: tuple[DemoServer, Path], wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = universe
    monkeypatch.setenv("HPT_LANDING", LANDING)
    [erie] = [e for e in load_sources(folder / "sources.csv") if e.facility_id == "390501"]
    assert ingested(acquired(erie.as_dict()))["outcome"] == "loaded"
    with writer(wh) as con:
        [(kept,)] = con.execute("SELECT file_id FROM current_files").fetchall()
    # A new version upstream lands, then its object is damaged, then deleted.
    csv = next((folder / "sites" / "erielakeshore").rglob("*.csv"))
    rewrite_csv(csv, csv.with_suffix(".new"), described("(changed)"))
    csv.with_suffix(".new").replace(csv)
    acquisition = acquired(erie.as_dict())
    assert acquisition["outcome"] == "downloaded"
    key = str(acquisition["path"]).removeprefix(f"s3://{BUCKET}/")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"hospital_name\nnot the file\n")
    for says in ("is not the file that landed", "is missing"):
        with pytest.raises(FacilityFailed) as failure:
            ingested(acquisition)
        line = str(failure.value)
        assert "\n" not in line and says in line, line
        assert acquisition["path"] in line and "390501" in line, line
        assert not failure.value.transient
        s3.delete_object(Bucket=BUCKET, Key=key)
    with writer(wh) as con:
        assert con.execute("SELECT file_id FROM current_files").fetchall() == [(kept,)]
        logged = con.execute("SELECT outcome FROM ingest_log ORDER BY attempted_at").fetchall()
    assert [r[0] for r in logged] == ["loaded", "failed", "failed"]
    assert files_in(Path(os.environ["HPT_WORK_DIR"])) == []


def test_retention_drops_the_landed_objects_of_a_url_no_longer_used(
    s3: Any,
    universe: tuple[DemoServer, Path],
    tmp_path: Path,
    wh: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, folder = universe
    monkeypatch.setenv("HPT_LANDING", LANDING)
    monkeypatch.setenv("HPT_RETENTION_GRACE_HOURS", "0")
    old = next((folder / "sites" / "erielakeshore").rglob("*.csv"))
    new = rewrite_csv(old, old.with_name("erie-2026.csv"), described("(2026)"))
    urls = [f"{server.base_url}/{p.relative_to(folder / 'sites')}" for p in (old, new)]
    for url in urls:  # the hospital moves its file to another URL
        erie = SourceEntry("Erie Lakeshore Hospital", "390501", state="PA", mrf_url=url)
        ingested(acquired(erie.as_dict()))
    places = {f"landing/{landing_key(url)}/" for url in urls}
    assert {k.rsplit("/", 1)[0] + "/" for k in keys(s3, "landing/")} == places
    report = prune(wh)
    assert [g.kind for g in report.deleted if g.kind == "landing"] == ["landing", "landing"]
    assert {k.rsplit("/", 1)[0] + "/" for k in keys(s3, "landing/")} == {
        f"landing/{landing_key(urls[1])}/"
    }  # the old URL's objects and its staging folder went; the current one's stay
    assert [p.name for p in (tmp_path / "work" / "landing").iterdir()] == [landing_key(urls[1])]


def test_a_landing_area_that_refuses_the_upload_fails_the_download_for_now(
    s3: Any, universe: tuple[DemoServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = universe
    monkeypatch.setenv("HPT_LANDING", "s3://no-such-bucket/landing")
    [erie] = [e for e in load_sources(folder / "sources.csv") if e.facility_id == "390501"]
    with pytest.raises(FacilityFailed) as failure:
        acquired(erie.as_dict())
    line = str(failure.value)
    assert "\n" not in line and "landing area s3://no-such-bucket/landing/" in line, line
    assert failure.value.transient  # another try later may find the store
    assert files_in(tmp_path / "work") == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://bucket/x", "scheme 'gs' is not supported"),
        ("s3://Not_A_Bucket/x", "'Not_A_Bucket' is not an S3 bucket name"),
        ("s3://bucket/../x", "the prefix part '..' is not allowed"),
    ],
)
def test_a_bad_landing_url_is_refused_in_one_line(
    url: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_LANDING", url)
    with pytest.raises(settings.SettingError) as refused:
        settings.current()
    line = str(refused.value)
    assert line.startswith("setting HPT_LANDING:") and "\n" not in line and says in line, line


def test_hpt_run_with_a_bad_landing_url_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HPT_LANDING": "ftp://example.org/landing"}
    proc = subprocess.run([HPT, "run"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "HPT_LANDING" in lines[0] and "'ftp'" in lines[0], proc.stderr
    assert not (tmp_path / "wh").exists()
