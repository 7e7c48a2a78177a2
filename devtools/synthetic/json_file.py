"""CMS JSON files from synthetic hospitals, written item by item (never one giant list)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devtools.synthetic.model import ChargeSet, FileSpec, Hospital, Item, LayoutWriter, PayerRate
from devtools.synthetic.tall import AFFIRMATION_V2, ATTESTATION_V3

#: Pathologies the JSON writer can add (all seen in real files).
JSON_PATHOLOGIES = frozenset({"bom", "metadata_last", "nine_nines", "pretty", "extra_root_key"})
#: Modifiers every synthetic JSON file lists in `modifier_information[]`.
MODIFIERS = (("Bilateral procedure", "50", 150.0), ("Co-surgeon", "62", 62.5))


def root_metadata(hospital: Hospital, version: str) -> dict[str, Any]:
    """The root keys other than `standard_charge_information` and `modifier_information`."""
    v3 = version.startswith("3")
    root: dict[str, Any] = {
        "hospital_name": hospital.name,
        "last_updated_on": hospital.last_updated_on.isoformat(),
        "version": version,
        ("location_name" if v3 else "hospital_location"): list(hospital.locations),
        "hospital_address": [hospital.address],
        "license_information": {"license_number": hospital.license_number, "state": hospital.state},
    }
    if v3:
        root["type_2_npi"] = list(hospital.npis)
        root["attestation"] = {
            "attestation": ATTESTATION_V3,
            "confirm_attestation": True,
            "attester_name": "Pat Attester",
        }
    else:
        root["affirmation"] = {"affirmation": AFFIRMATION_V2, "confirm_affirmation": True}
    return root


def modifier_information(hospital: Hospital, version: str) -> list[dict[str, Any]]:
    """`modifier_information[]`: a few modifiers with one adjustment per payer/plan."""
    out = []
    for description, code, pct in MODIFIERS:
        entry: dict[str, Any] = {"description": description, "code": code}
        if version.startswith("3"):
            entry["setting"] = "both"
        entry["modifier_payer_information"] = [
            {"payer_name": payer, "plan_name": plan, "description": f"{pct:g}% payment adjustment"}
            for payer, plan in hospital.payer_plans[:4]
        ]
        out.append(entry)
    return out


def _payer(rate: PayerRate, v3: bool, nine_nines: bool, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {
        "payer_name": rate.payer_name,
        "plan_name": rate.plan_name,
        "methodology": rate.methodology,
    }
    optional: dict[str, Any] = {
        "standard_charge_dollar": rate.dollar,
        "standard_charge_percentage": rate.percentage,
        "standard_charge_algorithm": rate.algorithm,
    }
    if v3:
        median = rate.median
        if nine_nines and median is not None and rng.random() < 0.2:
            median = 999999999
        optional |= {
            "median_amount": median,
            "10th_percentile": rate.p10,
            "90th_percentile": rate.p90,
            "count": rate.count,
        }
    else:
        optional["estimated_amount"] = rate.estimated
    optional["additional_payer_notes"] = rate.notes
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def _charges(charge: ChargeSet, v3: bool, patho: frozenset[str], rng: random.Random) -> dict:
    out: dict[str, Any] = {"setting": charge.setting}
    for key, value in (
        ("gross_charge", charge.gross),
        ("discounted_cash", charge.cash),
        ("minimum", charge.minimum),
        ("maximum", charge.maximum),
        ("billing_class", charge.billing_class),
        ("additional_generic_notes", charge.notes),
    ):
        if value is not None:
            out[key] = value
    if charge.modifiers:
        out["modifier_code" if v3 else "modifiers"] = (
            charge.modifiers.split("|") if v3 else charge.modifiers
        )
    nine = "nine_nines" in patho
    out["payers_information"] = [_payer(rate, v3, nine, rng) for rate in charge.payers]
    return out


def item_json(item: Item, version: str, patho: frozenset[str], rng: random.Random) -> dict:
    """One `standard_charge_information[]` entry for a synthetic item."""
    v3 = version.startswith("3")
    out: dict[str, Any] = {"description": item.description}
    if item.drug_unit is not None:
        # v2.2 wrote the unit as a string, v3 as a number.
        unit: Any = item.drug_unit if v3 else f"{item.drug_unit:g}"
        out["drug_information"] = {"unit": unit, "type": item.drug_type}
    out["code_information"] = [{"code": code, "type": ctype} for ctype, code in item.codes]
    out["standard_charges"] = [_charges(charge, v3, patho, rng) for charge in item.charges]
    return out


def _write_json(path: Path, hospital: Hospital, item_iter: Iterable[Item], spec: FileSpec) -> int:
    """Write a JSON file; stop adding items past `max_bytes` if given. Returns the item count."""
    version, patho, rng = spec.version, spec.pathologies, spec.rng
    indent = 2 if "pretty" in patho else None
    root = root_metadata(hospital, version)
    if "extra_root_key" in patho:
        root["publisher_notes"] = {"generated": True, "list": [1, 2, 3]}
    tail = {"modifier_information": modifier_information(hospital, version)}
    head, after = ({}, root | tail) if "metadata_last" in patho else (root, tail)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        if "bom" in patho:
            out.write("\ufeff")
        out.write("{")
        for key, value in head.items():
            out.write(f"{json.dumps(key)}: {json.dumps(value, indent=indent)},\n")
        out.write('"standard_charge_information": [\n')
        buffer: list[str] = []
        size = 0
        for item in item_iter:
            text = json.dumps(item_json(item, version, patho, rng), indent=indent)
            buffer.append(text if count == 0 else ",\n" + text)
            size += len(text)
            count += 1
            if size > 1 << 20:
                out.write("".join(buffer))
                buffer.clear()
                size = 0
                if spec.full(out):
                    break
        out.write("".join(buffer))
        out.write("\n]")
        for key, value in after.items():
            out.write(f",\n{json.dumps(key)}: {json.dumps(value, indent=indent)}")
        out.write("}\n")
    return count


#: `write_json(path, hospital, items, version=, pathologies=, max_bytes=, seed=)`.
write_json = LayoutWriter(_write_json, JSON_PATHOLOGIES)
#: A JSON file for one synthetic hospital (`LayoutWriter.sample`).
json_file = write_json.sample
