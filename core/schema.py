"""The canonical standard-charge model: column names and types shared by every layer.

One row is one *standard charge*: item × code set × setting × payer/plan. Readers in
`ingest/` emit *raw* batches (every value still text, named as below); `transform.normalise`
casts them into *canonical* batches with the types below. The warehouse stores canonical
batches unchanged, plus `file_id` and `facility_id`.
"""

from __future__ import annotations

import polars as pl

CODE_STRUCT = pl.Struct({"type": pl.String, "code": pl.String})
CODES = pl.List(CODE_STRUCT)

#: Item-level text columns (one value per item × setting).
ITEM_TEXT = ["description", "setting", "billing_class", "modifiers", "drug_unit_type"]
#: Item-level money columns.
ITEM_MONEY = ["gross_charge", "discounted_cash", "deidentified_min", "deidentified_max"]
#: Payer-level text columns.
PAYER_TEXT = ["payer_name", "plan_name", "methodology", "negotiated_algorithm", "allowed_count"]
#: Payer-level money columns; `negotiated_percentage` is a percent (70.5 means 70.5 %).
PAYER_MONEY = [
    "negotiated_dollar",
    "negotiated_percentage",
    "median_allowed",
    "p10_allowed",
    "p90_allowed",
    "estimated_amount",
]
NOTES = ["notes", "payer_notes"]

#: Every raw column a reader emits: all text, except `row_no` (Int64) and `codes`.
RAW_TEXT_COLUMNS = [*ITEM_TEXT, "drug_unit", *ITEM_MONEY, *PAYER_TEXT, *PAYER_MONEY, *NOTES]

#: The raw batch schema readers must produce (column order is free, names are not).
RAW_SCHEMA = pl.Schema(
    {
        "row_no": pl.Int64(),
        **{name: pl.String() for name in RAW_TEXT_COLUMNS},
        "codes": CODES,
    }
)

#: The canonical (normalised) batch schema, in storage order.
CANONICAL_SCHEMA = pl.Schema(
    {
        "row_no": pl.Int64(),
        "description": pl.String(),
        "setting": pl.String(),
        "billing_class": pl.String(),
        "modifiers": pl.String(),
        "drug_unit": pl.Float64(),
        "drug_unit_type": pl.String(),
        "gross_charge": pl.Float64(),
        "discounted_cash": pl.Float64(),
        "deidentified_min": pl.Float64(),
        "deidentified_max": pl.Float64(),
        "payer_name": pl.String(),
        "plan_name": pl.String(),
        "methodology": pl.String(),
        "negotiated_dollar": pl.Float64(),
        "negotiated_percentage": pl.Float64(),
        "negotiated_algorithm": pl.String(),
        "median_allowed": pl.Float64(),
        "p10_allowed": pl.Float64(),
        "p90_allowed": pl.Float64(),
        "allowed_count": pl.String(),
        "estimated_amount": pl.Float64(),
        "notes": pl.String(),
        "payer_notes": pl.String(),
        "codes": CODES,
    }
)

#: The stored schema: canonical columns plus the keys the warehouse adds.
STORED_SCHEMA = pl.Schema({"file_id": pl.String(), "facility_id": pl.String(), **CANONICAL_SCHEMA})
#: Rows per row group of the stored charges, written in the file's row order: a read of one
#: code's rates (their rows from the file's `code_rows` index) opens only the row groups
#: holding them. Smaller groups cost write time (Polars: ~0.4 s per million rates more at
#: 16,384 than at its default); a whole file in one group makes that read decode every rate.
CHARGE_ROW_GROUP = 16_384

# CMS vocabularies (spec: "Allowed values").
SETTINGS = frozenset({"inpatient", "outpatient", "both"})
BILLING_CLASSES = frozenset({"professional", "facility", "both"})
METHODOLOGIES = frozenset(
    {"case rate", "fee schedule", "percent of total billed charges", "per diem", "other"}
)
DRUG_UNIT_TYPES = frozenset({"GR", "ME", "ML", "UN", "F2", "EA", "GM"})
CODE_TYPES_V2 = frozenset(
    {
        "CPT",
        "NDC",
        "HCPCS",
        "RC",
        "ICD",
        "DRG",
        "MS-DRG",
        "R-DRG",
        "S-DRG",
        "APS-DRG",
        "AP-DRG",
        "APR-DRG",
        "APC",
        "LOCAL",
        "EAPG",
        "HIPPS",
        "CDT",
        "CDM",
        "TRIS-DRG",
    }
)
CODE_TYPES_V3 = CODE_TYPES_V2 | {"CMG", "MS-LTC-DRG"}


def conform_raw(raw: pl.DataFrame) -> pl.DataFrame:
    """Give a raw batch every raw column (missing ones as null), in a fixed order."""
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in RAW_SCHEMA.items()
        if name not in raw.columns
    ]
    return raw.with_columns(missing).select(list(RAW_SCHEMA))
