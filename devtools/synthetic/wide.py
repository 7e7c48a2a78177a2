"""CMS CSV "wide" files from synthetic hospitals: one row per item × setting, payers as columns."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable
from pathlib import Path

from devtools.synthetic.model import FileSpec, Hospital, Item, LayoutWriter, PayerRate
from devtools.synthetic.tall import CODE_SLOTS, drain, general_rows, money

#: Pathologies the wide writer can add (all seen in real files).
WIDE_PATHOLOGIES = frozenset(
    {"bom", "crlf", "pipe_spaces", "upper_header", "underscore_names", "pipe_in_payer",
     "dollar_signs", "nine_nines"}
)  # fmt: skip
ITEM_HEAD_V3 = [
    "description", *[f"code|{i}{part}" for i in range(1, CODE_SLOTS + 1) for part in ("", "|type")],
    "modifiers", "setting", "drug_unit_of_measurement", "drug_type_of_measurement",
    "standard_charge|gross", "standard_charge|discounted_cash",
]  # fmt: skip
ITEM_TAIL = ["standard_charge|min", "standard_charge|max", "additional_generic_notes"]
#: Per payer/plan group `P|p`: (header template, field of PayerRate or "" for notes).
GROUP_V3 = [
    ("standard_charge|{g}|negotiated_dollar", "dollar"),
    ("standard_charge|{g}|negotiated_percentage", "percentage"),
    ("standard_charge|{g}|negotiated_algorithm", "algorithm"),
    ("median_amount|{g}", "median"),
    ("10th_percentile|{g}", "p10"),
    ("90th_percentile|{g}", "p90"),
    ("count|{g}", "count"),
    ("standard_charge|{g}|methodology", "methodology"),
    ("additional_payer_notes|{g}", "notes"),
]
GROUP_V2 = [
    ("standard_charge|{g}|negotiated_dollar", "dollar"),
    ("standard_charge|{g}|negotiated_percentage", "percentage"),
    ("standard_charge|{g}|negotiated_algorithm", "algorithm"),
    ("estimated_amount|{g}", "estimated"),
    ("standard_charge|{g}|methodology", "methodology"),
    ("additional_payer_notes|{g}", "notes"),
]
_MONEY = {"dollar", "median", "p10", "p90", "estimated"}


def group_name(payer: str, plan: str, pathologies: frozenset[str]) -> str:
    """How a payer/plan group is named in the headers (`P|p`, with the asked-for noise)."""
    if "pipe_in_payer" in pathologies and payer.startswith("Blue Cross"):
        payer = payer.replace("Blue Cross Blue Shield", "Blue Cross | Blue Shield")
    name = f"{payer}|{plan}"
    return name.replace(" ", "_") if "underscore_names" in pathologies else name


def wide_header(
    hospital: Hospital, version: str, pathologies: frozenset[str]
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Row 3 and, per group column, (payer, plan, PayerRate field)."""
    fields = GROUP_V3 if version.startswith("3") else GROUP_V2
    header = list(ITEM_HEAD_V3)
    slots: list[tuple[str, str, str]] = []
    for payer, plan in hospital.payer_plans:
        group = group_name(payer, plan, pathologies)
        for template, attr in fields:
            header.append(template.format(g=group))
            slots.append((payer, plan, attr))
    header += ITEM_TAIL
    if "pipe_spaces" in pathologies:
        header = [h.replace("|", " | ") for h in header]
    if "upper_header" in pathologies:
        header = [h.upper() for h in header]
    return header, slots


def _value(rate: PayerRate | None, attr: str, patho: frozenset[str], rng: random.Random) -> str:
    if rate is None:
        return ""
    value = getattr(rate, attr)
    if attr in _MONEY:
        if attr == "median" and "nine_nines" in patho and value is not None and rng.random() < 0.2:
            value = 999999999.0
        return money(value, patho if attr == "dollar" else frozenset(), rng)
    if attr == "percentage":
        return "" if value is None else f"{value:g}"
    return value or ""


def _rows(
    item: Item, slots: list[tuple[str, str, str]], patho: frozenset[str], rng: random.Random
) -> Iterable[list[str]]:
    codes: list[str] = []
    for slot in range(CODE_SLOTS):
        ctype, code = item.codes[slot] if slot < len(item.codes) else ("", "")
        codes += [code, ctype]
    for charge in item.charges:
        rates = {(r.payer_name, r.plan_name): r for r in charge.payers}
        head = [
            item.description, *codes, charge.modifiers or "", charge.setting,
            "" if item.drug_unit is None else f"{item.drug_unit:g}", item.drug_type or "",
            money(charge.gross, patho, rng), money(charge.cash, patho, rng),
        ]  # fmt: skip
        groups = [_value(rates.get((payer, plan)), attr, patho, rng) for payer, plan, attr in slots]
        tail = [money(charge.minimum, patho, rng), money(charge.maximum, patho, rng)]
        yield head + groups + [*tail, charge.notes or ""]


def _write_wide(path: Path, hospital: Hospital, item_iter: Iterable[Item], spec: FileSpec) -> int:
    """Write a wide CSV file; stop after `max_bytes` if given. Returns the data rows written."""
    version, patho, rng = spec.version, spec.pathologies, spec.rng
    header, slots = wide_header(hospital, version, patho)
    names, values = general_rows(hospital, version)
    pad = [""] * (len(header) - len(names))
    newline = "\r\n" if "crlf" in patho else "\n"
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        if "bom" in patho:
            out.write("\ufeff")
        writer = csv.writer(out, lineterminator=newline)
        writer.writerows([names + pad, values + pad, header])
        buffer = io.StringIO()
        buffered = csv.writer(buffer, lineterminator=newline)
        for item in item_iter:
            for row in _rows(item, slots, patho, rng):
                buffered.writerow(row)
                rows += 1
            if buffer.tell() > 1 << 20:
                out.write(drain(buffer))
                if spec.full(out):
                    break
        out.write(buffer.getvalue())
    return rows


#: `write_wide(path, hospital, items, version=, pathologies=, max_bytes=, seed=)`.
write_wide = LayoutWriter(_write_wide, WIDE_PATHOLOGIES)
#: A wide file for one synthetic hospital (`LayoutWriter.sample`; `plans=` for wider files).
wide_file = write_wide.sample
