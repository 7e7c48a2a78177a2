"""The expectation suites, built in code: what loaded data must look like to be compared.

Each expectation carries `meta.severity`:

* `blocking` — the batch is not fit to compare; it is quarantined, never published;
* `hold` — the batch looks truncated; it is loaded as `held` until an operator accepts it;
* `warning` — recorded and shown, the batch is published;
* `error` — (warehouse suite) an invariant of the published warehouse is broken.

`mostly` thresholds are used where real, legal files contain a few exceptions (each says
why); a whole column going wrong still fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from core.schema import (
    BILLING_CLASSES,
    CODE_TYPES_V3,
    DRUG_UNIT_TYPES,
    ITEM_MONEY,
    METHODOLOGIES,
    PAYER_MONEY,
    SETTINGS,
)
from quality.validate import ExpectationSeverity

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

CHARGES = "standard_charges"
WAREHOUSE_FILES = "warehouse_current_files"
WAREHOUSE_CODES = "warehouse_codes"
WAREHOUSE_REGISTRY = "warehouse_registry"

#: Dollar columns checked against [0, ceiling]; `negotiated_percentage` has its own range.
DOLLARS = [c for c in [*ITEM_MONEY, *PAYER_MONEY] if c != "negotiated_percentage"]


def _sql_path(path: Path | str) -> str:
    """A file's charges as a `read_parquet` argument: one Parquet file or a folder of parts."""
    text = f"{path}/*.parquet" if Path(path).is_dir() else str(path)
    return "'" + text.replace("'", "''") + "'"


#: Per-row facts the batch suite checks, computed by Polars while the batch is written and
#: stored with it (the analyst views do not show them). Deriving them in SQL at gate time
#: decoded the nested `codes` column once per GX query: 2.0 s of a 2.3 s suite on 1 GB.
GATE_FACTS = pl.Schema(
    {"code_count": pl.Int32(), "has_price": pl.Boolean(), "unknown_code_type": pl.String()}
)
_CODE_TYPES = sorted(CODE_TYPES_V3)


def gate_facts(batch: pl.DataFrame, code_types: frozenset[str] | None = None) -> list[pl.Series]:
    """`code_count`, `has_price` and `unknown_code_type` of each row of a canonical batch.

    `code_count` and `has_price` are null for modifier rows (a modifier with no codes of
    its own is legal, CMS rule 11), so those rows are not counted against the batch.
    `unknown_code_type` is a row's first code type outside the CMS list. `code_types`, the
    batch's distinct code types when already known, spares looking at the codes again.
    """
    codes = batch["codes"]
    count = pl.col("codes").list.len().fill_null(0)
    modifier_row = (count == 0) & pl.col("modifiers").is_not_null()
    price = (
        pl.coalesce(
            "gross_charge", "discounted_cash", "negotiated_dollar", "negotiated_percentage"
        ).is_not_null()
        | pl.col("negotiated_algorithm").is_not_null()
    )
    frame = batch.select(
        pl.when(modifier_row).then(None).otherwise(count).cast(pl.Int32).alias("code_count"),
        pl.when(modifier_row).then(None).otherwise(price).alias("has_price"),
    )
    if code_types is not None:
        all_known = code_types <= CODE_TYPES_V3
    else:
        all_known = bool(codes.list.explode().struct.field("type").is_in(_CODE_TYPES).all())
    if all_known:  # the usual case: no per-row work
        unknown = pl.repeat(None, batch.height, dtype=pl.String, eager=True)
    else:
        element = pl.element()
        unknown = codes.list.eval(
            element.struct.field("type").filter(~element.struct.field("type").is_in(_CODE_TYPES))
        ).list.first()
    return [frame["code_count"], frame["has_price"], unknown.alias("unknown_code_type")]


def charges_query(parquet: Path | str) -> str:
    """The charge batch as GX sees it: the stored columns and the stored `GATE_FACTS`."""
    dollars = ", ".join(DOLLARS)
    return f"""
        SELECT file_id, facility_id, description, setting, billing_class, methodology,
               drug_unit_type, negotiated_percentage, {dollars},
               {", ".join(GATE_FACTS)}
        FROM read_parquet({_sql_path(parquet)})
    """


def _meta(severity: ExpectationSeverity, why: str) -> dict[str, Any]:
    return {"severity": severity.value, "why": why}


def charges_suite(price_ceiling: float) -> ExpectationSuite:
    """Expectations on one file's normalised standard-charge batch."""
    import great_expectations as gx
    from great_expectations import expectations as gxe

    suite = gx.ExpectationSuite(name=CHARGES)
    add = suite.add_expectation
    add(
        gxe.ExpectTableRowCountToEqual(
            value={"$PARAMETER": "reader_rows"},
            meta=_meta(
                ExpectationSeverity.BLOCKING, "the Parquet file holds every row the reader emitted"
            ),
        )
    )
    add(
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "min_rows"},
            meta=_meta(
                ExpectationSeverity.HOLD,
                "a sharp drop from the previous file is a truncated download",
            ),
        )
    )
    for column in ("file_id", "facility_id", "description", "setting"):
        add(
            gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                meta=_meta(ExpectationSeverity.BLOCKING, f"{column} is a comparison key"),
            )
        )
    add(
        gxe.ExpectColumnValuesToBeBetween(
            column="code_count",
            min_value=1,
            meta=_meta(
                ExpectationSeverity.BLOCKING,
                "a charge without a code cannot be matched across hospitals",
            ),
        )
    )
    add(
        gxe.ExpectColumnValuesToBeInSet(
            column="has_price",
            value_set=[True],
            # A few rows carry only notes in real files; a batch without prices is not data.
            mostly=0.95,
            meta=_meta(
                ExpectationSeverity.BLOCKING, "rows need a gross, cash or negotiated charge"
            ),
        )
    )
    for column in DOLLARS:
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=price_ceiling,
                # Chargemasters carry the odd credit line (a negative adjustment) or a
                # mistyped amount; more than 1 in 1,000 means a shifted or sign-flipped column.
                mostly=0.999,
                meta=_meta(
                    ExpectationSeverity.BLOCKING, f"{column} is a price: ≥ 0 and below the ceiling"
                ),
            )
        )
    add(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="deidentified_max",
            column_B="deidentified_min",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            # Swapped min/max on a few items is a typo; on many, the columns are swapped.
            mostly=0.99,
            meta=_meta(
                ExpectationSeverity.BLOCKING, "the de-identified minimum is not above the maximum"
            ),
        )
    )
    enums = {
        "setting": SETTINGS,
        "billing_class": BILLING_CLASSES,
        "methodology": METHODOLOGIES,
        "drug_unit_type": DRUG_UNIT_TYPES,
    }
    for column, allowed in enums.items():
        add(
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=sorted(allowed),
                meta=_meta(
                    ExpectationSeverity.WARNING,
                    f"{column} values outside the CMS list cannot be grouped",
                ),
            )
        )
    add(
        gxe.ExpectColumnValuesToBeNull(
            column="unknown_code_type",
            meta=_meta(
                ExpectationSeverity.WARNING, "code types outside the CMS list cannot be matched"
            ),
        )
    )
    add(
        gxe.ExpectColumnValuesToBeBetween(
            column="negotiated_percentage",
            min_value=0,
            max_value=1000,
            strict_min=True,
            # A handful of 0 % or 5000 % entries are typos; most rows must be percentages.
            mostly=0.99,
            meta=_meta(
                ExpectationSeverity.WARNING, "a percentage of billed charges lies in (0, 1000]"
            ),
        )
    )
    # Min and max are per item and setting over all payers, but hospitals compute them
    # over different rows (other periods, modifiers, case rates), so a few negotiated
    # dollars outside is normal; a large share means the columns don't belong together.
    for a, b in (
        ("negotiated_dollar", "deidentified_min"),
        ("deidentified_max", "negotiated_dollar"),
    ):
        add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a,
                column_B=b,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                mostly=0.95,
                meta=_meta(
                    ExpectationSeverity.WARNING, "a negotiated dollar lies within [min, max]"
                ),
            )
        )
    return suite


def warehouse_queries(
    today_sql: str,
    has_registry: bool,
    has_downloads: bool,
    files: dict[str, str] | None = None,
) -> dict[str, str]:
    """The published warehouse as GX sees it, one query per suite.

    With `files` (file id → facility id), the charge data read is only theirs (the files a
    publish made current: a check costs what changed); the catalog rows are always all read."""

    def quoted(values: Iterable[str]) -> str:
        return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"

    if files is None:
        only, checked, charges = "", "TRUE", "standard_charges"
    else:
        only = f"WHERE s.file_id IN ({quoted(files)})"
        facilities = quoted(files.values())
        checked = f"c.facility_id IN ({facilities})"
        # A constant list: the filter reaches the Parquet scan, other files are skipped.
        charges = f"(SELECT * FROM standard_charges WHERE facility_id IN ({facilities}))"
    registered = "WHERE f.registered" if has_registry else ""
    downloads = (
        "OR EXISTS (SELECT 1 FROM download_attempts d "
        "WHERE d.facility_id = f.facility_id AND d.outcome = 'failed')"
        if has_downloads
        else ""
    )
    return {
        WAREHOUSE_FILES: f"""
            SELECT c.facility_id, c.file_id,
                   date_diff('day', c.last_updated_on, {today_sql}) AS age_days,
                   CASE WHEN {checked} THEN coalesce(p.published_files, 0) END
                       AS published_files
            FROM current_files c
            LEFT JOIN (SELECT facility_id, count(DISTINCT file_id) AS published_files
                       FROM {charges} GROUP BY facility_id) p USING (facility_id)
        """,
        WAREHOUSE_CODES: f"""
            SELECT s.file_id, u.code.type AS code_type, u.code.code AS code,
                   (c.file_id IS NOT NULL) AS has_current_file
            FROM (SELECT s.file_id, s.codes FROM standard_charges s {only}) s
            CROSS JOIN UNNEST(s.codes) AS u(code)
            LEFT JOIN current_files c USING (file_id)
        """,
        WAREHOUSE_REGISTRY: f"""
            SELECT f.facility_id,
                   (c.file_id IS NOT NULL
                    OR EXISTS (SELECT 1 FROM ingest_log l WHERE l.facility_id = f.facility_id
                               AND l.outcome IN ('failed', 'held', 'quarantined'))
                    {downloads}) AS accounted_for
            FROM facilities f LEFT JOIN current_files c USING (facility_id)
            {registered}
        """,
    }


def warehouse_suites(max_age_days: int) -> dict[str, ExpectationSuite]:
    """Expectations on the published warehouse, keyed like `warehouse_queries`."""
    import great_expectations as gx
    from great_expectations import expectations as gxe

    files = gx.ExpectationSuite(name=WAREHOUSE_FILES)
    files.add_expectation(
        gxe.ExpectColumnValuesToBeUnique(
            column="facility_id",
            meta=_meta(ExpectationSeverity.ERROR, "one current file per facility"),
        )
    )
    files.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="published_files",
            min_value=1,
            max_value=1,
            meta=_meta(
                ExpectationSeverity.ERROR, "the published charges of a facility come from one file"
            ),
        )
    )
    files.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="age_days",
            max_value=max_age_days,
            meta=_meta(
                ExpectationSeverity.WARNING, f"last_updated_on is at most {max_age_days} days old"
            ),
        )
    )
    codes = gx.ExpectationSuite(name=WAREHOUSE_CODES)
    codes.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="has_current_file",
            value_set=[True],
            meta=_meta(
                ExpectationSeverity.ERROR, "no orphan codes: every code belongs to a current file"
            ),
        )
    )
    for column in ("code_type", "code"):
        codes.add_expectation(
            gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                meta=_meta(ExpectationSeverity.ERROR, "a code needs its type and a type its code"),
            )
        )
    registry = gx.ExpectationSuite(name=WAREHOUSE_REGISTRY)
    registry.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="accounted_for",
            value_set=[True],
            meta=_meta(
                ExpectationSeverity.ERROR, "each facility has a current file or a recorded failure"
            ),
        )
    )
    return {WAREHOUSE_FILES: files, WAREHOUSE_CODES: codes, WAREHOUSE_REGISTRY: registry}
