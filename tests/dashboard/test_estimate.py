"""The out-of-pocket estimate: deductible, then coinsurance, capped by the maximum."""

from __future__ import annotations

import pytest

from dashboard.estimate import Terms, out_of_pocket, parse_amount


def test_deductible_then_coinsurance() -> None:
    # $500 of deductible left, then 20 % of the other $1,500.
    assert out_of_pocket(2000, Terms(deductible=500, coinsurance=20)) == 800.0


def test_price_within_the_deductible_is_paid_in_full() -> None:
    assert out_of_pocket(300, Terms(deductible=500, coinsurance=20)) == 300.0


def test_deductible_met_pays_only_coinsurance() -> None:
    assert out_of_pocket(1234.56, Terms(deductible=0, coinsurance=30)) == 370.37
    assert out_of_pocket(1000, Terms(coinsurance=30)) == 300.0  # blank deductible = met


def test_out_of_pocket_maximum_caps_the_estimate() -> None:
    assert out_of_pocket(10_000, Terms(deductible=2000, coinsurance=20, oop_max=2500)) == 2500
    assert out_of_pocket(10_000, Terms(deductible=2000, coinsurance=20, oop_max=0)) == 0.0


def test_no_coinsurance_pays_the_deductible_only() -> None:
    assert out_of_pocket(2000, Terms(deductible=500)) == 500.0
    assert out_of_pocket(2000, Terms(deductible=500, coinsurance=0)) == 500.0


def test_full_coinsurance_pays_everything_up_to_the_cap() -> None:
    assert out_of_pocket(2000, Terms(deductible=500, coinsurance=100)) == 2000.0
    assert out_of_pocket(2000, Terms(deductible=500, coinsurance=100, oop_max=1500)) == 1500


def test_terms_given() -> None:
    assert not Terms().given
    assert not Terms(oop_max=3000).given
    assert Terms(coinsurance=0).given


@pytest.mark.parametrize(
    ("text", "percent", "expected"),
    [
        ("", False, (None, "")),
        ("  ", False, (None, "")),
        ("$1,500", False, (1500.0, "")),
        ("20%", True, (20.0, "")),
        ("0", False, (0.0, "")),
        ("-5", False, (None, "Deductible cannot be negative.")),
        ("120", True, (None, "Deductible is a percentage between 0 and 100.")),
        ("5e9", False, (None, "Deductible above $1,000,000 is not a plan's amount.")),
        ("nan", False, (None, "Deductible: “nan” is not a number.")),
        ("lots", False, (None, "Deductible: “lots” is not a number.")),
    ],
)
def test_parse_amount(text: str, percent: bool, expected: tuple[float | None, str]) -> None:
    assert parse_amount(text, "Deductible", percent=percent) == expected
