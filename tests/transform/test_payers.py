"""Canonical payers and plan types: the alias data, the matching rules, real and demo names."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import polars as pl
import pytest

from devtools.synthetic.model import PAYERS, SHOPPABLE
from tests.transform.payer_spellings import SPELLINGS
from transform.payers import (
    FUZZY_THRESHOLD,
    PAYER_KINDS,
    PLAN_TYPES,
    clean,
    match_payer,
    payer_map,
    plan_type,
    rules,
)

DATA = Path(__file__).resolve().parents[2] / "transform" / "data"


def read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_alias_maps_to_a_known_canonical_payer() -> None:
    payers = read("payers.csv")
    known = {row["payer"] for row in payers}
    assert len(known) == len(payers), "a canonical payer is listed twice"
    assert len(known) >= 300
    assert {row["kind"] for row in payers} <= PAYER_KINDS
    assert all(row["carrier"] and row["generic"] in {"", "yes"} for row in payers)
    aliases = read("payer_aliases.csv")
    # An alias names a registry payer, or nothing: an ambiguous name (`Healthfirst`).
    unknown = [row for row in aliases if row["payer"] and row["payer"] not in known]
    assert unknown == []
    cleaned = [clean(row["alias"]) for row in aliases]
    assert len(set(cleaned)) == len(cleaned), "an alias is listed twice"
    # rules() refuses one normalised alias naming two payers; each payer has its own name.
    assert all(rules().match(payer) == payer for payer in known)


@pytest.mark.parametrize(
    ("published", "canonical"),
    [
        ("BLUE CROSS BLUE SHIELD [110001]", "Blue Cross Blue Shield"),
        ("BCBS HMO IP/OP ONLY", "Blue Cross Blue Shield"),
        # The Texas company now, not the generic Blue (every Blue company is in the registry).
        ("Blue Cross Blue Shield of Texas", "Blue Cross and Blue Shield of Texas"),
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
        ("Humana", "Gold Plus HMO", "medicare_advantage_hmo"),  # MA with its network now
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


@pytest.mark.parametrize(("published", "plan", "canonical", "expected"), SPELLINGS)
def test_real_world_spellings(
    published: str, plan: str | None, canonical: str | None, expected: str
) -> None:
    """No wrong payer among the spellings: the right one, or none where the name is ambiguous."""
    found = match_payer(published)
    assert (found.payer if found else None) == canonical
    kind = rules().payers[canonical].kind if canonical else None
    assert plan_type(published, plan, kind) == expected


def test_spelling_table_is_broad() -> None:
    assert len(SPELLINGS) >= 200
    assert sum(canonical is None for _, _, canonical, _ in SPELLINGS) >= 20
    # Every plan type but `exchange`-free fallbacks is exercised.
    assert {expected for *_, expected in SPELLINGS} == set(PLAN_TYPES)


@pytest.mark.parametrize(
    ("published", "canonical"),
    [
        ("Blue Shield of California", "Blue Shield of California"),
        ("Blue Cross of California", "Anthem Blue Cross"),
        ("Blu Shield of California", "Blue Shield of California"),
        ("Blue Shield of Califronia", "Blue Shield of California"),
        ("Blue Cross of Califronia", "Anthem Blue Cross"),
        ("BCBS of Texsa", "Blue Cross and Blue Shield of Texas"),
        ("Harvard Pilgrem", "Harvard Pilgrim"),
        ("Humanna", "Humana"),
        ("Inland Empire Helth Plan", "Inland Empire Health Plan"),  # not `Empire` (Elevance)
        ("Cigna Heathspring", "Cigna Healthspring"),
        ("Health Frist", None),  # Healthfirst (NY) or Health First (FL)
        ("Medicad", None),  # Medicaid or Medica: two carriers as near
        ("Cigan", None),  # too short to guess
        ("BCBS HMO", "Blue Cross Blue Shield"),  # not `bcbs mo` (Anthem Missouri)
    ],
)
def test_fuzzy_matches_never_cross_carriers(published: str, canonical: str | None) -> None:
    found = match_payer(published)
    assert (found.payer if found else None) == canonical
    if found and found.payer != clean(published):
        assert found.method == "exact" or found.score >= FUZZY_THRESHOLD


def test_a_misspelt_alias_maps_to_its_carrier_or_nothing() -> None:
    """Every alias with a letter dropped or two swapped: a fuzzy match keeps the carrier."""
    r = rules()
    wrong = []
    for row in read("payer_aliases.csv"):
        alias, payer = row["alias"], row["payer"]
        if not payer or len(alias) < 8:
            continue
        k = len(alias) // 2
        for typo in (
            alias[:k] + alias[k + 1 :],
            alias[:k] + alias[k + 1] + alias[k] + alias[k + 2 :],
        ):
            found = r.lookup(typo)
            if found and found.method == "fuzzy":
                got, want = r.payers[found.payer], r.payers[payer]
                if got.carrier != want.carrier and not got.generic:
                    wrong.append((alias, typo, found.payer))
    assert wrong == []


def test_payer_map_records_how_a_payer_was_matched() -> None:
    pairs = pl.DataFrame(
        {"payer_name": ["AETNA [1001]", "Humanna", "Acme Mutual"], "plan_name": ["PPO"] * 3}
    )
    mapped = payer_map(pairs).sort("payer_name")
    assert mapped.select("payer", "match_method", "match_score").rows() == [
        ("Aetna", "exact", 100.0),
        ("Acme Mutual", None, None),
        ("Humana", "fuzzy", 92.3),
    ]


def test_mapping_thousands_of_spellings_is_fast() -> None:
    """Distinct spellings map in well under a second (uncached), exact or not."""
    r = rules()
    names = [
        f"{published} {suffix}"
        for published, *_ in SPELLINGS
        for suffix in ("", "HMO", "Plan 7", "Ins Co")
    ]
    names += [f"Acme Mutal {i} Insurence" for i in range(500)]
    start = time.perf_counter()
    for name in names:
        r.lookup(name)
    assert len(names) >= 1500
    assert time.perf_counter() - start < 1.0


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
    ("name", "share", "typed"),
    [
        ("real/marthas-vineyard-hospital_v3_tall.csv", 1.0, 1.0),
        ("real/avenues-recovery-valley-forge_v2_tall.csv", 0.90, 0.90),
        ("cms/v3.0.0_tall.csv", 1.0, 1.0),
    ],
)
def test_share_of_sample_rates_mapped(samples: Path, name: str, share: float, typed: float) -> None:
    """Of the rates naming a payer: the share with a canonical payer, and with a plan type."""
    rates = sample_pairs(samples / name)
    mapped = rates.join(payer_map(rates), on=["payer_name", "plan_name"], nulls_equal=True)
    assert mapped.height == rates.height
    assert mapped["payer_matched"].sum() >= share * mapped.height
    assert (mapped["plan_type"] != "unknown").sum() >= typed * mapped.height


def test_shoppable_services_list() -> None:
    """The curated list has one plain name per code and covers the generator's services."""
    services = read("shoppable_services.csv")
    keys = [(row["code_type"], row["code"]) for row in services]
    assert len(set(keys)) == len(keys)
    assert all(row["name"] and row["category"] for row in services)
    assert {(ctype, code) for _, ctype, code, _, _ in SHOPPABLE} <= set(keys)


@pytest.mark.parametrize(
    ("state", "canonical"),
    [
        ("TX", "Blue Cross and Blue Shield of Texas"),
        ("tx", "Blue Cross and Blue Shield of Texas"),
        ("OH", "Anthem"),
        ("CA", "Blue Cross Blue Shield"),  # Blue Shield of California and Anthem Blue Cross
        (None, "Blue Cross Blue Shield"),
    ],
)
def test_a_generic_blue_name_maps_to_the_states_blue_company(
    state: str | None, canonical: str
) -> None:
    pairs = pl.DataFrame(
        {"payer_name": ["BlueCrossBlueShield", "Blue Shield of California", "Aetna"],
         "plan_name": ["PPO", "PPO", "PPO"]}
    )  # fmt: skip
    mapped = dict(payer_map(pairs, state=state).select("payer_name", "payer").iter_rows())
    assert mapped == {
        "BlueCrossBlueShield": canonical,
        "Blue Shield of California": "Blue Shield of California",  # a named company stays
        "Aetna": "Aetna",
    }


def test_every_states_blue_plan_is_a_registry_payer() -> None:
    from transform.payers import blue_plans

    plans = blue_plans()
    assert len(plans) >= 40 and "CA" not in plans and "NY" not in plans
