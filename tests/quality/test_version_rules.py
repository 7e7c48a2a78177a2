"""What the official validator (v2.6.0) treats as an error and what as an alert, per
template version: a false affirmation or attestation, blank header columns, `999999999`
placeholders, `estimated_amount` left in a v3.0 file, a declared version other than the
one validated against, and columns outside the template."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from devtools.synthetic.tall import AFFIRMATION_V2, ATTESTATION_V3
from tests.quality.builders import (
    ITEM,
    PAYER_V2,
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

VERSIONS = ("2.0.0", "2.1.0", "2.2.0", "3.0.0")
LAYOUTS = ("csv_tall", "csv_wide", "json")
PCT = {
    "standard_charge__negotiated_dollar": "",
    "standard_charge__negotiated_percentage": "50",
    "median_amount": "300",
    "10th_percentile": "200",
    "90th_percentile": "400",
    "count": "14",
}
ONLY_PCT = {k: v for k, v in PCT.items() if k.startswith("standard_charge")}


def severities(path: Path, version: str | None = None) -> tuple[bool, dict[str, tuple[str, int]]]:
    """(valid, rule → (severity, count)) of a file."""
    found = check(path, version)
    return found.valid, {r: (found.log.severities[r], n) for r, n in rules(found).items()}


def answered_false(layout: str, path: Path, version: str) -> Path:
    """A file of `version` whose attestation (v3) or affirmation (v2) is answered false."""
    if layout == "json":
        if version.startswith("3"):
            statement = {"attestation": ATTESTATION_V3, "confirm_attestation": False,
                         "attester_name": "Pat Attester"}  # fmt: skip
            return write_json(path.with_suffix(".json"), [charge()], version, attestation=statement)
        statement = {"affirmation": AFFIRMATION_V2, "confirm_affirmation": False}
        return write_json(path.with_suffix(".json"), [charge()], version, affirmation=statement)
    writer = write_tall if layout == "csv_tall" else write_wide
    return writer(path.with_suffix(".csv"), [charge()], version, statement="false")


# template version → (valid, finding) for a statement answered false
FALSE_STATEMENT = {
    "2.0.0": (True, {"alert.attestation_false": ("alert", 1)}),
    "2.1.0": (False, {"header.affirmation_false": ("error", 1)}),
    "2.2.0": (False, {"header.affirmation_false": ("error", 1)}),
    "3.0.0": (True, {"alert.attestation_false": ("alert", 1)}),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_statement_answered_false(tmp_path: Path, version: str, layout: str) -> None:
    assert check(write(layout, tmp_path / "true", [charge()], version)).valid
    expected = FALSE_STATEMENT[version]
    assert severities(answered_false(layout, tmp_path / "false", version)) == expected


@pytest.mark.parametrize(
    ("declared", "validated", "expected"),
    [
        ("2.0.0", "v2.2", "header.affirmation_false"),  # judged as 2.2.0: an error
        ("2.2.0", "v2.0", "alert.attestation_false"),  # judged as 2.0.0: an alert
    ],
)
def test_false_affirmation_follows_the_version_validated_against(
    tmp_path: Path, declared: str, validated: str, expected: str
) -> None:
    path = answered_false("csv_tall", tmp_path / "f", declared)
    assert set(rules(check(path, validated))) == {expected, "alert.version_mismatch"}


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide"])
def test_statement_not_answered_is_an_error_in_every_version(tmp_path: Path, layout: str) -> None:
    writer = write_tall if layout == "csv_tall" else write_wide
    for version in VERSIONS:
        path = writer(tmp_path / f"{version}.csv", [charge()], version, statement="")
        assert severities(path) == (False, {"header.missing_value": ("error", 1)}), version


def with_blank_column(path: Path, position: int) -> Path:
    """The CSV with an empty column (blank header, blank cells) inserted in rows 3 on."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for row in rows[2:]:
        row.insert(position, "")
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide"])
@pytest.mark.parametrize("version", VERSIONS)
def test_blank_header_column(tmp_path: Path, version: str, layout: str) -> None:
    """Tolerated in v3.0 (validator 2.6.0), an alert there; still an error in v2 files."""
    path = with_blank_column(write(layout, tmp_path / "f", [charge()] * 2, version), 3)
    valid, found = severities(path)
    severity = "alert" if version == "3.0.0" else "error"
    assert (valid, found) == (version == "3.0.0", {"header.blank_column": (severity, 1)})
    where = check(path).log.frame().filter(rule="header.blank_column")
    assert where.select("row_no", "column").row(0) == (3, "#4")


@pytest.mark.parametrize(
    ("version", "changes"),
    [
        ("3.0.0", {**PCT, "count": "999999999"}),
        ("3.0.0", {**PCT, "median_amount": "999999999"}),
        ("3.0.0", {"standard_charge__gross": "999999999"}),
        ("2.2.0", {**ONLY_PCT, "estimated_amount": "999999999"}),
        ("2.1.0", {"standard_charge__max": "999999999"}),
        ("2.0.0", {"standard_charge__discounted_cash": "999999999"}),
    ],
)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nine_nines_placeholder_is_an_alert(
    tmp_path: Path, layout: str, version: str, changes: dict[str, str]
) -> None:
    path = write(layout, tmp_path / "f", [charge(**changes)], version)
    assert severities(path) == (True, {"alert.nine_nines": ("alert", 1)})


V3_WITH_ESTIMATED = [*ITEM, "payer_name", "plan_name", *PAYER_V3, "estimated_amount", *TAIL]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("300", {}),
        ("$300", {}),  # not a v3.0 field, so its form is not judged either
        ("N/A", {"alert.unread_number": ("alert", 1)}),  # still said: the value is lost
    ],
)
def test_estimated_amount_left_in_v3_is_an_alert(
    tmp_path: Path, value: str, expected: dict[str, tuple[str, int]]
) -> None:
    alert = {"alert.estimated_amount_v3": ("alert", 1)}
    rows = [charge(estimated_amount=value)]
    path = write_tall(tmp_path / "f.csv", rows, columns=V3_WITH_ESTIMATED)
    assert severities(path) == (True, {**alert, **expected})
    assert severities(write_json(tmp_path / "f.json", rows)) == (True, {**alert, **expected})


def test_estimated_amount_is_judged_in_v22(tmp_path: Path) -> None:
    rows = [charge(estimated_amount="N/A")]
    path = write_tall(tmp_path / "f.csv", rows, "2.2.0")
    assert severities(path) == (False, {"value.number": ("error", 1)})


def test_v3_columns_in_a_v2_file_are_not_judged(tmp_path: Path) -> None:
    """`count` and the allowed-amount statistics are not v2 columns: not checked there."""
    columns = [*ITEM, "payer_name", "plan_name", *PAYER_V2, "median_amount", "count", *TAIL]
    rows = [charge(median_amount="N/A", count="5")]
    path = write_tall(tmp_path / "f.csv", rows, "2.2.0", columns=columns)
    valid, found = severities(path)
    assert valid and "value.count" not in found and "value.number" not in found
    # The same values in a v3.0 file are errors.
    path = write_tall(tmp_path / "g.csv", rows)
    assert severities(path)[1] == {"value.count": ("error", 1), "value.number": ("error", 1)}


@pytest.mark.parametrize(
    ("declared", "validated", "mismatch"),
    [
        ("3.0.0", None, False),
        ("3.0.0", "v3.0", False),
        ("2.0.0", "v2.0", False),
        ("2.2.1", "v2.2", False),  # a patch release has the same rules
        ("2.0.0", "v2.2", True),  # same rule set, another template
        ("2.2.0", "v2.1", True),
        ("9.9", "v2.2", True),  # not a CMS version: differs from any
    ],
)
@pytest.mark.parametrize("layout", ["csv_tall", "json"])
def test_declared_version_other_than_the_one_validated_against(
    tmp_path: Path, layout: str, declared: str, validated: str | None, mismatch: bool
) -> None:
    version = declared if declared != "9.9" else "2.2.0"
    path = write(layout, tmp_path / "f", [charge()], version)
    if declared == "9.9":
        text = path.read_text(encoding="utf-8").replace("2.2.0", "9.9", 1)
        path.write_text(text, encoding="utf-8")
    found = check(path, validated)
    assert found.log.counts["alert.version_mismatch"] == int(mismatch)
    assert found.log.severities.get("alert.version_mismatch", "alert") == "alert"
    if mismatch:
        message = found.log.frame().filter(rule="alert.version_mismatch")["message"][0]
        assert f"--version {validated}" in message


def test_blank_version_is_an_error_even_with_an_override(tmp_path: Path) -> None:
    path = write_tall(tmp_path / "f.csv", [charge()], version_cell="")
    for validated in (None, "v3.0"):
        assert severities(path, validated) == (False, {"header.bad_version": ("error", 1)})
