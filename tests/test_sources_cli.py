"""`hpt sources list|add|check` on a registry file, checked against the demo server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.demo_server import running
from devtools.synthetic.universe import generate
from hpt.cli import app
from ingest.registry import load_sources

runner = CliRunner()


def test_add_then_list(tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    args = ["sources", "add", "--sources", str(registry)]
    first = runner.invoke(app, [*args, "Mercy Hospital", "--facility-id", "050001",
                                "--state", "ca", "--website", "mercy.example.org"])  # fmt: skip
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "Valley Clinic", "--mrf-url", "https://v.org/p.csv"])
    assert second.exit_code == 0, second.output
    again = runner.invoke(app, [*args, "Mercy again", "--facility-id", "050001", "--website", "m"])
    assert again.exit_code == 2 and "already in" in again.output
    assert [(e.key, e.state) for e in load_sources(registry)] == [
        ("050001", "CA"), ("valley-clinic", "")
    ]  # fmt: skip
    listed = runner.invoke(app, ["sources", "list", "--sources", str(registry)])
    assert listed.exit_code == 0
    assert "Mercy Hospital" in listed.output and "valley-clinic" in listed.output


def test_check_offline_then_online_politely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_SOURCES_CHECK_INTERVAL", "0.05")
    monkeypatch.setenv("HPT_HTTP_RETRIES", "0")
    folder = tmp_path / "demo"
    folder.mkdir()
    with running(folder) as server:
        # Erie (good), Sunshine Pines (a good cms-hpt.txt, a captcha for a file), Everglades
        # (no cms-hpt.txt), Laurel (prose), Keystone (robots.txt says no).
        generate(folder, server.base_url, only=(501, 404, 405, 506, 502))
        (folder / "sites" / "robots.txt").write_text(
            "User-agent: hpt-price-transparency\nDisallow: /keystone/\n\n"
            "User-agent: *\nDisallow: /\n"
        )
        registry = str(folder / "sources.csv")
        offline = runner.invoke(app, ["sources", "check", "--sources", registry])
        online = runner.invoke(app, ["sources", "check", "--sources", registry, "--online", "9"],
                               env={"COLUMNS": "200"})  # fmt: skip
        fetched = {path for path, n in server.sent.items() if n and "/files/" in path}
        asked = {path for path, n in server.sent.items() if n}
    assert offline.exit_code == 0 and "5 entries, 0 errors, 0 warnings" in offline.output
    assert online.exit_code == 1, online.output
    outcome = {line.split("/")[3]: line for line in online.output.splitlines()
               if "│ http://" in line}  # fmt: skip
    assert "found" in outcome["erielakeshore"] and "found" in outcome["sunshinepines"]
    assert "missing" in outcome["everglades"] and "404" in outcome["everglades"]
    assert (
        "not a CMS file" in outcome["laurel"] and "names no machine-readable" in outcome["laurel"]
    )
    assert "blocked" in outcome["keystone"] and "robots.txt disallows" in outcome["keystone"]
    assert "2 found, 1 missing, 1 blocked, 1 not a CMS file, 0 unreachable" in online.output
    assert "/keystone/cms-hpt.txt" not in asked  # robots.txt honoured
    assert fetched == set()  # cms-hpt.txt only: no file was asked for


def test_check_fails_on_an_error_and_lists_it(tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    registry.write_text("facility_id,name,state,website\n050101,A,CA,https://a.org/\n"
                        "050101,B,CA,ftp://b.org/\n")  # fmt: skip
    result = runner.invoke(app, ["sources", "check", "--sources", str(registry)],
                           env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 1
    assert "2 entries, 2 errors, 0 warnings" in result.output
    assert "id.duplicate" in result.output and "url.scheme" in result.output


def test_import_shows_counts_and_writes_the_report(tmp_path: Path) -> None:
    source = tmp_path / "hospitals.csv"
    source.write_text(
        "ccn,name,state,city,homepage,cdm_indirect_url,cdm_url\n"
        "050101,VALLEY FRESNO MEDICAL CENTER,CA,FRESNO,https://valleyhealth.org/a/,,\n"
        "050102,VALLEY SACRAMENTO HOSPITAL,CA,SACRAMENTO,https://valleyhealth.org/,,\n"
        "24002F,VA HOSP,MN,SAINT CLOUD,https://www.va.gov/st-cloud/,,\n"
        "260209,NOBLE HOSPITAL,MO,FULTON,https://www.facebook.com/,,\n"
        "XYZ,NOT A HOSPITAL,TX,DALLAS,https://x.org/,,\n"
    )
    registry = tmp_path / "registry" / "us.csv"
    result = runner.invoke(
        app, ["sources", "import", str(source), "--format", "onefact", "--sources",
              str(registry), "--note", "a test list"], env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 rows read" in result.output and "3 added" in result.output
    assert "2 rejected, 1 doubtful" in result.output
    assert "website.not_own_site" in result.output and "ccn.invalid" in result.output
    report = (tmp_path / "registry" / "us-import-report.csv").read_text()
    assert report.count("rejected") == 2 and "ccn.federal" in report
    assert "#   source: a test list" in registry.read_text()
    assert [e.key for e in load_sources(registry)] == ["050101", "050102", "24002f"]
    bad = runner.invoke(app, ["sources", "import", str(source), "--format", "cms-hpt",
                              "--sources", str(registry)])  # fmt: skip
    assert bad.exit_code == 0 and "0 added" in bad.output  # blocks of nothing: no rows
    wrong = runner.invoke(app, ["sources", "import", str(registry), "--format", "onefact",
                                "--sources", str(tmp_path / "other.csv")])  # fmt: skip
    assert wrong.exit_code == 2 and "not the onefact layout" in wrong.output
