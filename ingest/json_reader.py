"""Reader for CMS JSON files (v2.0 through v3.0): one row per item × setting × payer/plan.

The root metadata is read from the head and tail of the file (`json_locate`); the items of
`standard_charge_information[]` are streamed batch by batch (`json_items`) and flattened:
one standard-charge row per `payers_information` entry, one payer-less row for a
`standard_charges` entry without payers. `row_no` is the item's 0-based index in the array
(`standard_charge_information[row_no]`). Each `modifier_information[]` entry becomes one
payer row per `modifier_payer_information` entry (description, `modifiers` = the modifier
code, setting — `both` when a v2 entry has none —, payer, plan, the payer's description as
`payer_notes`), numbered after the last item: the rows the CSV layouts carry for modifiers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from msgspec.structs import astuple

from hpt import settings
from hpt.findings import FindingLog
from ingest.base import FileMeta, ParsedFile
from ingest.encoding import PreparedFile
from ingest.errors import UnreadableFile
from ingest.json_items import Charge, Item, Payer, item_batches
from ingest.json_locate import JsonLayout, locate
from transform.normalise import conform_raw, parse_bool, parse_date
from transform.schema import CODES, RAW_SCHEMA

#: Flatten this many payer rows (at least) into one raw batch.
MIN_BATCH_ROWS = 100_000

_CHARGE_FIELDS = {
    "setting": "setting",
    "billing_class": "billing_class",
    "modifiers": "modifiers",
    "gross_charge": "gross_charge",
    "discounted_cash": "discounted_cash",
    "minimum": "deidentified_min",
    "maximum": "deidentified_max",
    "additional_generic_notes": "notes",
}
_PAYER_FIELDS = {
    "payer_name": "payer_name",
    "plan_name": "plan_name",
    "methodology": "methodology",
    "standard_charge_dollar": "negotiated_dollar",
    "standard_charge_percentage": "negotiated_percentage",
    "standard_charge_algorithm": "negotiated_algorithm",
    "median_amount": "median_allowed",
    "p10": "p10_allowed",
    "p90": "p90_allowed",
    "count": "allowed_count",
    "estimated_amount": "estimated_amount",
    "additional_payer_notes": "payer_notes",
}


#: Raw columns of a payer entry, in the order of `Payer`'s fields (as `astuple` gives them).
_PAYER_COLUMNS = [_PAYER_FIELDS[field.name] for field in msgspec.structs.fields(Payer)]
_NO_PAYER: tuple[Any, ...] = (None,) * len(_PAYER_COLUMNS)
_NUMERIC = {
    "drug_unit", "gross_charge", "discounted_cash", "deidentified_min", "deidentified_max",
    "negotiated_dollar", "negotiated_percentage", "median_allowed", "p10_allowed",
    "p90_allowed", "estimated_amount",
}  # fmt: skip


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _texts(values: Any) -> list[str]:
    """A JSON string-or-list value as a list of strings (locations, NPIs, addresses)."""
    if values is None:
        return []
    items = values if isinstance(values, list) else [values]
    return [text.strip() for v in items if (text := _text(v)) and text.strip()]


def file_meta(layout: JsonLayout, log: FindingLog) -> FileMeta:
    """The hospital metadata of the JSON root, v2 (`affirmation`) or v3 (`attestation`)."""
    root = {key.lower(): value for key, value in layout.root.items()}
    meta = FileMeta(elements=[key.lower() for key in layout.keys])
    meta.hospital_name = _text(root.get("hospital_name"))
    meta.last_updated_raw = _text(root.get("last_updated_on"))
    meta.last_updated_on = parse_date(meta.last_updated_raw)
    if meta.last_updated_raw and meta.last_updated_on is None:
        log.add(
            "header.bad_date",
            "error",
            "last_updated_on is not a date",
            column="last_updated_on",
            value=meta.last_updated_raw,
        )
    meta.version = _text(root.get("version"))
    meta.locations = _texts(root.get("location_name", root.get("hospital_location")))
    meta.addresses = _texts(root.get("hospital_address"))
    license_info = root.get("license_information")
    if isinstance(license_info, dict):
        meta.license_number = _text(license_info.get("license_number")) or None
        state = _text(license_info.get("state"))
        meta.license_state = state.strip().upper() if state and state.strip() else None
    meta.npis = _texts(root.get("type_2_npi"))
    statement = root.get("attestation", root.get("affirmation"))
    if isinstance(statement, dict):
        confirmed = statement.get("confirm_attestation", statement.get("confirm_affirmation"))
        meta.attestation = parse_bool(_text(confirmed))
        meta.attester_name = _text(statement.get("attester_name"))
    meta.financial_aid_policy = _text(root.get("financial_aid_policy"))
    meta.general_contract_provisions = _text(root.get("general_contract_provisions"))
    return meta


def _column(values: list[Any], numeric: bool = False) -> pl.Series:
    """Values as a text column; numbers become their decimal text."""
    if numeric:
        try:
            return pl.Series(values, dtype=pl.Float64).cast(pl.String)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    try:
        return pl.Series(values, dtype=pl.String)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series([_text(v) for v in values], dtype=pl.String)


def _modifiers(value: Any) -> str | None:
    if isinstance(value, list):
        return "|".join(str(v) for v in value if v is not None) or None
    return _text(value)


def rows(items: list[Item], first: int) -> pl.DataFrame:
    """The raw batch of a list of items (`first` = index of the first item).

    Payer entries are taken as whole tuples (`astuple`, one C call each) and transposed
    with `zip`: a Python-level loop per payer field would dominate the reader's time.
    """
    item_cols: dict[str, list[Any]] = {"description": [], "drug_unit": [], "drug_unit_type": []}
    codes: list[list[dict[str, str | None]]] = []
    charge_item: list[int] = []
    charge_cols: dict[str, list[Any]] = {raw: [] for raw in _CHARGE_FIELDS.values()}
    payer_charge: list[int] = []
    payer_rows: list[tuple[Any, ...]] = []
    for number, item in enumerate(items):
        item_cols["description"].append(item.description)
        drug = item.drug_information
        item_cols["drug_unit"].append(drug.unit if drug else None)
        item_cols["drug_unit_type"].append(drug.type if drug else None)
        codes.append(
            [
                {"type": _text(code.type), "code": _text(code.code)}
                for code in item.code_information or ()
            ]
        )
        # An item without standard charges still gets one row, so that it is checked.
        sets: list[Charge | None] = [*item.standard_charges] if item.standard_charges else [None]
        for charge in sets:
            index = len(charge_item)
            charge_item.append(number)
            for field, raw in _CHARGE_FIELDS.items():
                if charge is None:
                    value = None
                elif field == "modifiers":
                    value = _modifiers(charge.modifier_code or charge.modifiers)
                else:
                    value = getattr(charge, field)
                charge_cols[raw].append(value)
            payers = charge.payers_information if charge is not None else None
            if payers:
                payer_rows.extend(map(astuple, payers))
                payer_charge.extend(repeat(index, len(payers)))
            else:
                payer_rows.append(_NO_PAYER)
                payer_charge.append(index)
    item_frame = pl.DataFrame(
        [_column(v, name in _NUMERIC).alias(name) for name, v in item_cols.items()]
        + [pl.Series("codes", codes, dtype=CODES)]
    )
    charge_frame = pl.DataFrame(
        [_column(v, name in _NUMERIC).alias(name) for name, v in charge_cols.items()]
        + [pl.Series("item", charge_item, dtype=pl.Int64)]
    )
    by_charge = pl.Series(payer_charge, dtype=pl.Int64)
    charges = charge_frame.select(pl.all().gather(by_charge))
    item_index = charges["item"]
    payer_frame = pl.DataFrame(
        [
            _column(list(values), name in _NUMERIC).alias(name)
            for name, values in zip(_PAYER_COLUMNS, zip(*payer_rows, strict=True), strict=True)
        ]
    )
    batch = pl.concat(
        [
            payer_frame,
            charges.drop("item"),
            item_frame.select(pl.all().gather(item_index)),
            pl.DataFrame({"row_no": item_index + first}),
        ],
        how="horizontal",
    )
    return conform_raw(batch)


def modifier_rows(entries: Any, first: int) -> pl.DataFrame:
    """Raw rows for `modifier_information[]`: one per modifier × payer/plan."""
    records: list[dict[str, Any]] = []
    for offset, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        base = {
            "row_no": first + offset,
            "description": _text(entry.get("description")),
            "modifiers": _modifiers(entry.get("code")),
            # v2 modifier entries have no setting: they apply in every setting (the v2 CSV
            # examples say `both` on these rows).
            "setting": _text(entry.get("setting")) if "setting" in entry else "both",
        }
        payers = entry.get("modifier_payer_information") or [{}]
        for payer in payers if isinstance(payers, list) else [{}]:
            payer = payer if isinstance(payer, dict) else {}
            records.append(
                base
                | {
                    "payer_name": _text(payer.get("payer_name")),
                    "plan_name": _text(payer.get("plan_name")),
                    "payer_notes": _text(payer.get("description")),
                }
            )
    schema = {name: RAW_SCHEMA[name] for name in ("row_no", "description", "modifiers")}
    schema |= {name: pl.String() for name in ("setting", "payer_name", "plan_name", "payer_notes")}
    # A modifier has no item codes: an empty list, as the CSV layouts give for such rows.
    frame = pl.DataFrame(records, schema=schema).with_columns(
        pl.lit([], dtype=CODES).alias("codes")
    )
    return conform_raw(frame)


def _row_estimate(item: Item) -> int:
    charges = item.standard_charges or ()
    return max(1, sum(len(charge.payers_information or ()) or 1 for charge in charges))


def _batches(path: Path, layout: JsonLayout, parsed: ParsedFile) -> Iterator[pl.DataFrame]:
    """Raw batches of the item array, then the modifier rows; counts items in `parsed`."""
    work = Path(settings.get("HPT_WORK_DIR"))
    pending: list[Item] = []
    pending_rows = 0
    done = 0
    for decoded in item_batches(path, layout.start, layout.end, work):
        pending.extend(decoded)
        pending_rows += sum(_row_estimate(item) for item in decoded)
        if pending_rows >= MIN_BATCH_ROWS:
            yield rows(pending, done)
            done += len(pending)
            pending, pending_rows = [], 0
    if pending:
        yield rows(pending, done)
        done += len(pending)
    parsed.item_count = done
    modifiers = layout.root.get("modifier_information")
    if modifiers:
        extra = modifier_rows(modifiers, done)
        if extra.height:
            yield extra


def read(prepared: PreparedFile, log: FindingLog) -> ParsedFile:
    """Open a JSON file: root metadata now, raw batches streamed later."""
    layout = locate(prepared.path)
    meta = file_meta(layout, log)
    if not isinstance(layout.root.get("modifier_information", []), list):
        raise UnreadableFile("not a CMS JSON file: `modifier_information` is not an array")
    parsed = ParsedFile(
        layout="json",
        meta=meta,
        header=layout.keys,
        batches=iter(()),
        log=log,
        encoding=prepared.encoding,
    )
    parsed.batches = _batches(prepared.path, layout, parsed)
    return parsed
