"""Tiny CMS files for rule fixtures, written in each layout from one description of rows.

A fixture is a list of *charges*: dicts keyed by the tall CSV column names
(`description`, `code|1`, `code|1|type`, `payer_name`, `standard_charge|negotiated_dollar`,
…). `write(layout, …)` writes them as a tall CSV, a wide CSV (one wide row per item,
payer columns from `payer_name`/`plan_name`) or a JSON file, so one fixture exercises a
rule in every layout the rule applies to.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from devtools.synthetic.json_file import root_metadata
from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import general_rows
from hpt.pipeline.read import Validation, validate_path

LAYOUTS = ("csv_tall", "csv_wide", "json")
ITEM = [
    "description", "code|1", "code|1|type", "code|2", "code|2|type", "modifiers", "setting",
    "drug_unit_of_measurement", "drug_type_of_measurement", "standard_charge|gross",
    "standard_charge|discounted_cash",
]  # fmt: skip
TAIL = ["standard_charge|min", "standard_charge|max", "additional_generic_notes"]
PAYER_V3 = [
    "standard_charge|negotiated_dollar", "standard_charge|negotiated_percentage",
    "standard_charge|negotiated_algorithm", "median_amount", "10th_percentile",
    "90th_percentile", "count", "standard_charge|methodology",
]  # fmt: skip
PAYER_V2 = [
    "standard_charge|negotiated_dollar", "standard_charge|negotiated_percentage",
    "standard_charge|negotiated_algorithm", "estimated_amount", "standard_charge|methodology",
]  # fmt: skip
#: A valid v3 charge: a dollar rate with min/max, codes, setting.
GOOD = {
    "description": "MRI of brain (no contrast)", "code|1": "70551", "code|1|type": "CPT",
    "setting": "outpatient", "standard_charge|gross": "1200",
    "standard_charge|discounted_cash": "1080", "payer_name": "Aetna", "plan_name": "PPO",
    "standard_charge|negotiated_dollar": "400", "standard_charge|methodology": "fee schedule",
    "standard_charge|min": "250", "standard_charge|max": "400",
}  # fmt: skip


def charge(**changes: str) -> dict[str, str]:
    """GOOD with changes; keyword names use `__` for `|` (`standard_charge__min`)."""
    row = dict(GOOD)
    for key, value in changes.items():
        row[key.replace("__", "|")] = value
    return row


def is_v3(version: str) -> bool:
    return version.startswith("3")


def general(version: str, **changes: str | None) -> tuple[list[str], list[str]]:
    """Rows 1–2 of the synthetic hospital; `None` removes an element, a value replaces it."""
    names, values = general_rows(make_hospital(1), version)
    if "version_cell" in changes:  # the version cell differs from the layout written
        changes["version"] = changes.pop("version_cell")
    for key, value in changes.items():
        for i, name in enumerate(names):
            if name.startswith(key) or (key == "statement" and name.startswith("To the best")):
                if value is None:
                    del names[i], values[i]
                else:
                    values[i] = value
                break
    return names, values


def write_tall(
    path: Path,
    charges: list[dict[str, str]],
    version: str = "3.0.0",
    columns: list[str] | None = None,
    **meta: str | None,
) -> Path:
    payer = PAYER_V3 if is_v3(version) else PAYER_V2
    columns = columns or [*ITEM, "payer_name", "plan_name", *payer, *TAIL]
    names, values = general(version, **meta)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerows([names, values, columns])
        writer.writerows([[c.get(col, "") for col in columns] for c in charges])
    return path


def _items(charges: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Charges grouped into items: consecutive charges with the same item columns and
    different payer/plan (a repeated payer/plan starts a new item, as in a wide row)."""
    groups: list[list[dict[str, str]]] = []

    def plan(c: dict[str, str]) -> tuple[str, str]:
        return c.get("payer_name", ""), c.get("plan_name", "")

    for c in charges:
        key = [c.get(k, "") for k in (*ITEM, *TAIL)]
        if (
            groups
            and [groups[-1][0].get(k, "") for k in (*ITEM, *TAIL)] == key
            and plan(c) not in {plan(g) for g in groups[-1]}
        ):
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


def write_wide(
    path: Path, charges: list[dict[str, str]], version: str = "3.0.0", **meta: str | None
) -> Path:
    payer = PAYER_V3 if is_v3(version) else PAYER_V2
    plans = list(dict.fromkeys((c.get("payer_name", ""), c.get("plan_name", "")) for c in charges))
    plans = [p for p in plans if p[0] or p[1]] or [("Aetna", "PPO")]

    def wide_name(column: str, p: tuple[str, str]) -> str:
        if column.startswith("standard_charge|"):
            return f"standard_charge|{p[0]}|{p[1]}|{column.split('|', 1)[1]}"
        return f"{column}|{p[0]}|{p[1]}"

    group_cols = [*payer, "additional_payer_notes"]
    columns = [*ITEM, *[wide_name(c, p) for p in plans for c in group_cols], *TAIL]
    names, values = general(version, **meta)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerows([names, values, columns])
        for item in _items(charges):
            row = {k: item[0].get(k, "") for k in (*ITEM, *TAIL)}
            for c in item:
                p = (c.get("payer_name", ""), c.get("plan_name", ""))
                for col in payer:
                    if c.get(col) and p in plans:
                        row[wide_name(col, p)] = c[col]
            writer.writerow([row.get(col, "") for col in columns])
    return path


def _number(text: str) -> Any:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text  # kept as a string: the fixture wants a malformed number


def write_json(
    path: Path, charges: list[dict[str, str]], version: str = "3.0.0", **meta: Any
) -> Path:
    v3 = is_v3(version)
    root = root_metadata(make_hospital(1), version)
    for key, value in meta.items():
        if value is None:
            root.pop(key, None)
        else:
            root[key] = value
    items = []
    for item in _items(charges):
        first = item[0]
        out: dict[str, Any] = {"description": first.get("description", "")}
        if first.get("drug_unit_of_measurement") or first.get("drug_type_of_measurement"):
            drug: dict[str, Any] = {}
            if first.get("drug_unit_of_measurement"):
                drug["unit"] = _number(first["drug_unit_of_measurement"])
            if first.get("drug_type_of_measurement"):
                drug["type"] = first["drug_type_of_measurement"]
            out["drug_information"] = drug
        codes = []
        for slot in (1, 2):
            code, ctype = first.get(f"code|{slot}", ""), first.get(f"code|{slot}|type", "")
            if code or ctype:
                codes.append({k: v for k, v in (("code", code), ("type", ctype)) if v})
        out["code_information"] = codes
        standard: dict[str, Any] = {"setting": first.get("setting", "")}
        for key, col in (
            ("gross_charge", "standard_charge|gross"),
            ("discounted_cash", "standard_charge|discounted_cash"),
            ("minimum", "standard_charge|min"),
            ("maximum", "standard_charge|max"),
        ):
            if first.get(col):
                standard[key] = _number(first[col])
        if first.get("additional_generic_notes"):
            standard["additional_generic_notes"] = first["additional_generic_notes"]
        if first.get("modifiers"):
            standard["modifier_code" if v3 else "modifiers"] = first["modifiers"].split("|")
        payers = []
        for c in item:
            if not (c.get("payer_name") or c.get("plan_name")):
                continue
            p: dict[str, Any] = {"payer_name": c.get("payer_name", ""),
                                 "plan_name": c.get("plan_name", "")}  # fmt: skip
            for key, col in (
                ("standard_charge_dollar", "standard_charge|negotiated_dollar"),
                ("standard_charge_percentage", "standard_charge|negotiated_percentage"),
                ("standard_charge_algorithm", "standard_charge|negotiated_algorithm"),
                ("methodology", "standard_charge|methodology"),
                ("median_amount", "median_amount"), ("10th_percentile", "10th_percentile"),
                ("90th_percentile", "90th_percentile"), ("count", "count"),
                ("estimated_amount", "estimated_amount"),
            ):  # fmt: skip
                if c.get(col):
                    text_field = key in ("standard_charge_algorithm", "methodology", "count")
                    p[key] = c[col] if text_field else _number(c[col])
            payers.append(p)
        if payers:
            standard["payers_information"] = payers
        out["standard_charges"] = [standard]
        items.append(out)
    root["standard_charge_information"] = items
    path.write_text(json.dumps(root, indent=1), encoding="utf-8")
    return path


def write(layout: str, path: Path, charges: list[dict[str, str]], version: str = "3.0.0") -> Path:
    """The charges as a file of `layout` (suffix chosen to match)."""
    if layout == "csv_tall":
        return write_tall(path.with_suffix(".csv"), charges, version)
    if layout == "csv_wide":
        return write_wide(path.with_suffix(".csv"), charges, version)
    return write_json(path.with_suffix(".json"), charges, version)


def check(path: Path, version: str | None = None) -> Validation:
    """Validate a fixture; fail loudly if it could not be read at all."""
    result = validate_path(path, version=version)
    assert result.unreadable is None, result.unreadable
    return result


def rules(result: Validation) -> dict[str, int]:
    return result.log.by_rule()
