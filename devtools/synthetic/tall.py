"""CMS CSV files from synthetic hospitals: rows 1–2 for every CSV layout, and the tall writer."""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections.abc import Iterable
from pathlib import Path

from devtools.synthetic.model import FileSpec, Hospital, Item, LayoutWriter

ATTESTATION_V3 = (
    "To the best of its knowledge and belief, this hospital has included all applicable "
    "standard charge information in accordance with the requirements of 45 CFR 180.50, and "
    "the information encoded is true, accurate, and complete as of the date in the file. "
    "This hospital has included all payer-specific negotiated charges in dollars that can be "
    "expressed as a dollar amount. For payer-specific negotiated charges that cannot be "
    "expressed as a dollar amount in the machine-readable file or not knowable in advance, "
    "the hospital attests that the payer-specific negotiated charge is based on a contractual "
    "algorithm, percentage or formula that precludes the provision of a dollar amount and has "
    "provided all necessary information available to the hospital for the public to be able "
    "to derive the dollar amount, including, but not limited to, the specific fee schedule or "
    "components referenced in such percentage, algorithm or formula."
)
AFFIRMATION_V2 = (
    "To the best of its knowledge and belief, the hospital has included all applicable "
    "standard charge information in accordance with the requirements of 45 CFR 180.50, and "
    "the information encoded is true, accurate, and complete as of the date indicated."
)
#: Pathologies a writer can add on demand (all seen in real files). `multiline_notes` and
#: `broken_quotes` add an `additional_payer_notes` column (last): notes with quoted line
#: breaks, and a few with a quote inside that is not doubled and a line break, which
#: Python's csv module reads as a row with an extra cell followed by a one-cell row (so such
#: a file has more records than the writer counts rows). `extra_cells`: a few rows with
#: cells past row 3's headers. `lone_cr`: every line ends with a lone `\r` (old Mac files).
PATHOLOGIES = frozenset(
    {
        "bom", "cp1252", "crlf", "pipe_spaces", "upper_enums", "dollar_signs", "nine_nines",
        "trailing_columns", "shuffled_columns", "quoted_newlines", "padded_values",
        "multiline_notes", "broken_quotes", "extra_cells", "lone_cr",
    }
)  # fmt: skip
#: Stands for a quote that `encode` writes as is (csv.writer would double it).
RAW_QUOTE = "\x01"
CODE_SLOTS = 3

TALL_V3 = [
    "description", *[f"code|{i}{part}" for i in range(1, CODE_SLOTS + 1) for part in ("", "|type")],
    "modifiers", "setting", "drug_unit_of_measurement", "drug_type_of_measurement",
    "standard_charge|gross", "standard_charge|discounted_cash", "payer_name", "plan_name",
    "standard_charge|negotiated_dollar", "standard_charge|negotiated_percentage",
    "standard_charge|negotiated_algorithm", "median_amount", "10th_percentile",
    "90th_percentile", "count", "standard_charge|min", "standard_charge|max",
    "standard_charge|methodology", "additional_generic_notes",
]  # fmt: skip
TALL_V2 = [
    "description", *[f"code|{i}{part}" for i in range(1, CODE_SLOTS + 1) for part in ("", "|type")],
    "setting", "drug_unit_of_measurement", "drug_type_of_measurement", "standard_charge|gross",
    "standard_charge|discounted_cash", "payer_name", "plan_name", "modifiers",
    "standard_charge|negotiated_dollar", "standard_charge|negotiated_percentage",
    "standard_charge|negotiated_algorithm", "estimated_amount", "standard_charge|min",
    "standard_charge|max", "standard_charge|methodology", "additional_generic_notes",
]  # fmt: skip


def general_rows(
    hospital: Hospital, version: str, pathologies: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """Rows 1 and 2 of a CMS CSV file (names and values of the general data elements)."""
    license_header = (
        f"license_number | {hospital.state}"
        if "pipe_spaces" in pathologies
        else f"license_number|{hospital.state}"
    )
    date = hospital.last_updated_on.isoformat()
    if "padded_values" in pathologies:
        day = hospital.last_updated_on
        date = f"{day.month}/{day.day}/{day.year}"
    attest = "TRUE" if "upper_enums" in pathologies else "true"
    if version.startswith("3"):
        names = [
            "hospital_name",
            "last_updated_on",
            "version",
            "location_name",
            "hospital_address",
            license_header,
            "type_2_npi",
            ATTESTATION_V3,
            "attester_name",
        ]
        values = [
            hospital.name,
            date,
            version,
            "|".join(hospital.locations),
            hospital.address,
            hospital.license_number,
            "|".join(hospital.npis),
            attest,
            "Pat Attester",
        ]
    else:
        names = [
            "hospital_name",
            "last_updated_on",
            "version",
            "hospital_location",
            "hospital_address",
            license_header,
            AFFIRMATION_V2,
        ]
        values = [
            hospital.name,
            date,
            version,
            "|".join(hospital.locations),
            hospital.address,
            hospital.license_number,
            attest,
        ]
    return names, values  # fmt: skip


def money(value: float | None, pathologies: frozenset[str], rng: random.Random) -> str:
    """A price as written in a file: plain, or `$1,200.00` / nine-9s when asked for."""
    if value is None:
        return ""
    if "dollar_signs" in pathologies and rng.random() < 0.05:
        return f"${value:,.2f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _tall_rows(
    item: Item, version: str, pathologies: frozenset[str], rng: random.Random
) -> Iterable[dict[str, str]]:
    codes: dict[str, str] = {}
    for slot, (ctype, code) in enumerate(item.codes[:CODE_SLOTS], start=1):
        codes[f"code|{slot}"] = code
        codes[f"code|{slot}|type"] = (
            ctype.lower() if "upper_enums" in pathologies and slot == 2 else ctype
        )
    description = item.description
    if "quoted_newlines" in pathologies and rng.random() < 0.01:
        description = description + "\nsecond line"
    if "cp1252" in pathologies and rng.random() < 0.01:
        description = description + " \u2019s"
    for charge in item.charges:
        setting = charge.setting.capitalize() if "upper_enums" in pathologies else charge.setting
        base = {
            "description": f"  {description} " if "padded_values" in pathologies else description,
            **codes, "setting": setting,
            "drug_unit_of_measurement": "" if item.drug_unit is None else f"{item.drug_unit:g}",
            "drug_type_of_measurement": item.drug_type or "",
            "standard_charge|gross": money(charge.gross, pathologies, rng),
            "standard_charge|discounted_cash": money(charge.cash, pathologies, rng),
            "standard_charge|min": money(charge.minimum, pathologies, rng),
            "standard_charge|max": money(charge.maximum, pathologies, rng),
            "modifiers": charge.modifiers or "", "additional_generic_notes": charge.notes or "",
        }  # fmt: skip
        for rate in charge.payers:
            median = rate.median
            if "nine_nines" in pathologies and median is not None and rng.random() < 0.2:
                median = 999999999.0
            row = dict(base)
            row.update({
                "payer_name": rate.payer_name, "plan_name": rate.plan_name,
                "standard_charge|negotiated_dollar": money(rate.dollar, pathologies, rng),
                "standard_charge|negotiated_percentage": (
                    "" if rate.percentage is None else f"{rate.percentage:g}"),
                "standard_charge|negotiated_algorithm": rate.algorithm or "",
                "median_amount": money(median, frozenset(), rng),
                "10th_percentile": money(rate.p10, frozenset(), rng),
                "90th_percentile": money(rate.p90, frozenset(), rng),
                "count": rate.count or "",
                "estimated_amount": money(rate.estimated, frozenset(), rng),
                "standard_charge|methodology": rate.methodology,
                "additional_payer_notes": _payer_notes(rate.notes, pathologies, rng),
            })  # fmt: skip
            yield row


def _payer_notes(notes: str | None, pathologies: frozenset[str], rng: random.Random) -> str:
    """A payer's notes, with a line break (`multiline_notes`) or broken quoting
    (`broken_quotes`) now and then (drawing nothing from `rng` otherwise)."""
    if not pathologies & {"multiline_notes", "broken_quotes"}:
        return notes or ""
    draw = rng.random()
    if "broken_quotes" in pathologies and draw < 0.0002:
        return f"Rate per {RAW_QUOTE}contract terms, see\nschedule {rng.randint(1, 9)}"
    if "multiline_notes" in pathologies and draw < 0.03:
        return f"Paid per fee schedule.\nSee exhibit {rng.randint(1, 9)}, section 2."
    return notes or ""


def drain(buffer: io.StringIO) -> str:
    """The text in `buffer`, which is left empty."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def encode(buffer: io.StringIO, pathologies: frozenset[str]) -> bytes:
    """Drain a text buffer as UTF-8; with `cp1252`, `’` goes out as the stray byte 0x92."""
    data = drain(buffer).encode("utf-8")
    if "cp1252" in pathologies:
        data = data.replace("\u2019".encode(), b"\x92")
    if "broken_quotes" in pathologies:
        data = data.replace(RAW_QUOTE.encode(), b'"')
    return data


def _write_tall(path: Path, hospital: Hospital, item_iter: Iterable[Item], spec: FileSpec) -> int:
    """Write a tall CSV file; stop after `max_bytes` if given. Returns the data rows written."""
    version, patho, rng = spec.version, spec.pathologies, spec.rng
    columns = list(TALL_V3 if version.startswith("3") else TALL_V2)
    if "shuffled_columns" in patho:
        rng.shuffle(columns)
    if patho & {"multiline_notes", "broken_quotes"}:
        columns.append("additional_payer_notes")
    header = [c.replace("|", " | ") if "pipe_spaces" in patho else c for c in columns]
    if "upper_enums" in patho:
        header = [h.upper() if h == "setting" else h for h in header]
    trailing = ["", ""] if "trailing_columns" in patho else []
    names, values = general_rows(hospital, version, patho)
    newline = "\r\n" if "crlf" in patho else "\r" if "lone_cr" in patho else "\n"
    rows = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(names + trailing)
    writer.writerow(values + trailing)
    writer.writerow(header + trailing)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        if "bom" in patho:
            out.write(codecs.BOM_UTF8)
        for item in item_iter:
            for row in _tall_rows(item, version, patho, rng):
                extra = (
                    ["extra", "cells"] if "extra_cells" in patho and rng.random() < 0.0002 else []
                )
                writer.writerow([row.get(c, "") for c in columns] + trailing + extra)
                rows += 1
            if buffer.tell() > 1 << 20:
                out.write(encode(buffer, patho))
                if spec.full(out):
                    break
        out.write(encode(buffer, patho))
    return rows


#: `write_tall(path, hospital, items, version=, pathologies=, max_bytes=, seed=)`.
write_tall = LayoutWriter(_write_tall, PATHOLOGIES)
#: A tall file for one synthetic hospital (`LayoutWriter.sample`).
tall_file = write_tall.sample
