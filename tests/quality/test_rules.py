"""Every value and conditional rule of the CMS spec: a valid and an invalid fixture, in
each layout the rule applies to, checked through the real readers and normaliser."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quality.builders import LAYOUTS, charge, check, rules, write

ALL = LAYOUTS
CSV = ("csv_tall", "csv_wide")
TALL_JSON = ("csv_tall", "json")
PCT = {
    "standard_charge__negotiated_dollar": "",
    "standard_charge__negotiated_percentage": "50",
    "median_amount": "300",
    "10th_percentile": "200",
    "90th_percentile": "400",
    "count": "14",
}
NO_CODES = {"code__1": "", "code__1__type": ""}
MODIFIER_ROW = {
    **NO_CODES,
    "modifiers": "50",
    "standard_charge__gross": "",
    "standard_charge__discounted_cash": "",
    "standard_charge__negotiated_dollar": "",
    "standard_charge__negotiated_percentage": "150",
    "standard_charge__methodology": "",
    "standard_charge__min": "",
    "standard_charge__max": "",
    "setting": "both",
}
NDC = {"code__1": "0093-8739-01", "code__1__type": "NDC"}

# (case id, rule, version, layouts, valid changes, invalid changes, findings expected)
CASES: list[tuple[str, str, str, tuple[str, ...], dict[str, str], dict[str, str], int]] = [
    ("methodology", "rule.1", "3.0.0", ALL, {}, {"standard_charge__methodology": ""}, 1),
    ("payer", "rule.1", "3.0.0", TALL_JSON, {}, {"payer_name": ""}, 1),
    ("plan", "rule.1", "2.2.0", ("csv_tall",), {}, {"plan_name": ""}, 1),
    ("no-code", "rule.2", "3.0.0", ALL, {}, NO_CODES, 1),
    ("no-code-v21", "rule.2", "2.1.0", ("csv_tall",), {}, NO_CODES, 1),
    (
        "half-pair",
        "rule.3",
        "3.0.0",
        ALL,
        {"code__2": "611", "code__2__type": "RC"},
        {"code__1__type": "", "code__2": "611", "code__2__type": "RC"},
        1,
    ),
    (
        "other",
        "rule.4",
        "3.0.0",
        ALL,
        {"standard_charge__methodology": "other", "additional_generic_notes": "110% of cost"},
        {"standard_charge__methodology": "other"},
        1,
    ),
    (
        "unpriced",
        "rule.5",
        "3.0.0",
        ALL,
        {"standard_charge__gross": "", "standard_charge__discounted_cash": ""},
        {
            "standard_charge__gross": "",
            "standard_charge__discounted_cash": "",
            "standard_charge__negotiated_dollar": "",
            "standard_charge__methodology": "",
            "payer_name": "",
            "plan_name": "",
        },
        1,
    ),
    ("min", "rule.6", "3.0.0", ALL, {}, {"standard_charge__min": ""}, 1),
    (
        "min-max",
        "rule.6",
        "2.1.0",
        ("csv_tall",),
        {},
        {"standard_charge__min": "", "standard_charge__max": ""},
        2,
    ),
    ("count", "rule.7", "3.0.0", ALL, PCT, {**PCT, "count": ""}, 1),
    (
        "stats",
        "rule.8",
        "3.0.0",
        ALL,
        {
            **PCT,
            "median_amount": "",
            "10th_percentile": "",
            "90th_percentile": "",
            "count": "0",
            "additional_generic_notes": "no claims in the lookback period",
        },
        {**PCT, "median_amount": "", "10th_percentile": "", "90th_percentile": ""},
        3,
    ),
    (
        "zero-count",
        "rule.9",
        "3.0.0",
        ALL,
        {**PCT, "count": "0", "additional_generic_notes": "no claims in the lookback period"},
        {**PCT, "count": "0"},
        1,
    ),
    (
        "ndc",
        "rule.10",
        "3.0.0",
        ALL,
        {**NDC, "drug_unit_of_measurement": "1", "drug_type_of_measurement": "UN"},
        NDC,
        1,
    ),
    (
        "ndc-v22",
        "rule.10",
        "2.2.0",
        ("csv_tall",),
        {**NDC, "drug_unit_of_measurement": "1", "drug_type_of_measurement": "UN"},
        NDC,
        1,
    ),
    (
        "modifier",
        "rule.11",
        "3.0.0",
        CSV,
        MODIFIER_ROW,
        {**MODIFIER_ROW, "standard_charge__negotiated_percentage": ""},
        1,
    ),
    (
        "drug-pair",
        "rule.12",
        "3.0.0",
        ALL,
        {"drug_unit_of_measurement": "1", "drug_type_of_measurement": "UN"},
        {"drug_unit_of_measurement": "1"},
        1,
    ),
    (
        "estimated",
        "rule.estimated_amount",
        "2.2.0",
        ALL,
        {
            "standard_charge__negotiated_dollar": "",
            "standard_charge__negotiated_percentage": "50",
            "estimated_amount": "300",
        },
        {"standard_charge__negotiated_dollar": "", "standard_charge__negotiated_percentage": "50"},
        1,
    ),
    ("count-value", "value.count", "3.0.0", ALL, PCT, {**PCT, "count": "5"}, 1),
    ("count-commas", "value.count", "3.0.0", ("csv_tall",), PCT, {**PCT, "count": "1,000"}, 1),
    (
        "code-type",
        "value.enum",
        "3.0.0",
        ALL,
        {"code__1__type": "cpt"},
        {"code__1__type": "CPTX"},
        1,
    ),
    ("v3-code-type", "value.enum", "2.2.0", ("csv_tall",), {}, {"code__1__type": "CMG"}, 1),
    ("setting", "value.enum", "3.0.0", ALL, {"setting": "Inpatient"}, {"setting": "clinic"}, 1),
    (
        "methodology-enum",
        "value.enum",
        "3.0.0",
        ALL,
        {"standard_charge__methodology": "Per Diem"},
        {"standard_charge__methodology": "capitation"},
        1,
    ),
    (
        "drug-type",
        "value.enum",
        "3.0.0",
        ALL,
        {"drug_unit_of_measurement": "2", "drug_type_of_measurement": "ml"},
        {"drug_unit_of_measurement": "2", "drug_type_of_measurement": "CC"},
        1,
    ),
    (
        "dollar-sign",
        "value.number",
        "3.0.0",
        CSV,
        {"standard_charge__gross": "1200.50"},
        {"standard_charge__gross": "$1,200.00"},
        1,
    ),
    (
        "not-a-number",
        "value.number",
        "3.0.0",
        ALL,
        {"standard_charge__gross": ".5"},
        {"standard_charge__gross": "N/A"},
        1,
    ),
    (
        "zero",
        "value.number",
        "3.0.0",
        ALL,
        {"standard_charge__discounted_cash": "0.01"},
        {"standard_charge__discounted_cash": "0"},
        1,
    ),
    ("description", "value.required", "3.0.0", ALL, {}, {"description": ""}, 1),
    ("setting-blank", "value.required", "3.0.0", ALL, {}, {"setting": ""}, 1),
]


#: Valid fixtures the official JSON schema rejects in a JSON file: it has no tolerance for
#: case (`Inpatient`), and wants the note that explains methodology `other` or a `count` of
#: `0` in the payer's own notes, not the generic ones the rules accept.
SCHEMA_REJECTS = {
    "other": "schema.if_then",
    "stats": "schema.if_then",
    "zero-count": "schema.if_then",
    "code-type": "schema.enum",
    "setting": "schema.enum",
    "methodology-enum": "schema.enum",
    "drug-type": "schema.enum",
}


def cases() -> list[object]:
    return [
        pytest.param(name, rule, version, layout, valid, invalid, n, id=f"{rule}-{name}-{layout}")
        for name, rule, version, layouts, valid, invalid, n in CASES
        for layout in layouts
    ]


@pytest.mark.parametrize(
    ("name", "rule", "version", "layout", "valid", "invalid", "expected"), cases()
)
def test_rule(
    tmp_path: Path,
    name: str,
    rule: str,
    version: str,
    layout: str,
    valid: dict[str, str],
    invalid: dict[str, str],
    expected: int,
) -> None:
    good = check(write(layout, tmp_path / "good", [charge(**valid)], version))
    if layout == "json" and name in SCHEMA_REJECTS:
        assert rules(good) == {SCHEMA_REJECTS[name]: 1}, good.log.frame().to_dicts()
    else:
        assert good.valid, good.log.frame().to_dicts()
    assert rule not in rules(good)
    bad = check(write(layout, tmp_path / "bad", [charge(), charge(**invalid)], version))
    assert not bad.valid
    assert rules(bad).get(rule) == expected, bad.log.frame().to_dicts()
    found = bad.log.frame().filter(rule=rule).to_dicts()[0]
    assert found["severity"] == "error" and found["message"]
    if layout != "json":
        assert found["row_no"] == 5  # the second data row of the CSV


@pytest.mark.parametrize("layout", ALL)
def test_rules_7_to_9_are_not_v22_rules(tmp_path: Path, layout: str) -> None:
    only_pct = {**PCT, "count": "", "median_amount": "", "estimated_amount": "300"}
    result = check(write(layout, tmp_path / "f", [charge(**only_pct)], "2.2.0"))
    assert result.valid, result.log.frame().to_dicts()


def test_v21_has_no_drug_or_modifier_rules(tmp_path: Path) -> None:
    ndc_no_drug = charge(**NDC, drug_unit_of_measurement="1")  # rules 10 and 12 in v2.2+
    path = write("csv_tall", tmp_path / "f", [ndc_no_drug], "2.2.0")
    assert {"rule.10", "rule.12"} <= set(rules(check(path)))
    assert not {"rule.10", "rule.12"} & set(rules(check(path, version="v2.1")))


def test_nine_nines_is_an_alert_not_an_error(tmp_path: Path) -> None:
    path = write("csv_tall", tmp_path / "f", [charge(**{**PCT, "median_amount": "999999999"})])
    result = check(path)
    assert result.valid
    assert rules(result) == {"alert.nine_nines": 1}


def test_wide_findings_name_the_payer_specific_column(tmp_path: Path) -> None:
    rows = [
        charge(standard_charge__methodology=""),
        charge(payer_name="Cigna", count="5", standard_charge__methodology=""),
    ]
    found = check(write("csv_wide", tmp_path / "f", rows)).log.frame()
    located = sorted(zip(found["rule"], found["column"], strict=True))
    assert located == [
        ("rule.1", "standard_charge|Aetna|PPO|methodology"),
        ("rule.1", "standard_charge|Cigna|PPO|methodology"),
        ("value.count", "count|Cigna|PPO"),
    ]
    assert set(found["row_no"]) == {4}  # one wide row, two payer groups
