"""Reads of single rates and where each came from: the rates behind one code's prices at a
few hospitals, and a hospital's rates for a code with their file and row. Always bounded to
one code and named hospitals (or one file row); never a scan of every rate.

`row_no` is where the rate is in the hospital's file: in a CSV file the record number
(1-based, counting the three header lines, so the first data row is 4; it is the line
number unless a quoted cell spans lines; every payer of a wide CSV line shares it), in a
JSON file the 0-based index of the item in `standard_charge_information`.
"""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.ui import csv_bytes
from warehouse.marts import scoped_comparable
from warehouse.queries import payer_family

#: Why a rate is not compared, in words: every `exclusion_reason` of `comparable_charges`
#: and `comparable_charge_codes` (`outlier`), and `OTHER_UNIT` (`not_compared`).
REASONS = {
    "no_payer_rate": "no payer rate: the row gives only the hospital's own charges",
    "algorithm_only": "given only as a formula or algorithm, no dollar amount",
    "percentage_without_base": "a percentage with no gross charge to apply it to",
    "no_price": "no dollar amount, percentage or allowed amount",
    "placeholder": "placeholder amount (such as 999999), not a price",
    "zero_or_penny": "a cent or less: not a price",
    "drug_unit_not_normalisable": "drug unit that cannot be converted to a per-unit price",
    "outlier": "far outside every other hospital's prices for this service (an outlier)",
}
#: A rate in another unit than the prices it is shown beside (`price_unit`): a per-day
#: rate beside per-stay prices, a drug priced per ML beside prices per MG.
OTHER_UNIT = "other_unit"

#: The published values of a rate, in the order the Source page lists them.
RAW_COLUMNS = (
    "description", "setting", "billing_class", "codes", "modifiers", "drug_unit",
    "drug_unit_type", "gross_charge", "discounted_cash", "deidentified_min",
    "deidentified_max", "payer_name", "plan_name", "methodology", "negotiated_dollar",
    "negotiated_percentage", "negotiated_algorithm", "estimated_amount", "median_allowed",
    "p10_allowed", "p90_allowed", "allowed_count", "notes", "payer_notes",
)  # fmt: skip

_RATES = """
SELECT c.facility_id, l.hospital_name, c.file_id, c.row_no, c.code_type, c.code,
       c.published_code_type, c.setting, c.price_unit, c.payer_name, c.plan_name, c.payer,
       c.plan_type, c.methodology, c.price_basis, c.comparable_dollar, c.negotiated_dollar,
       c.negotiated_percentage, c.negotiated_algorithm, c.median_allowed, c.p10_allowed,
       c.p90_allowed, c.estimated_amount, c.gross_charge, c.discounted_cash,
       c.exclusion_reason
FROM comparable_charge_codes c
LEFT JOIN facility_locations l USING (facility_id)
WHERE c.code = $code
  AND ($code_type IS NULL OR c.code_type = service_code_type($code_type, $code))
  AND list_contains($ids::VARCHAR[], c.facility_id)
  AND ($payers IS NULL OR list_contains($payers, lower(c.payer)))
  AND ($plan IS NULL OR c.plan_type = $plan)
ORDER BY l.hospital_name, c.facility_id, c.row_no, c.payer_name, c.plan_name
"""


def code_rates(
    con: duckdb.DuckDBPyConnection,
    code_type: str | None,
    code: str,
    facility_ids: list[str],
    payer: str | None = None,
    plan_type: str | None = None,
) -> pl.DataFrame:
    """Every rate of the named hospitals for one code (a payer's, and a plan type's, when
    given): its file and row, basis (`price_basis`), comparable dollar and the reason it
    must not be compared (`exclusion_reason`, NULL when it may)."""
    params = {
        "code": code,
        "code_type": code_type,
        "ids": facility_ids,
        "payers": payer_family(payer),
        "plan": plan_type,
    }
    scoped = scoped_comparable(con, facility_ids, code_type, code)
    return con.sql(scoped + _RATES, params=params).pl()


_SOURCE = f"""
SELECT c.facility_id, l.hospital_name, c.file_id, c.row_no, c.payer, c.plan_type,
       c.price_basis, c.comparable_dollar, c.price_unit, c.exclusion_reason,
       {", ".join(f"c.{n}" for n in RAW_COLUMNS if n != "codes")},
       c.codes, f.source, f.last_updated_on, f.sha256, f.layout, f.version
FROM comparable_charges c
JOIN files f USING (file_id)
LEFT JOIN facility_locations l ON l.facility_id = c.facility_id
WHERE c.facility_id = $facility
  AND ($file IS NULL OR c.file_id = $file)
  AND ($row IS NULL OR c.row_no = $row)
  AND ($code IS NULL OR list_bool_or(list_transform(c.codes,
        lambda x: x.code = $code AND ($code_type IS NULL
                  OR service_code_type(x.type, x.code) = service_code_type($code_type, $code)))))
  AND ($payers IS NULL OR list_contains($payers, lower(c.payer)))
  AND ($plan IS NULL OR c.plan_type = $plan)
ORDER BY c.row_no, c.payer_name, c.plan_name
LIMIT $limit
"""


def source_rates(
    con: duckdb.DuckDBPyConnection,
    facility_id: str,
    code_type: str | None = None,
    code: str | None = None,
    payer: str | None = None,
    plan_type: str | None = None,
    file_id: str | None = None,
    row_no: int | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """A hospital's rates as published in its current file — for a code, a payer, a plan
    type, or one row of the file — with the file they come from (source, last updated on,
    SHA-256) and the row in it (`row_no`)."""
    params = {
        "facility": facility_id,
        "code": code,
        "code_type": code_type,
        "payers": payer_family(payer),
        "plan": plan_type,
        "file": file_id,
        "row": row_no,
        "limit": limit,
    }
    return con.sql(scoped_comparable(con, [facility_id]) + _SOURCE, params=params).pl()


def per_unit(price_unit: str | None) -> str:
    """A price unit in words: `per day`, `per MG`, or `per stay or service` (no unit)."""
    if price_unit == "day":
        return "per day"
    return f"per {price_unit}" if price_unit else "per stay or service"


def not_compared(reason: str | None, price_unit: str | None = None,
                 shown_unit: str | None = None) -> str:  # fmt: skip
    """Why a rate is not compared, in words ('' when it is); for `OTHER_UNIT`, from the
    rate's unit and the unit of the prices shown."""
    if reason is None:
        return ""
    if reason != OTHER_UNIT:
        return REASONS.get(reason, reason)
    if price_unit == "day":
        return f"a per-day rate: not comparable with prices {per_unit(shown_unit)}"
    if price_unit is None:
        return f"a price per stay or service: not comparable with prices {per_unit(shown_unit)}"
    return f"priced {per_unit(price_unit)}, not {per_unit(shown_unit)}"


#: The columns of Find a price's download of the rates behind its prices.
CODE_RATES_CSV = (
    "facility_id", "hospital_name", "file_id", "row_no", "code_type", "code", "setting",
    "payer_name", "plan_name", "payer", "plan_type", "methodology", "price_basis",
    "comparable_dollar", "price_unit", "negotiated_dollar", "negotiated_percentage",
    "negotiated_algorithm", "median_allowed", "p10_allowed", "p90_allowed",
    "estimated_amount", "gross_charge", "discounted_cash", "exclusion_reason",
)  # fmt: skip
#: The columns of the Source page's download.
SOURCE_CSV = ("facility_id", "file_id", "row_no", "payer", "plan_type", "price_basis",
              "comparable_dollar", "price_unit", "exclusion_reason", *RAW_COLUMNS)  # fmt: skip


def code_rates_csv(found: pl.DataFrame) -> bytes:
    """`code_rates` as the CSV download, formulas neutralised (`csv_bytes`)."""
    return csv_bytes(found.select(CODE_RATES_CSV))


def source_csv(found: pl.DataFrame) -> bytes:
    """`source_rates` as the CSV download, codes as text (`CPT 73721, CDM 1`)."""
    return csv_bytes(
        found.select(SOURCE_CSV).with_columns(
            pl.col("codes")
            .list.eval(pl.element().struct.field("type") + " " + pl.element().struct.field("code"))
            .list.join(", ")
        )
    )
