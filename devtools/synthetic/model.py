"""Fictional hospitals and items, deterministic for a seed, independent of the layout; and
`LayoutWriter`, what every layout's writer shares (signature, pathology check, sample file).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: Common shoppable services: (description, code type, code, setting, typical price $).
SHOPPABLE: tuple[tuple[str, str, str, str, float], ...] = (
    ("Office visit, new patient, 30 minutes", "CPT", "99203", "outpatient", 160.0),
    ("Office visit, established patient, 25 minutes", "CPT", "99213", "outpatient", 110.0),
    ("Office visit, established patient, 40 minutes", "CPT", "99214", "outpatient", 165.0),
    ("Emergency department visit, moderate severity", "CPT", "99284", "outpatient", 650.0),
    ("Basic metabolic panel", "CPT", "80048", "outpatient", 25.0),
    ("Comprehensive metabolic panel", "CPT", "80053", "outpatient", 32.0),
    ("Complete blood count with differential", "CPT", "85025", "outpatient", 22.0),
    ("Lipid panel", "CPT", "80061", "outpatient", 36.0),
    ("Thyroid stimulating hormone (TSH)", "CPT", "84443", "outpatient", 48.0),
    ("Hemoglobin A1c", "CPT", "83036", "outpatient", 30.0),
    ("Urinalysis, automated with microscopy", "CPT", "81001", "outpatient", 12.0),
    ("Prostate specific antigen (PSA)", "CPT", "84153", "outpatient", 52.0),
    ("X-ray, chest, 2 views", "CPT", "71046", "outpatient", 120.0),
    ("CT scan, head or brain, without contrast", "CPT", "70450", "outpatient", 520.0),
    ("CT scan, abdomen and pelvis, with contrast", "CPT", "74177", "outpatient", 1100.0),
    ("MRI of brain, without contrast", "CPT", "70551", "outpatient", 1250.0),
    ("MRI of knee joint, without contrast", "CPT", "73721", "outpatient", 1050.0),
    ("MRI of lumbar spine, without contrast", "CPT", "72148", "outpatient", 1150.0),
    ("Ultrasound, abdomen, complete", "CPT", "76700", "outpatient", 380.0),
    ("Ultrasound, pregnant uterus, first trimester", "CPT", "76801", "outpatient", 330.0),
    ("Screening mammography, bilateral", "CPT", "77067", "outpatient", 240.0),
    ("Colonoscopy, diagnostic", "CPT", "45378", "outpatient", 1450.0),
    ("Colonoscopy with biopsy", "CPT", "45380", "outpatient", 1700.0),
    ("Upper GI endoscopy with biopsy", "CPT", "43239", "outpatient", 1400.0),
    ("Cataract removal with lens implant", "CPT", "66984", "outpatient", 2400.0),
    ("Knee arthroscopy, meniscectomy", "CPT", "29881", "outpatient", 3900.0),
    ("Inguinal hernia repair", "CPT", "49505", "outpatient", 4200.0),
    ("Laparoscopic gallbladder removal", "CPT", "47562", "outpatient", 6800.0),
    ("Physical therapy evaluation", "CPT", "97161", "outpatient", 140.0),
    ("Therapeutic exercise, 15 minutes", "CPT", "97110", "outpatient", 55.0),
    ("Electrocardiogram (ECG), complete", "CPT", "93000", "outpatient", 60.0),
    ("Echocardiogram, complete", "CPT", "93306", "outpatient", 900.0),
    ("Vaginal delivery without complications", "MS-DRG", "807", "inpatient", 11500.0),
    ("Cesarean section without complications", "MS-DRG", "788", "inpatient", 17500.0),
    ("Major hip and knee joint replacement without MCC", "MS-DRG", "470", "inpatient", 29000.0),
    ("Spinal fusion except cervical without MCC", "MS-DRG", "460", "inpatient", 52000.0),
    ("Heart failure and shock with MCC", "MS-DRG", "291", "inpatient", 14500.0),
    ("Septicemia without mechanical ventilation, with MCC", "MS-DRG", "871", "inpatient", 19000.0),
    ("Psychoses", "MS-DRG", "885", "inpatient", 9800.0),
    ("Simple pneumonia and pleurisy with MCC", "MS-DRG", "193", "inpatient", 12500.0),
)

#: Payers and the plans they sell: real-world payer name shapes (fictional contracts).
PAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Aetna", ("Commercial PPO", "Choice POS II", "Medicare Advantage HMO")),
    ("Blue Cross Blue Shield", ("PPO", "HMO Blue", "Federal Employee Program")),
    ("UnitedHealthcare", ("Choice Plus PPO", "Medicare Advantage", "Community Plan Medicaid")),
    ("Cigna", ("Open Access Plus", "LocalPlus EPO")),
    ("Humana", ("Gold Plus HMO", "Medicare Advantage PPO")),
    ("Platform Health Insurance", ("PPO", "Exchange Silver")),
    ("Region Health Insurance", ("HMO", "Medicaid Managed Care")),
    ("Kaiser Permanente", ("HMO",)),
    ("Molina Healthcare", ("Marketplace", "Medicaid")),
    ("Oscar Health", ("EPO",)),
)
PAYER_FACTOR = {name: 0.8 + 0.1 * i for i, (name, _) in enumerate(PAYERS)}
DRUGS: tuple[tuple[str, str, str, float, str, float], ...] = (
    ("Ondansetron 4 mg/2 mL injection", "J2405", "00409-4755-03", 2.0, "ML", 18.0),
    ("Ceftriaxone 1 g injection", "J0696", "60505-0750-04", 1.0, "UN", 35.0),
    ("Ketorolac 30 mg/mL injection", "J1885", "00409-3795-01", 1.0, "ML", 22.0),
    ("Heparin 5,000 units/mL", "J1644", "63323-0540-11", 1.0, "ML", 14.0),
    ("Sodium chloride 0.9% 1,000 mL", "J7030", "00338-0049-04", 1000.0, "ML", 45.0),
    ("Acetaminophen 500 mg tablet", "A9270", "50580-0449-01", 1.0, "EA", 3.0),
    ("Pantoprazole 40 mg injection", "J3490", "00008-0923-55", 1.0, "UN", 60.0),
)
FIRST = ("Mercy", "Valley", "Riverside", "St. Luke's", "Lakeside", "Summit", "Harbor", "Pine")
SECOND = ("General Hospital", "Medical Center", "Community Hospital", "Regional Hospital")
STATES = (("CA", "Fresno", "93721"), ("TX", "Austin", "78701"), ("NY", "Albany", "12207"),
          ("FL", "Tampa", "33602"), ("PA", "Erie", "16501"))  # fmt: skip


@dataclass(frozen=True)
class Hospital:
    """A fictional hospital and what its file says about it."""

    name: str
    license_number: str
    state: str
    city: str
    zip: str
    address: str
    npis: tuple[str, ...]
    locations: tuple[str, ...]
    last_updated_on: dt.date
    price_level: float
    payers: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def payer_plans(self) -> list[tuple[str, str]]:
        return [(payer, plan) for payer, plans in self.payers for plan in plans]


@dataclass(frozen=True)
class PayerRate:
    payer_name: str
    plan_name: str
    methodology: str
    dollar: float | None = None
    percentage: float | None = None
    algorithm: str | None = None
    median: float | None = None
    p10: float | None = None
    p90: float | None = None
    count: str | None = None
    estimated: float | None = None
    notes: str | None = None


@dataclass(frozen=True)
class ChargeSet:
    """One setting of one item: item-level prices and the payers' rates."""

    setting: str
    gross: float | None
    cash: float | None
    minimum: float | None
    maximum: float | None
    payers: tuple[PayerRate, ...]
    modifiers: str | None = None
    billing_class: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Item:
    description: str
    codes: tuple[tuple[str, str], ...]  # (type, code)
    charges: tuple[ChargeSet, ...]
    drug_unit: float | None = None
    drug_type: str | None = None


def known_pathologies(given: Iterable[str], allowed: frozenset[str]) -> frozenset[str]:
    """The pathologies a writer is asked for; ValueError naming any it does not know."""
    patho = frozenset(given)
    unknown = patho - allowed
    if unknown:
        raise ValueError(f"unknown pathologies: {sorted(unknown)}")
    return patho


def make_hospital(
    seed: int,
    *,
    name: str | None = None,
    state: str | None = None,
    city: str | None = None,
    zip_code: str | None = None,
    price_level: float | None = None,
    plans: int | None = None,
) -> Hospital:
    """A hospital; `plans` payer/plan groups (default 6–12; more for wide-file tests)."""
    rng = random.Random(seed)
    st, default_city, default_zip = STATES[seed % len(STATES)]
    state = state or st
    name = name or f"{rng.choice(FIRST)} {rng.choice(SECOND)}"
    count = plans if plans is not None else rng.randint(6, 12)
    all_plans = [(p, plan) for p, names in PAYERS for plan in names]
    chosen: list[tuple[str, str]] = []
    extra = 0
    while len(chosen) < count:
        if len(chosen) < len(all_plans):
            chosen = rng.sample(all_plans, min(count, len(all_plans)))
        else:
            extra += 1
            payer, plan = all_plans[extra % len(all_plans)]
            chosen.append((payer, f"{plan} {extra // len(all_plans) + 1:03d}"))
    grouped: dict[str, list[str]] = {}
    for payer, plan in chosen:
        grouped.setdefault(payer, []).append(plan)
    return Hospital(
        name=name,
        license_number=str(10000 + seed * 37 % 90000),
        state=state,
        city=city or default_city,
        zip=zip_code or default_zip,
        address=f"{100 + seed % 900} Main Street, {city or default_city}, "
        f"{state} {zip_code or default_zip}",
        npis=(f"{1000000000 + seed * 7919 % 899999999:010d}",),
        locations=(name,),
        last_updated_on=dt.date(2026, 1, 1) + dt.timedelta(days=seed % 300),
        price_level=price_level if price_level is not None else round(rng.uniform(0.6, 2.8), 2),
        payers=tuple((p, tuple(v)) for p, v in grouped.items()),
    )


def _rates(
    rng: random.Random, hospital: Hospital, base: float, gross: float, version: str
) -> tuple[PayerRate, ...]:
    rates = []
    v3 = version.startswith("3")
    for payer, plan in hospital.payer_plans:
        dollar = round(base * hospital.price_level * PAYER_FACTOR.get(payer, 1.0)
                       * rng.uniform(0.85, 1.2), 2)  # fmt: skip
        if rng.random() < 0.15:
            pct = round(rng.uniform(35, 85), 1)
            rates.append(
                PayerRate(
                    payer, plan, "percent of total billed charges", dollar=None,
                    percentage=pct,
                    median=round(gross * pct / 100, 2) if v3 else None,
                    p10=round(gross * pct / 100 * 0.8, 2) if v3 else None,
                    p90=round(gross * pct / 100 * 1.2, 2) if v3 else None,
                    count=str(rng.choice(["1 through 10", "14", "32", "120"])) if v3 else None,
                    estimated=None if v3 else round(gross * pct / 100, 2),
                )
            )  # fmt: skip
        else:
            methodology = rng.choice(["fee schedule", "case rate", "fee schedule", "per diem"])
            rates.append(PayerRate(payer, plan, methodology, dollar=dollar))
    return tuple(rates)


def _charge_set(
    rng: random.Random, hospital: Hospital, setting: str, base: float, version: str
) -> ChargeSet:
    gross = round(base * hospital.price_level * rng.uniform(2.2, 3.5), 2)
    payers = _rates(rng, hospital, base, gross, version)
    dollars = [p.dollar for p in payers if p.dollar is not None]
    return ChargeSet(
        setting=setting,
        gross=gross,
        cash=round(gross * rng.uniform(0.55, 0.85), 2),
        minimum=min(dollars) if dollars else None,
        maximum=max(dollars) if dollars else None,
        payers=payers,
    )


def items(
    hospital: Hospital, n_items: int, seed: int = 0, version: str = "3.0.0"
) -> Iterator[Item]:
    """`n_items` items: the shoppable services first, then drugs and chargemaster lines."""
    rng = random.Random(seed * 1_000_003 + len(hospital.name))
    for i in range(n_items):
        if i < len(SHOPPABLE):
            desc, ctype, code, setting, base = SHOPPABLE[i]
            codes: tuple[tuple[str, str], ...] = ((ctype, code), ("CDM", f"{100000 + i}"))
            yield Item(desc, codes, (_charge_set(rng, hospital, setting, base, version),))
        elif i < len(SHOPPABLE) + len(DRUGS):
            desc, hcpcs, ndc, unit, utype, base = DRUGS[i - len(SHOPPABLE)]
            codes = (("HCPCS", hcpcs), ("NDC", ndc), ("CDM", f"{200000 + i}"))
            charge = _charge_set(rng, hospital, "both", base, version)
            yield Item(desc, codes, (charge,), drug_unit=unit, drug_type=utype)
        else:
            cpt = f"{rng.randint(10021, 99499)}"
            base = round(rng.lognormvariate(5.0, 1.2), 2)
            codes = (("CDM", f"{300000 + i}"), ("CPT", cpt), ("RC", f"0{rng.randint(250, 999)}"))
            settings = ("inpatient", "outpatient") if rng.random() < 0.3 else ("outpatient",)
            charges = tuple(_charge_set(rng, hospital, s, base, version) for s in settings)
            yield Item(f"Chargemaster item {cpt}-{i}", codes, charges)


@dataclass(frozen=True)
class FileSpec:
    """How to write one file: template version, the pathologies asked for (all known to the
    layout), where to stop, and the random source of the noise."""

    version: str
    pathologies: frozenset[str]
    max_bytes: int | None
    rng: random.Random

    def full(self, out: IO[Any]) -> bool:
        """True once `out` holds `max_bytes` or more (never without `max_bytes`)."""
        return self.max_bytes is not None and out.tell() >= self.max_bytes


@dataclass(frozen=True)
class LayoutWriter:
    """A layout's file writer: `body` writes the items of one hospital as `FileSpec` says and
    returns what it counted (data rows for CSV, items for JSON); `allowed` are the
    pathologies it can add."""

    body: Callable[[Path, Hospital, Iterable[Item], FileSpec], int]
    allowed: frozenset[str]

    def __call__(
        self,
        path: Path,
        hospital: Hospital,
        item_iter: Iterable[Item],
        *,
        version: str = "3.0.0",
        pathologies: Iterable[str] = (),
        max_bytes: int | None = None,
        seed: int = 0,
    ) -> int:
        """Write `item_iter` to `path`, stopping past `max_bytes` if given; ValueError for a
        pathology the layout does not know."""
        patho = known_pathologies(pathologies, self.allowed)
        spec = FileSpec(version, patho, max_bytes, random.Random(seed))
        return self.body(path, hospital, item_iter, spec)

    def sample(
        self,
        path: Path,
        *,
        n_items: int = 200,
        target_bytes: int | None = None,
        version: str = "3.0.0",
        seed: int = 1,
        pathologies: Iterable[str] = (),
        hospital: Hospital | None = None,
        plans: int | None = None,
    ) -> int:
        """A file for one synthetic hospital (`make_hospital(seed, plans=plans)` unless
        given): `n_items` items, or items until `target_bytes`."""
        hospital = hospital or make_hospital(seed, plans=plans)
        count = 10**9 if target_bytes else n_items
        return self(path, hospital, items(hospital, count, seed, version), version=version,
                    pathologies=pathologies, max_bytes=target_bytes, seed=seed)  # fmt: skip
