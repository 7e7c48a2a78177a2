"""Reader for CMS JSON files (v2.0 through v3.0): one row per item × setting × payer/plan.

The root metadata is read from the head and tail of the file (`json_locate`); the items of
`standard_charge_information[]` are streamed batch by batch, parsed by DuckDB into the item
type below (`json_items`), and flattened by Polars:
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from core import settings
from core.errors import UnreadableFile
from core.files import FileMeta, Layout
from core.findings import FindingLog, Severity
from core.schema import CODES, RAW_SCHEMA, conform_raw
from ingest.base import ParsedFile
from ingest.encoding import PreparedFile
from ingest.json_items import ItemTypeError, parsed_items
from ingest.json_locate import JsonLayout, locate
from ingest.prefetch import prefetched
from ingest.values import parse_bool, parse_date

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

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
_JSON_NAMES = {"p10": "10th_percentile", "p90": "90th_percentile"}
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


_S = pl.String()
#: The item type: every leaf as text (a number as DuckDB prints it: `80.25`, `1000.0` for
#: `1e3`); a list of text (`modifier_code`) may also be one scalar (`"modifier_code": "26"`).
ITEM_DTYPE = pl.Struct(
    {
        "description": _S,
        "drug_information": pl.Struct({"unit": _S, "type": _S}),
        "code_information": pl.List(pl.Struct({"code": _S, "type": _S})),
        "standard_charges": pl.List(
            pl.Struct(
                {
                    **{name: _S for name in _CHARGE_FIELDS if name != "modifiers"},
                    "modifier_code": pl.List(_S),
                    "modifiers": pl.List(_S),
                    "payers_information": pl.List(
                        pl.Struct({_JSON_NAMES.get(n, n): _S for n in _PAYER_FIELDS})
                    ),
                }
            )
        ),
    }
)


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
            Severity.ERROR,
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


def _modifiers(value: Any) -> str | None:
    if isinstance(value, list):
        return "|".join(str(v) for v in value if v is not None) or None
    return _text(value)


def _duckdb_type(dtype: PolarsDataType) -> str:
    """`dtype` as DuckDB's `read_json` takes it; a list of text is read as JSON, so that a
    lone scalar where CMS has a list is accepted (`_text_list` makes it a list)."""
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(f'"{f.name}" {_duckdb_type(f.dtype)}' for f in dtype.fields)
        return f"STRUCT({fields})"
    if isinstance(dtype, pl.List):
        return "JSON" if dtype.inner == pl.String else f"{_duckdb_type(dtype.inner)}[]"
    return "VARCHAR"


#: `ITEM_DTYPE` as the `columns` argument of DuckDB's `read_json`.
ITEM_COLUMNS = (
    "{" + ", ".join(f"'{f.name}': '{_duckdb_type(f.dtype)}'" for f in ITEM_DTYPE.fields) + "}"
)


def _text_list(name: str) -> pl.Expr:
    """A charge field read as JSON text (`["26", "TC"]`, `"26"`) as a list of text."""
    value = pl.field(name)
    bracketed = pl.concat_str(pl.lit("["), value, pl.lit("]"))
    listed = pl.when(value.str.starts_with("[")).then(value).otherwise(bracketed)
    return listed.str.json_decode(pl.List(pl.String)).alias(name)


def items(batch: pa.RecordBatch) -> pl.DataFrame:
    """A batch of items as DuckDB parsed them, numbered from 0 (`row_no`), with the list
    fields read as JSON made lists."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    lists = pl.element().struct.with_fields(_text_list("modifier_code"), _text_list("modifiers"))
    return frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row_no"),
        pl.exclude("standard_charges"),
        pl.col("standard_charges").list.eval(lists),
    )


def rows(items: pl.DataFrame) -> pl.DataFrame:
    """The raw batch of parsed items (`items`): exploded to one row per payer entry (a
    charge set without payers, or an item without charge sets, explodes to one payer-less
    row)."""
    element = pl.element().struct
    per_item = items.select(
        pl.col("row_no").cast(pl.Int64),
        "description",
        pl.col("drug_information").struct.field("unit").alias("drug_unit"),
        pl.col("drug_information").struct.field("type").alias("drug_unit_type"),
        pl.col("code_information")
        .list.eval(pl.struct(type=element.field("type"), code=element.field("code")))
        .fill_null(pl.lit([], dtype=CODES))
        .alias("codes"),
        "standard_charges",
    )
    flat = (
        per_item.explode("standard_charges", empty_as_null=True, keep_nulls=True)
        .unnest("standard_charges")
        .explode("payers_information", empty_as_null=True, keep_nulls=True)
        .unnest("payers_information")
    )
    renames = {raw: name for name, raw in _CHARGE_FIELDS.items() if name != "modifiers"}
    renames |= {raw: _JSON_NAMES.get(name, name) for name, raw in _PAYER_FIELDS.items()}
    modifiers = pl.coalesce(
        pl.col("modifier_code").list.join("|"), pl.col("modifiers").list.join("|")
    )
    return conform_raw(
        flat.select(
            "row_no",
            "description",
            "drug_unit",
            "drug_unit_type",
            "codes",
            modifiers.alias("modifiers"),
            *[pl.col(source).alias(raw) for raw, source in renames.items()],
        )
    )


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


def _batches(path: Path, layout: JsonLayout, parsed: ParsedFile) -> Iterator[pl.DataFrame]:
    """Raw batches of the item array, then the modifier rows; counts items in `parsed`."""
    work = settings.current().work_dir
    pending: list[pl.DataFrame] = []
    size = 0
    done = 0

    def flattened(batch: pa.RecordBatch) -> pl.DataFrame:  # in the parsers' threads
        try:
            return rows(items(batch))
        except pl.exceptions.PolarsError as error:  # `"modifier_code": [{…}]`
            raise ItemTypeError(str(error)) from error

    found = parsed_items(path, layout.start, layout.end, work, ITEM_COLUMNS, flattened)
    for flat, count in found:
        pending.append(flat.with_columns(pl.col("row_no") + done))
        done += count
        size += flat.height
        if size >= MIN_BATCH_ROWS:
            yield pl.concat(pending)
            pending, size = [], 0
    if pending:
        yield pl.concat(pending)
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
        layout=Layout.JSON,
        meta=meta,
        header=layout.keys,
        batches=iter(()),
        log=log,
        encoding=prepared.encoding,
        json_layout=layout,
    )
    parsed.batches = prefetched(_batches(prepared.path, layout, parsed))
    return parsed
