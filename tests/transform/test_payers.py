"""Canonical payers and plan types: the alias data, the matching rules, real and demo names."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from devtools.synthetic.model import PAYERS, SHOPPABLE
from transform.payers import PAYER_KINDS, PLAN_TYPES, clean, payer_map, plan_type, rules

DATA = Path(__file__).resolve().parents[2] / "transform" / "data"


def read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_alias_maps_to_a_known_canonical_payer() -> None:
    payers = read("payers.csv")
    known = {row["payer"] for row in payers}
    assert len(known) == len(payers), "a canonical payer is listed twice"
    assert {row["kind"] for row in payers} <= PAYER_KINDS
    aliases = read("payer_aliases.csv")
    unknown = [row for row in aliases if row["payer"] not in known]
    assert unknown == []
    cleaned = [clean(row["alias"]) for row in aliases]
    assert len(set(cleaned)) == len(cleaned), "an alias is listed twice"
    # Each canonical payer is reachable by its own name.
    assert all(rules().match(payer) == payer for payer in known)


@pytest.mark.parametrize(
    ("published", "canonical"),
    [
        ("BLUE CROSS BLUE SHIELD [110001]", "Blue Cross Blue Shield"),
        ("BCBS HMO IP/OP ONLY", "Blue Cross Blue Shield"),
        ("Blue Cross Blue Shield of Texas", "Blue Cross Blue Shield"),
        ("Blue_Cross_Blue_Shield", "Blue Cross Blue Shield"),
        ("UHC Commercial", "UnitedHealthcare"),
        ("UNITED HEALTHCARE ALTERNATE [1020]", "UnitedHealthcare"),
        ("AETNA [1001]", "Aetna"),
        ("Highmark BCBS Medicare", "Highmark"),  # earliest match wins over the longer BCBS
        ("Capital Blue Cross", "Capital Blue Cross"),  # longest match at the same start
        ("CCBH Blair (HCBI)", "Community Care Behavioral Health"),
        ("Magellen All Counties", "Magellan Health"),
        ("MASSHEALTH [3001]", "Medicaid"),
        ("Acme Mutual", None),
        (None, None),
    ],
)
def test_canonical_payer(published: str | None, canonical: str | None) -> None:
    assert rules().match(published) == canonical


@pytest.mark.parametrize(
    ("payer", "plan", "expected"),
    [
        ("Aetna", "Commercial PPO", "commercial_ppo"),
        ("Blue Cross Blue Shield", "HMO Blue", "commercial_hmo"),
        ("Cigna", "LocalPlus EPO", "commercial_epo"),
        ("Aetna", "Choice POS II", "commercial_pos"),
        ("Cigna", "Open Access Plus", "commercial_pos"),
        ("HARVARD PILGRIM [120001]", "HB MVH HPHC HMO / POS / PPO", "commercial_other"),
        ("Humana", "Gold Plus HMO", "medicare_advantage"),
        ("AETNA [1001]", "HB MVH MEDICARE", "medicare_advantage"),  # a carrier's Medicare plan
        ("MEDICARE [2001]", "HB MVH MEDICARE", "medicare"),  # the program itself
        ("UnitedHealthcare", "Community Plan Medicaid", "medicaid_managed_care"),
        ("MASSHEALTH [3001]", "HB MVH MEDICAID", "medicaid"),
        ("CCBH Berks (HCBK)", "All Plans", "medicaid_managed_care"),  # from the payer's kind
        ("Platform Health Insurance", "Exchange Silver", "exchange"),
        ("Molina Healthcare", "Marketplace", "exchange"),
        ("Aetna Medicare/Commercial", "All Plans", "other"),  # several lines of business
        ("Acme Mutual", "All Plans", "unknown"),
    ],
)
def test_plan_type(payer: str, plan: str, expected: str) -> None:
    canonical = rules().match(payer)
    kind = rules().kinds.get(canonical) if canonical else None
    assert plan_type(payer, plan, kind) == expected
    assert expected in PLAN_TYPES


def test_demo_payers_all_map() -> None:
    """The synthetic demo's payers are all canonical, none of their plans `unknown`."""
    pairs = pl.DataFrame(
        [(payer, plan) for payer, plans in PAYERS for plan in plans],
        schema=["payer_name", "plan_name"],
        orient="row",
    )
    mapped = payer_map(pairs)
    assert mapped["payer_matched"].all()
    assert mapped.filter(pl.col("plan_type").is_in(["unknown", "other"])).is_empty()


def sample_pairs(path: Path) -> pl.DataFrame:
    frame = pl.read_csv(path, skip_rows=2, infer_schema=False, encoding="utf8-lossy")
    frame = frame.rename({c: c.replace(" ", "").lower() for c in frame.columns})
    return frame.select("payer_name", "plan_name").filter(pl.col("payer_name").is_not_null())


@pytest.mark.parametrize(
    ("name", "share"),
    [
        ("real/marthas-vineyard-hospital_v3_tall.csv", 0.99),
        ("real/avenues-recovery-valley-forge_v2_tall.csv", 0.85),
        ("cms/v3.0.0_tall.csv", 1.0),
    ],
)
def test_share_of_sample_rates_mapped(samples: Path, name: str, share: float) -> None:
    rates = sample_pairs(samples / name)
    mapped = rates.join(payer_map(rates), on=["payer_name", "plan_name"], nulls_equal=True)
    assert mapped.height == rates.height
    assert mapped["payer_matched"].sum() >= share * mapped.height


def test_shoppable_services_list() -> None:
    """The curated list has one plain name per code and covers the generator's services."""
    services = read("shoppable_services.csv")
    keys = [(row["code_type"], row["code"]) for row in services]
    assert len(set(keys)) == len(keys)
    assert all(row["name"] and row["category"] for row in services)
    assert {(ctype, code) for _, ctype, code, _, _ in SHOPPABLE} <= set(keys)
