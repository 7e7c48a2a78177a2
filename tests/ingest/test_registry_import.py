"""`hpt sources import` below the CLI: hospital lists judged row by row and merged into a
registry, on a hand-made list with every quirk of the source data and on a cut of the real
onefact list (from `../shared`, when it is beside the clone)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from core.ids import FACILITY_ID
from ingest import places
from ingest.hospital_lists import ListFormat
from ingest.registry import SourceEntry, load_sources, write_sources
from ingest.registry_check import check_registry
from ingest.registry_import import display_name, site_root
from ingest.registry_merge import import_list, report_path

ROOT = Path(__file__).resolve().parents[2]
ONEFACT = ROOT.parent / "shared" / "data" / "registry" / "onefact-hospitals-2023.csv"
HEADER = "ccn,name,state,city,homepage,cdm_indirect_url,cdm_url\n"
# One row per quirk of the source (README beside it), and a few of ours.
QUIRKS = {
    "050101": "050101,VALLEY FRESNO MEDICAL CENTER,CA,FRESNO,https://www.valleyhealth.org/about/,,"
              "https://www.valleyhealth.org/files/050101_standardcharges.csv",
    "050102": "050102,VALLEY SACRAMENTO HOSPITAL,CA,SACRAMENTO,https://www.valleyhealth.org/,,"
              "https://www.valleyhealth.org/files/prices.pdf",
    "24002F": "24002F,VA HOSP,MN,SAINT CLOUD,https://www.va.gov/st-cloud-health-care/,,",
    "15J200": "15J200,EVANSVILLE PSYCHIATRIC CHILDREN'S CENTER,IN,EVANSVILLE,"
              "https://www.in.gov/fssa/,,",
    "010029": "010029,EAST ALABAMA MEDICAL CENTER,FL,OPELIKA,https://www.eamc.org/,,",
    "120011": "120011,KAISER FOUNDATION HOSPITAL,HI,HONOLULU,http://kp.org,,",
    "45001": "45001,LOST ZERO HOSPITAL,TX,AUSTIN,lostzero.org,,",
    "260209": "260209,NOBLE HEALTH CALLAWAY COMMUNITY HOSPITAL,MO,FULTON,https://www.facebook.com/,,",
    "170166": "170166,MORTON COUNTY HOSPITAL,KS,ELKHART,,https://www.mchswecare.com/patient-services/,",
    "010150": "010150,REGIONAL MEDICAL CENTER OF CENTRAL ALABAMA,AL,GREENVILLE,,,",
    "050149": "050149,,CA,LOS ANGELES,https://www.dignityhealth.org/,,",
    "ABC": "ABC,NOT A CCN HOSPITAL,TX,DALLAS,https://notaccn.org/,,",
    "330001": "330001,ST. MARY'S HOSPITAL,NY,TROY,https://stmarys.org/,,",
    "330001b": "330001,SAINT MARY'S HOSPITAL,NY,TROY,https://www.stmarys-troy.org/,,",
    "290021": "290021,NOWHERE HOSPITAL,NV,BATTE MTN,https://nowhere.org,,",
    "360001": "360001,OHIO HOSPITAL,OH,COLUMBUS,ftp://ohio.org/,,",
}  # fmt: skip


def _write_list(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def quirks(tmp_path: Path) -> tuple[Path, Path]:
    source = _write_list(tmp_path / "list.csv", list(QUIRKS.values()))
    registry = tmp_path / "registry.csv"
    import_list(source, ListFormat.ONEFACT, registry, today=dt.date(2025, 1, 2))
    return registry, report_path(registry)


def test_every_quirk_is_kept_normalised_or_reported(quirks: tuple[Path, Path]) -> None:
    registry, report = quirks
    entries = {e.key: e for e in load_sources(registry)}
    reasons = {(r["ccn"] or r["name"], r["verdict"], r["reason"]) for r in _report(report)}
    # Homepages reduced to the root serving /cms-hpt.txt; a scheme-less one is https.
    assert entries["050101"].website == "https://www.valleyhealth.org/"
    assert entries["045001"].website == "https://lostzero.org/"
    assert entries["120011"].website == "http://kp.org/"
    # Hospitals sharing a site grouped as a system; a stale file URL kept as a fallback,
    # a PDF (no reader takes it) dropped.
    assert entries["050101"].system == entries["050102"].system == "valleyhealth.org"
    assert entries["050101"].fallback_url.endswith("050101_standardcharges.csv")
    assert entries["050101"].mrf_url == "" and entries["050102"].fallback_url == ""
    # Letters where CMS uses them: the facility id is the CCN in lower case.
    assert entries["24002f"].ccn == "24002F" and entries["15j200"].ccn == "15J200"
    assert ("24002F", "doubtful", "ccn.federal") in reasons
    # A leading zero lost by a spreadsheet, restored and reported.
    assert entries["045001"].ccn == "045001"
    assert ("045001", "doubtful", "ccn.padded") in reasons
    # A state that disagrees with the CCN: the city decides.
    assert entries["010029"].state == "AL" and entries["120011"].state == "HI"
    assert ("010029", "doubtful", "ccn.state_mismatch") in reasons
    # No homepage: the site of the page that linked the price file, reported.
    assert entries["170166"].website == "https://www.mchswecare.com/"
    assert ("170166", "doubtful", "website.from_price_page") in reasons
    # Rejected, each with its reason.
    assert ("260209", "rejected", "website.not_own_site") in reasons
    assert ("010150", "rejected", "website.missing") in reasons
    assert ("050149", "rejected", "name.missing") in reasons
    assert ("ABC", "rejected", "ccn.invalid") in reasons
    assert ("360001", "rejected", "website.invalid") in reasons
    # A CCN listed twice: merged into the first row, the registry's value kept.
    assert entries["330001"].website == "https://stmarys.org/"
    assert ("330001", "merged", "duplicate") in reasons
    # Names and cities out of capitals.
    assert entries["330001"].name == "St. Mary's Hospital"
    assert entries["24002f"].city == "Saint Cloud"
    # A city the ZIP data does not know: kept, unplaced, reported.
    assert entries["290021"].latitude == ""
    assert ("290021", "doubtful", "geo.unplaced") in reasons
    rejected = {r["ccn"] for r in _report(report) if r["verdict"] == "rejected"}
    assert len(entries) + len(rejected) == len({row.split(",")[0] for row in QUIRKS.values()})
    assert all(FACILITY_ID.fullmatch(key) for key in entries)


def test_coordinates_come_from_city_and_state_with_their_precision(
    quirks: tuple[Path, Path],
) -> None:
    registry, _ = quirks
    fresno = {e.key: e for e in load_sources(registry)}["050101"]
    assert fresno.geo_precision == "city"
    assert places.zip_table()[fresno.zip].city == "Fresno"
    lat, lon = float(fresno.latitude), float(fresno.longitude)
    assert abs(lat - 36.75) < 0.3 and abs(lon + 119.78) < 0.3
    assert places.inside_state(lat, lon, "CA") and not places.inside_state(lat, lon, "TX")
    checked = check_registry(registry)
    assert checked.errors == 0, checked.problems


def test_header_says_where_each_column_came_from_and_when(quirks: tuple[Path, Path]) -> None:
    registry, _ = quirks
    header = [line for line in registry.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "# Imported 2025-01-02 from list.csv (onefact, sha256" in text
    for column in ("ccn", "website", "fallback_url", "latitude", "geo_precision", "system"):
        assert column in text
    # Importing the same list again replaces its block instead of adding one.
    import_list(registry.with_name("list.csv"), ListFormat.ONEFACT, registry,
                today=dt.date(2025, 2, 3))  # fmt: skip
    again = registry.read_text()
    assert again.count("from list.csv (onefact") == 1 and "Imported 2025-02-03" in again


def test_the_registry_wins_and_the_import_fills_blanks(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    write_sources(registry, [
        SourceEntry("Valley Fresno (our name)", "050101", "CA", website="https://fresno.example/"),
        SourceEntry("Hand Made Clinic", website="https://clinic.example/", state="TX"),
    ])  # fmt: skip
    source = _write_list(tmp_path / "list.csv", [QUIRKS["050101"], QUIRKS["330001"]])
    done = import_list(source, ListFormat.ONEFACT, registry)
    entries = {e.key: e for e in load_sources(registry)}
    fresno = entries["050101"]
    assert (fresno.name, fresno.website) == ("Valley Fresno (our name)", "https://fresno.example/")
    assert fresno.ccn == "050101" and fresno.city == "Fresno" and fresno.fallback_url
    assert list(entries) == ["050101", "hand-made-clinic", "330001"]  # new ones after
    assert (done.added, done.updated, done.unchanged) == (1, 1, 1)
    conflicts = [i for i in done.issues if i.reason == "merge.conflict"]
    assert {i.detail.split(":")[1].strip() for i in conflicts} == {"name", "website"}
    # A second import of the same list changes nothing.
    again = import_list(source, ListFormat.ONEFACT, registry)
    assert (again.added, again.updated) == (0, 0)
    assert {e.key: e for e in load_sources(registry)} == entries


def test_cms_hpt_blocks_and_json_lines(tmp_path: Path) -> None:
    blocks = tmp_path / "cms-hpt.txt"
    blocks.write_text(
        "location-name: Valley Fresno Medical Center\n"
        "source-page-url: https://www.valleyhealth.org/prices\n"
        "mrf-url: https://www.valleyhealth.org/files/fresno.json\n\n"
        "location-name: Main Campus\n"
        "source-page-url: https://a-health.org/prices\n"
        "mrf-url: https://a-health.org/main.csv\n\n"
        "location-name: Main Campus\n"
        "mrf-url: https://b-health.org/main.csv\n"
    )
    registry = tmp_path / "registry.csv"
    fresno = SourceEntry("Valley Fresno Medical Center", "050101", "CA", "Fresno",
                         website="https://www.valleyhealth.org/")  # fmt: skip
    write_sources(registry, [fresno])
    done = import_list(blocks, ListFormat.CMS_HPT, registry)
    entries = {e.key: e for e in load_sources(registry)}
    # Same website and location name: the registry's entry, given a fallback file URL.
    assert entries["050101"].fallback_url == "https://www.valleyhealth.org/files/fresno.json"
    assert entries["050101"].location == "Valley Fresno Medical Center"
    # Two different hospitals named alike: the second gets a suffixed id, reported.
    assert entries["main-campus"].website == "https://a-health.org/"
    assert entries["main-campus-2"].website == "https://b-health.org/"
    assert [i.reason for i in done.issues] == ["id.suffixed"]
    lines = tmp_path / "hpt.jsonl"
    lines.write_text('{"location-name": "Main Campus", "mrf-url": "https://a-health.org/x.csv",'
                     ' "source-page-url": "https://a-health.org/"}\n'
                     '{"Location Name": "Lakeside", "MRF URL": "lakeside.org/p.json",'
                     ' "state": "mn", "city": "Duluth"}\n')  # fmt: skip
    import_list(lines, ListFormat.CMS_HPT, registry)
    entries = {e.key: e for e in load_sources(registry)}
    assert entries["main-campus"].fallback_url == "https://a-health.org/main.csv"  # kept
    assert entries["lakeside"].website == "https://lakeside.org/"
    assert entries["lakeside"].state == "MN" and entries["lakeside"].geo_precision == "city"


def test_names_and_roots() -> None:
    assert display_name("ST. MARY'S HOSPITAL OF UPMC") == "St. Mary's Hospital of UPMC"
    assert display_name("Mercy Hospital of the Ozarks") == "Mercy Hospital of the Ozarks"
    assert site_root("WWW.Mercy.net/about?x=1") == "https://www.mercy.net/"
    assert site_root("http://127.0.0.1:8765/a/") == "http://127.0.0.1:8765/"
    assert site_root("mailto:a@b.org") is None and site_root("https://x\\\n.org") is None


def _cut(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """A few hundred rows of the source with every quirk in it."""
    picked = rows[:250]
    quirky = [
        lambda r: not r["ccn"].isdigit(),
        lambda r: not r["homepage"],
        lambda r: not r["name"],
        lambda r: "facebook" in r["homepage"] or "military.com" in r["homepage"],
        lambda r: r["ccn"][:2] == "01" and r["state"] != "AL",
        lambda r: r["ccn"][:2] in ("12", "50") and r["state"] == "CA",
        lambda r: not r["homepage"] and r["cdm_indirect_url"],
        lambda r: "encompasshealth" in r["homepage"],
        lambda r: r["city"] in ("BATTE MTN", "TOGUS"),
    ]
    for test in quirky:
        picked += [r for r in rows if test(r) and r not in picked][:12]
    return picked


@pytest.mark.skipif(not ONEFACT.exists(), reason="../shared/data/registry is not beside the clone")
def test_a_cut_of_the_onefact_list(tmp_path: Path) -> None:
    with ONEFACT.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cut = _cut(rows)
    assert len(cut) > 300
    source = tmp_path / "cut.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(cut)
    registry = tmp_path / "registry.csv"
    done = import_list(source, ListFormat.ONEFACT, registry)
    entries = load_sources(registry)
    report = _report(report_path(registry))
    rejected = {r["source_row"] for r in report if r["verdict"] == "rejected"}
    # Every row is in the registry or listed as rejected, with a reason.
    assert len(entries) + len(rejected) == len(cut) == done.rows
    assert all(r["reason"] and r["detail"] for r in report)
    reasons = {r["reason"] for r in report}
    assert {"ccn.federal", "website.missing", "name.missing", "website.not_own_site",
            "ccn.state_mismatch", "website.from_price_page", "geo.unplaced"} <= reasons  # fmt: skip
    assert any(e.system == "encompasshealth.com" for e in entries)
    assert all(e.website.endswith("/") and e.website.count("/") == 3 for e in entries)
    assert check_registry(registry).errors == 0
