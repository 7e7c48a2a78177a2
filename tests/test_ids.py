"""Facility and file ids are checked where they enter (registry, `--facility-id`, a file's
header, `hpt accept`) and where a path is built from them: nothing reaches a path or a
`read_parquet` glob outside the warehouse, and a refusal is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import UnreadableFile
from core.files import FileMeta
from core.ids import FACILITY_ID, InvalidId, slug_facility_id, valid_facility_id, valid_file_id
from devtools.synthetic.tall import tall_file
from hpt.cli import app
from hpt.pipeline.steps import facility_id_for, ingest_file
from ingest.registry import load_sources
from warehouse.db import Warehouse, reader

runner = CliRunner()
HOSTILE = ["../../x", "..", "a/b", "a\\b", "*", "tx-?", "[ab]", "", " x", "x ", "A1", "a_b",
           "-a", "x" * 65, "a\x00b", "05T123", "ca.1"]  # fmt: skip


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("value", ["050101", "ca-12345", "npi-1234567893", "a", "x" * 64])
def test_valid_ids_pass(value: str) -> None:
    assert valid_facility_id(value) == value
    assert valid_file_id(f"{value}-0123456789ab") == f"{value}-0123456789ab"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_refused_in_one_line(value: str) -> None:
    with pytest.raises(InvalidId) as refused:
        valid_facility_id(value, "--facility-id")
    message = str(refused.value)
    assert message.startswith("--facility-id: ") and "\n" not in message
    with pytest.raises(InvalidId):
        valid_file_id(value + "/x")


@pytest.mark.parametrize("value", ["../../x", "*", "tx-?", "[ab]", "/etc"])
def test_charges_path_refuses_what_is_not_an_id(wh: Warehouse, value: str) -> None:
    with pytest.raises(InvalidId):
        wh.charges_path(value, "f-0123456789ab")
    with pytest.raises(InvalidId):
        wh.charges_path("tx-1", value)
    assert wh.charges_path("tx-1", "tx-1-0123456789ab").parent.parent == wh.charges_dir


def test_slugs_of_free_text_are_valid_ids() -> None:
    assert slug_facility_id("St. Luke's Hospital") == "st-luke-s-hospital"
    assert slug_facility_id("../../etc/passwd") == "etc-passwd"
    assert slug_facility_id("[/] West *Mercy* ?") == "west-mercy"
    assert FACILITY_ID.fullmatch(slug_facility_id("Hôpital " + "x" * 100))
    with pytest.raises(InvalidId):
        slug_facility_id("../*?[]")


def test_ids_derived_from_a_header_are_slugged() -> None:
    hostile = FileMeta(license_number="../../x", license_state="C/A", hospital_name="[x]")
    assert facility_id_for(hostile) == "ca-x"
    assert facility_id_for(FileMeta(license_number="1", license_state="T*X?")) == "tx-1"
    assert facility_id_for(FileMeta(hospital_name="../../x Hospital")) == "x-hospital"
    with pytest.raises(UnreadableFile, match="cannot derive a facility id"):
        facility_id_for(FileMeta(license_number="1", license_state="../..", hospital_name="?"))


def test_cli_refuses_a_hostile_facility_id_before_reading(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "good.csv"
    tall_file(path, n_items=3, seed=1)
    victim = wh.root.parent / "victim"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("kept")
    before = files_under(tmp_path)
    for value in ("../../victim", "*", "Tx-1", "a_b"):
        result = runner.invoke(
            app, ["ingest", str(path), "--db", str(wh.db_path), "--facility-id", value]
        )
        assert result.exit_code == 2, result.output
        assert "not a valid facility id" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert files_under(tmp_path) == before  # nothing written, nothing removed
    assert (victim / "keep.txt").read_text() == "kept"


def test_pipeline_refuses_a_hostile_facility_id_too(tmp_path: Path, wh: Warehouse) -> None:
    """Callers other than the CLI (the DAG, scripts) get a failed result, not a write."""
    path = tmp_path / "good.csv"
    tall_file(path, n_items=3, seed=1)
    result = ingest_file(path, wh, facility_id="../../victim", publish_after=False)
    assert result.outcome == "failed" and "not a valid facility id" in result.message
    assert result.facility_id is None
    assert not (tmp_path / "victim").exists() and not (wh.root.parent / "victim").exists()


def test_hostile_header_is_filed_under_a_slug(tmp_path: Path, wh: Warehouse) -> None:
    """A license state of `../..` in the file's own header cannot name a folder."""
    path = tmp_path / "hostile.csv"
    tall_file(path, n_items=3, seed=1)
    text = path.read_text()
    path.write_text(text.replace("license_number|TX", "license_number|../..", 1)
                    .replace(",10037,1000007919,", ",../../x,,", 1))  # fmt: skip
    result = ingest_file(path, wh)
    assert result.facility_id is not None and FACILITY_ID.fullmatch(result.facility_id)
    assert result.outcome == "loaded", result.message
    folders = {p.resolve() for p in wh.charges_dir.glob("*/*")}
    assert folders and all(p.is_relative_to(wh.charges_dir) for p in folders)
    assert not (wh.root.parent / "x").exists()


REGISTRY_HEADER = "facility_id,name,state,website\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("../../x,Mercy,CA,http://m/", "'../../x' is not a valid facility id"),
        ("05T123,Mercy,CA,http://m/", "'05T123' is not a valid facility id"),
        ("tx_1,Mercy,CA,http://m/", "'tx_1' is not a valid facility id"),
        (",!!!,CA,http://m/", "give a `facility_id`"),
    ],
)
def test_registry_ids_are_checked(tmp_path: Path, line: str, message: str) -> None:
    sources = tmp_path / "sources.csv"
    sources.write_text(REGISTRY_HEADER + line + "\n")
    result = runner.invoke(app, ["sources", "list", "--sources", str(sources)])
    assert result.exit_code == 2
    assert message in result.output and "entry 1" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_registry_names_without_an_id_are_slugged(tmp_path: Path) -> None:
    sources = tmp_path / "sources.csv"
    sources.write_text(REGISTRY_HEADER + ",St. Luke's [x] Hospital,CA,http://m/\n")
    [entry] = load_sources(sources)
    assert entry.key == "st-luke-s-x-hospital"


def test_sources_add_refuses_a_hostile_id(tmp_path: Path) -> None:
    sources = tmp_path / "sources.csv"
    result = runner.invoke(app, ["sources", "add", "Mercy", "--facility-id", "../x",
                                 "--website", "http://m/", "--sources", str(sources)])  # fmt: skip
    assert result.exit_code == 2 and "not a valid facility id" in result.output
    assert not sources.exists()


def test_accept_refuses_a_hostile_file_id(tmp_path: Path, wh: Warehouse) -> None:
    path = tmp_path / "good.csv"
    tall_file(path, n_items=3, seed=1)
    assert runner.invoke(app, ["ingest", str(path), "--db", str(wh.db_path)]).exit_code == 0
    result = runner.invoke(app, ["accept", "../[x]*", "--db", str(wh.db_path)])
    assert result.exit_code == 1 and "not a valid file id" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert reader(wh).sql("SELECT count(*) FROM standard_charges").fetchall()[0][0] > 0
