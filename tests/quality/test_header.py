"""Header checks (rows 1–3, the JSON root), alerts, and how the rule set is chosen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.synthetic.tall import ATTESTATION_V3
from quality.versions import choose_version
from tests.quality.builders import (
    ITEM,
    PAYER_V3,
    TAIL,
    charge,
    check,
    rules,
    write,
    write_json,
    write_tall,
    write_wide,
)

V3_TALL = [*ITEM, "payer_name", "plan_name", *PAYER_V3, *TAIL]


def edited(path: Path, pattern: str, replacement: str) -> Path:
    """The file with one regex substitution (for names the builders don't vary)."""
    text = path.read_text(encoding="utf-8")
    changed = re.sub(pattern, replacement, text, count=1)
    assert changed != text
    path.write_text(changed, encoding="utf-8")
    return path


def errors(path: Path, version: str | None = None) -> dict[str, int]:
    found = check(path, version)
    return {r: n for r, n in rules(found).items() if found.log.severities[r] == "error"}


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide"])
def test_missing_column_is_reported_once_not_per_row(tmp_path: Path, layout: str) -> None:
    path = write(layout, tmp_path / "f", [charge()] * 3)
    edited(path, r"standard_charge\|min,", "")
    # The data cells shift left one column on every row; only the header finding matters.
    found = rules(check(path))
    assert found["header.missing_column"] == 1
    assert "rule.6" not in found


def test_missing_code_type_column(tmp_path: Path) -> None:
    columns = [c for c in V3_TALL if c != "code|2|type"]
    found = check(write_tall(tmp_path / "f.csv", [charge()], columns=columns))
    frame = found.log.frame().filter(rule="header.missing_column")
    assert frame["column"].to_list() == ["code|2|type"]


def test_tall_v3_needs_the_allowed_amount_columns(tmp_path: Path) -> None:
    columns = [c for c in V3_TALL if c not in ("count", "median_amount")]
    found = check(write_tall(tmp_path / "f.csv", [charge()], columns=columns))
    missing = found.log.frame().filter(rule="header.missing_column")["column"].to_list()
    assert sorted(missing) == ["count", "median_amount"]


def test_wide_group_missing_a_column(tmp_path: Path) -> None:
    path = write_wide(tmp_path / "f.csv", [charge()])
    edited(path, r",count\|Aetna\|PPO", "")
    found = check(path)
    frame = found.log.frame().filter(rule="header.missing_column")
    assert frame["column"].to_list() == ["count|Aetna|PPO"]


@pytest.mark.parametrize(
    ("layout", "pattern", "placeholder"),
    [
        ("csv_tall", r"code\|2\|type", "code|[i]|type"),
        ("csv_tall", r"code\|2,", "code|i,"),
        ("csv_wide", r"\|Aetna\|PPO\|negotiated_dollar", "|[payer]|[plan]|negotiated_dollar"),
        ("csv_tall", r"license_number\|[A-Z]{2}", "license_number|[state]"),
    ],
)  # fmt: skip
def test_placeholders_left_in_headers(
    tmp_path: Path, layout: str, pattern: str, placeholder: str
) -> None:
    path = edited(write(layout, tmp_path / "f", [charge()]), pattern, placeholder)
    found = check(path)
    assert found.log.counts["header.placeholder"] == 1
    assert not found.valid


def test_blank_column_in_the_middle_but_not_trailing(tmp_path: Path) -> None:
    columns = [*V3_TALL[:3], "", *V3_TALL[3:], "", ""]
    found = check(write_tall(tmp_path / "f.csv", [charge()], columns=columns))
    assert rules(found).get("header.blank_column") == 1


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide"])
def test_bad_state(tmp_path: Path, layout: str) -> None:
    path = edited(
        write(layout, tmp_path / "f", [charge()]), r"license_number\|[A-Z]{2}", "license_number|ZZ"
    )
    assert errors(path) == {"header.bad_state": 1}
    # A license header without a state is as bad.
    path = edited(path, r"license_number\|ZZ", "license_number")
    assert errors(path) == {"header.bad_state": 1}  # fmt: skip


def test_json_bad_state_and_date_and_missing_key(tmp_path: Path) -> None:
    license_info = {"license_number": "1", "state": "XX"}
    path = write_json(tmp_path / "f.json", [charge()], license_information=license_info,
                      last_updated_on="2024-13-45", type_2_npi=None)  # fmt: skip
    assert errors(path) == {
        "header.bad_state": 1,
        "header.bad_date": 1,
        "header.missing_element": 1,
        # The official JSON schema says the same (the state is not in its enum, the date is
        # no date, `type_2_npi` is required).
        "schema.enum": 1,
        "schema.format": 1,
        "schema.required": 1,
    }


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide"])
def test_bad_date_counted_once(tmp_path: Path, layout: str) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], last_updated_on="2024-13-45")
    if layout == "csv_wide":
        path = write_wide(tmp_path / "w.csv", [charge()], last_updated_on="someday")
    assert errors(path) == {"header.bad_date": 1}


@pytest.mark.parametrize("version", ["1.1", "", "three"])
def test_bad_or_missing_version(tmp_path: Path, version: str) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], version_cell=version)
    found = check(path)
    assert errors(path) == {"header.bad_version": 1}
    assert found.rule_set == "v3.0"  # inferred from the v3 columns


def test_missing_general_element_and_value(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], attester_name=None, hospital_name="")
    found = check(path)
    assert errors(path) == {"header.missing_element": 1, "header.missing_value": 1}
    columns = set(found.log.frame()["column"].to_list())
    assert {"attester_name", "hospital_name"} <= columns


def test_npi_must_have_ten_digits(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], type_2_npi="1234567890|12345")
    found = check(path)
    assert errors(path) == {"header.bad_npi": 1}
    assert found.log.frame().filter(rule="header.bad_npi")["value"].to_list() == ["12345"]


@pytest.mark.parametrize("layout", ["csv_tall", "json"])
def test_attestation_false_is_an_alert(tmp_path: Path, layout: str) -> None:
    if layout == "json":  # the statement is the CMS text, else the JSON schema says no
        statement = {"attestation": ATTESTATION_V3, "confirm_attestation": False,
                     "attester_name": "P"}  # fmt: skip
        path = write_json(tmp_path / "f.json", [charge()], attestation=statement)
    else:
        path = write_tall(tmp_path / "f.csv", [charge()], statement="false")
    found = check(path)
    assert found.valid
    assert rules(found) == {"alert.attestation_false": 1}


def test_attestation_not_answered_is_an_error(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], statement="maybe")
    assert errors(path) == {"header.missing_value": 1}


def test_version_cell_not_matching_the_layout(tmp_path: Path) -> None:
    # v2.2 columns and rows 1–2, but the version cell says 3.0.0.
    path = write_tall(tmp_path / "f.csv", [charge()], version="2.2.0", version_cell="3.0.0")
    found = check(path)
    assert found.log.counts["alert.version_mismatch"] == 1
    assert found.log.counts["alert.estimated_amount_v3"] == 1
    assert found.rule_set == "v3.0"
    # Checked to the rules the file really follows, it is fine apart from its claim.
    again = check(path, version="v2.2")
    assert again.valid and rules(again) == {"alert.version_mismatch": 1}


def test_estimated_amount_in_a_v3_json_file_alerted_once(tmp_path: Path) -> None:
    rows = [charge(estimated_amount="300"), charge(estimated_amount="310", plan_name="HMO")]
    found = check(write_json(tmp_path / "f.json", rows))
    assert found.valid
    assert rules(found) == {"alert.estimated_amount_v3": 1}


def test_duplicate_column_counted_once(tmp_path: Path) -> None:
    columns = [*V3_TALL, "setting"]
    assert errors(write_tall(tmp_path / "f.csv", [charge()], columns=columns)) == {
        "header.duplicate_column": 1
    }


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide", "json"])
def test_file_without_data_rows(tmp_path: Path, layout: str) -> None:
    # An empty JSON item array also breaks the schema's `minItems: 1`.
    schema = {"schema.minItems": 1} if layout == "json" else {}
    assert errors(write(layout, tmp_path / "f", [])) == {"data.empty": 1, **schema}


@pytest.mark.parametrize(
    ("claimed", "layout", "columns", "override", "expected"),
    [
        ("3.0.0", "csv_tall", ["count"], None, "v3.0"),
        ("2.2.0", "csv_tall", [], None, "v2.2"),
        ("2.1.0", "csv_tall", ["estimated_amount"], None, "v2.1"),
        ("2.0.0", "csv_tall", ["modifiers"], None, "v2.2"),
        ("2.0.0", "csv_wide", ["estimated_amount|A|B"], None, "v2.2"),
        ("2.0.0", "csv_tall", ["description"], None, "v2.1"),
        ("2.0.0", "json", [], None, "v2.2"),
        (None, "csv_tall", ["median_amount"], None, "v3.0"),
        ("9.9", "csv_tall", ["description"], None, "v2.1"),
        ("3.0.0", "csv_tall", ["count"], "v2.1", "v2.1"),
        ("3.0.0", "csv_tall", ["modifiers"], "v2.0", "v2.2"),
    ],
)
def test_choose_version(
    claimed: str | None, layout: str, columns: list[str], override: str | None, expected: str
) -> None:
    assert choose_version(claimed, layout, columns, override).rules == expected


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown version"):
        choose_version("3.0.0", "csv_tall", [], "v4")
