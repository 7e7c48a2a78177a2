"""`hpt validate`: report, exit code, JSON output, version override, URLs; no warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from hpt.cli import app
from tests.quality.builders import charge, write_json, write_tall

runner = CliRunner()


def validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_valid_file_exits_0(tmp_path: Path) -> None:
    code, out = validate(str(write_tall(tmp_path / "f.csv", [charge()])))
    assert code == 0
    assert out.startswith("VALID") and "v3.0" in out


def test_invalid_file_exits_1_with_rules_and_examples(tmp_path: Path) -> None:
    rows = [charge(standard_charge__min=""), charge(count="5")]
    code, out = validate(str(write_tall(tmp_path / "f.csv", rows)))
    assert code == 1
    assert out.startswith("INVALID")
    for word in ("rule.6", "value.count", "standard_charge|min", "rule 6"):
        assert word in out


def test_json_report(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge(standard_charge__min="")], version="2.2.0")
    code, out = validate(str(path), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert report["rule_set"] == "v2.2" and report["layout"] == "csv_tall"
    assert report["counts"] == {"rule.6": {"severity": "error", "count": 1}}
    assert report["findings"][0]["row_no"] == 4


def test_version_override(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()])  # a v3.0 file
    code, out = validate(str(path), "--version", "v2.2", "--format", "json")
    assert code == 1
    assert json.loads(out)["counts"]["header.missing_column"]["count"] == 1  # estimated_amount
    assert validate(str(path), "--version", "v4")[0] == 2


def test_url_validated_without_touching_the_warehouse(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    body = write_tall(tmp_path / "f.csv", [charge()]).read_bytes()
    httpserver.expect_request("/prices.csv").respond_with_data(body, content_type="text/csv")
    code, out = validate(httpserver.url_for("/prices.csv"))
    assert code == 0, out
    assert not Path(os.environ["HPT_DB"]).exists()


def test_unreadable_file_one_line(tmp_path: Path) -> None:
    path = tmp_path / "page.csv"
    path.write_bytes(b"<!DOCTYPE html><html><body>captcha</body></html>")
    code, out = validate(str(path))
    assert code == 1
    assert out.strip().count("\n") == 0 and "INVALID" in out


def test_json_report_locates_each_finding(tmp_path: Path) -> None:
    """Per finding: rule, severity, where (JSON path, or CSV row and column), message."""
    rows = [charge(), charge(description="B", standard_charge__min="")]
    license_info = {"license_number": "1", "state": "XX"}
    path = write_json(tmp_path / "f.json", rows, license_information=license_info)
    code, out = validate(str(path), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and report["validated_against"] == "3.0.0"
    where = {f["rule"]: (f["severity"], f["path"], f["column"]) for f in report["findings"]}
    assert where["rule.6"] == ("error", "/standard_charge_information/1", "minimum")
    assert where["header.bad_state"] == (
        "error", "/license_information/state", "license_information.state",
    )  # fmt: skip
    # The JSON schema checks name the path themselves (in `column`); `path` repeats it.
    schema = {r: w for r, w in where.items() if r.startswith("schema.")}
    assert schema and all(path == column for _, path, column in schema.values())
    paths = sorted(path for _, path, _ in schema.values())
    assert paths[0] == "/license_information/state"
    assert paths[1].startswith("/standard_charge_information/1/")  # the item missing `minimum`
    assert all(f["message"] for f in report["findings"])
    # The CSV form of the same problem: row and column, no path.
    code, out = validate(str(write_tall(tmp_path / "f.csv", rows)), "--json")
    [finding] = json.loads(out)["findings"]
    assert code == 1
    assert (finding["rule"], finding["row_no"], finding["column"], finding["path"]) == (
        "rule.6", 5, "standard_charge|min", None,
    )  # fmt: skip


def test_json_flag_is_format_json_and_alerts_keep_exit_0(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge(standard_charge__gross="999999999")])
    reports = []
    for flags in (["--json"], ["--format", "json"]):
        code, out = validate(str(path), *flags)
        assert code == 0
        reports.append({k: v for k, v in json.loads(out).items() if k != "seconds"})
    assert reports[0] == reports[1]
    assert reports[0]["valid"] is True and reports[0]["alerts"] == 1
    assert reports[0]["findings"][0]["severity"] == "alert"
