"""The source registry file: read, validated, appended to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import UnreadableFile
from ingest.registry import SourceEntry, add_source, load_sources, write_sources

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_keeps_entries_and_comments_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    entries = [
        SourceEntry("Mercy Hospital", "050001", "CA", "Fresno", "93721", website="mercy.org"),
        SourceEntry("Valley Clinic", mrf_url="https://valley.org/prices.csv", state="TX"),
    ]
    write_sources(path, entries)
    assert path.read_text().startswith("# Source registry")
    assert load_sources(path) == entries
    assert [e.key for e in entries] == ["050001", "valley-clinic"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,state\nMercy,CA\n", "give a `website` or an `mrf_url`"),
        ("name,website,colour\nMercy,m.org,red\n", "unknown column(s) colour"),
        ("name,website,state\nMercy,m.org,California\n", "not a two-letter code"),
        ("facility_id,name,website\n1,A,a.org\n1,B,b.org\n", "listed twice"),
    ],
)
def test_bad_registries_fail_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sources.csv"
    path.write_text(text)
    with pytest.raises(UnreadableFile, match=re.escape(message)) as error:
        load_sources(path)
    assert "\n" not in str(error.value)


def test_add_appends_and_refuses_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    add_source(path, SourceEntry("Mercy Hospital", "050001", website="mercy.org"))
    add_source(path, SourceEntry("Valley Clinic", website="valley.org"))
    assert [e.key for e in load_sources(path)] == ["050001", "valley-clinic"]
    with pytest.raises(UnreadableFile, match="already in"):
        add_source(path, SourceEntry("Mercy again", "050001", website="m2.org"))


def test_the_shipped_registry_loads() -> None:
    entries = load_sources(ROOT / "sources.csv")
    assert len(entries) >= 20
    assert all(e.website or e.mrf_url for e in entries)


def test_the_shipped_registry_is_the_demo_universe_on_its_default_port(tmp_path: Path) -> None:
    from devtools.synthetic.universe import HOSPITALS, generate

    shipped = load_sources(ROOT / "sources.csv")
    assert [e.name for e in shipped] == [h.name for h in HOSPITALS]
    small = generate(tmp_path, "http://127.0.0.1:8765", only=(501, 201, 203, 404, 204))
    assert small == [e for e in shipped if e in small] and len(small) == 5
