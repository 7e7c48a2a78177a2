"""The per-row CMS checks, as vectorised Polars expressions over one batch.

A check is a boolean mask over the batch plus where to point (column) and what to show
(value). All masks of a batch are computed in one `select`, then only the checks that
hit are filtered for detail, so a clean batch costs one pass. Presence means "the cell
is not blank": a malformed number is reported by `value.number`, not again by the
conditional rules, and a `999999999` placeholder counts as given (CMS recommended it).

Rows with a modifier and no code are modifier rows: CMS checks them by rule 11 only.
In wide and JSON files one item spans several rows sharing `row_no`; item-level rules
(2, 5) look across them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.files import Layout
from core.findings import FindingLog, Severity
from core.schema import CODE_TYPES_V2, CODE_TYPES_V3
from ingest.csv_tall import ITEM_COLUMNS, TALL_PAYER_COLUMNS
from quality.row_facts import Flags, code_flags, given, number_flags
from quality.versions import Version
from transform.normalise import NUMBER_COLUMNS, BatchNotes

#: CMS names of raw columns, for messages and locations.
CSV_NAMES = {raw: name for name, raw in (ITEM_COLUMNS | TALL_PAYER_COLUMNS).items()}
JSON_NAMES = {
    "modifiers": "modifier_code",
    "drug_unit": "drug_information.unit",
    "drug_unit_type": "drug_information.type",
    "deidentified_min": "minimum",
    "deidentified_max": "maximum",
    "negotiated_dollar": "standard_charge_dollar",
    "negotiated_percentage": "standard_charge_percentage",
    "negotiated_algorithm": "standard_charge_algorithm",
    "median_allowed": "median_amount",
    "p10_allowed": "10th_percentile",
    "p90_allowed": "90th_percentile",
    "allowed_count": "count",
    "payer_notes": "additional_payer_notes",
    "notes": "additional_generic_notes",
}
#: Wide files: payer-level columns carry the payer and plan in their header.
WIDE_PAYER = frozenset(TALL_PAYER_COLUMNS.values()) - {"payer_name", "plan_name"}
COUNT = r"^(?:0|1 through 10|1[1-9]|[2-9]\d|[1-9]\d{2,})$"
NINE_NINES = "999999999"


@dataclass(frozen=True)
class Check:
    rule: str
    column: str  # raw column the finding points at
    message: str
    mask: pl.Expr
    value: pl.Expr | None = None
    severity: Severity = Severity.ERROR


def display(raw: str, layout: Layout) -> str:
    """The CMS name of a raw column in this layout (`standard_charge|min`, `minimum`)."""
    if layout == Layout.JSON:
        return JSON_NAMES.get(raw, raw)
    return CSV_NAMES.get(raw, "code|i" if raw == "codes" else raw)


def location(raw: str, layout: Layout) -> pl.Expr | None:
    """A per-row column name where it depends on the row (wide payer-specific columns)."""
    if layout != Layout.CSV_WIDE or raw not in WIDE_PAYER:
        return None
    name = display(raw, layout)
    payer = pl.col("payer_name").fill_null("?")
    plan = pl.col("plan_name").fill_null("?")
    if name.startswith("standard_charge|"):
        return pl.format("standard_charge|{}|{}|{}", payer, plan, pl.lit(name.split("|", 1)[1]))
    return pl.format("{}|{}|{}", pl.lit(name), payer, plan)


def checks(version: Version, layout: Layout, missing: set[str]) -> list[Check]:
    """Every per-row check that applies to this rule set and layout."""
    e = pl.element()
    modifier_row = pl.col("modifier_row")
    item = ~modifier_row
    dollar = given("negotiated_dollar")
    pct_alg = given("negotiated_percentage") | given("negotiated_algorithm")
    negotiated, only_pct_alg = dollar | pct_alg, pct_alg & ~dollar
    notes = pl.col("notes_given")
    neg_value = pl.coalesce("negotiated_dollar", "negotiated_percentage", "negotiated_algorithm")
    pct_value = pl.coalesce("negotiated_percentage", "negotiated_algorithm")
    per_item = layout != Layout.CSV_TALL

    def over_item(expr: pl.Expr) -> pl.Expr:
        return expr.any().over("row_no") if per_item else expr

    def name(raw: str) -> str:
        return display(raw, layout)

    found: list[Check] = []
    rules = version.conditional
    # A modifier row without a description is rule 11's finding, not this one's.
    for raw, rows in (("description", item), ("setting", pl.lit(True))):
        found.append(Check("value.required", raw, f"{name(raw)} is required", rows & ~given(raw)))
    allowed = sorted(CODE_TYPES_V3 if version.rules == "v3.0" else CODE_TYPES_V2)
    found.append(
        Check(
            "value.enum",
            "codes",
            f"code type is not one of the CMS {version.rules} code types",
            pl.col("bad_type"),
            pl.col("c_codes")
            .list.eval(e.struct.field("type").filter(~e.struct.field("type").is_in(allowed)))
            .list.join(", "),
        )
    )
    if version.rules == "v3.0":  # `count` is a v3.0 field; v2 files don't define it
        found.append(
            Check(
                "value.count",
                "allowed_count",
                'count must be "0", "1 through 10" or a whole number of 11 or more',
                given("allowed_count")
                & ~pl.col("c_allowed_count").str.contains(COUNT).fill_null(False),
                pl.col("allowed_count"),
            )
        )
        # The normaliser alerts number placeholders; `count` is text, so it is done here.
        found.append(
            Check(
                "alert.nine_nines",
                "allowed_count",
                "count is the 999999999 placeholder",
                (pl.col("c_allowed_count") == NINE_NINES).fill_null(False),
                pl.col("allowed_count"),
                Severity.ALERT,
            )
        )
    if 1 in rules:
        for raw in ("payer_name", "plan_name", "methodology"):
            found.append(
                Check(
                    "rule.1",
                    raw,
                    f"{name(raw)} is required when a negotiated dollar, percentage or "
                    "algorithm is given (rule 1)",
                    item & negotiated & ~given(raw),
                    neg_value,
                )
            )
    if 2 in rules:
        complete = pl.col("complete_code")
        found.append(
            Check(
                "rule.2",
                "codes",
                "item has no code with a code type (rule 2)",
                item & ~over_item(complete),
                pl.col("description"),
            )
        )
    if 3 in rules:
        code, ctype = e.struct.field("code"), e.struct.field("type")
        half = code.str.contains(r"\S").fill_null(False) ^ ctype.str.contains(r"\S").fill_null(
            False
        )
        found.append(
            Check(
                "rule.3",
                "codes",
                "a code needs its code type and a code type needs its code (rule 3)",
                pl.col("half_code"),
                pl.col("codes")
                .list.eval(pl.format("{}={}", code.fill_null(""), ctype.fill_null("")).filter(half))
                .list.join(", "),
            )
        )
    if 4 in rules:
        found.append(
            Check(
                "rule.4",
                "methodology",
                "methodology is 'other' but no notes explain it (rule 4)",
                item & (pl.col("c_methodology") == "other").fill_null(False) & ~notes,
                pl.col("methodology"),
            )
        )
    if 5 in rules:
        priced = given("gross_charge") | given("discounted_cash") | negotiated
        found.append(
            Check(
                "rule.5",
                "gross_charge",
                "item has none of gross charge, discounted cash, negotiated dollar, percentage "
                "or algorithm (rule 5)",
                item & ~over_item(priced),
                pl.col("description"),
            )
        )
    if 6 in rules:
        for raw in ("deidentified_min", "deidentified_max"):
            found.append(
                Check(
                    "rule.6",
                    raw,
                    f"{name(raw)} is required when a negotiated dollar is given (rule 6)",
                    item & dollar & ~given(raw),
                    pl.col("negotiated_dollar"),
                )
            )
    if 7 in rules:
        found.append(
            Check(
                "rule.7",
                "allowed_count",
                f"{name('allowed_count')} is required when the negotiated charge is only a "
                "percentage or algorithm (rule 7)",
                item & only_pct_alg & ~given("allowed_count"),
                pct_value,
            )
        )
    count_zero = pl.col("count_zero")
    if 8 in rules:
        for raw in ("median_allowed", "p10_allowed", "p90_allowed"):
            found.append(
                Check(
                    "rule.8",
                    raw,
                    f"{name(raw)} is required when the negotiated charge is only a percentage "
                    'or algorithm, unless count is "0" (rule 8)',
                    item & only_pct_alg & ~count_zero & ~given(raw),
                    pct_value,
                )
            )
    if 9 in rules:
        found.append(
            Check(
                "rule.9",
                "allowed_count",
                'count is "0" but no notes explain it (rule 9)',
                count_zero & ~notes,
                pl.col("allowed_count"),
            )
        )
    if 10 in rules:
        ndc = pl.col("ndc")
        found.append(
            Check(
                "rule.10",
                "drug_unit",
                "an NDC code needs the drug unit and drug type of measurement (rule 10)",
                ndc & ~(given("drug_unit") & given("drug_unit_type")),
                pl.col("c_codes")
                .list.eval(e.struct.field("code").filter(e.struct.field("type") == "NDC"))
                .list.join(", "),
            )
        )
    if 11 in rules:
        found.append(
            Check(
                "rule.11",
                "modifiers",
                "a modifier row without an item needs a description and a negotiated value "
                "or notes (rule 11)",
                modifier_row & ~(given("description") & (negotiated | notes)),
                pl.col("modifiers"),
            )
        )
    if 12 in rules:
        found.append(
            Check(
                "rule.12",
                "drug_unit_type",
                "drug unit and drug type of measurement must be given together (rule 12)",
                given("drug_unit") ^ given("drug_unit_type"),
                pl.coalesce("drug_unit", "drug_unit_type"),
            )
        )
    if version.estimated_amount_rule:
        found.append(
            Check(
                "rule.estimated_amount",
                "estimated_amount",
                f"{name('estimated_amount')} is required when the negotiated charge is only a "
                "percentage or algorithm (v2.2)",
                item & only_pct_alg & ~given("estimated_amount"),
                pct_value,
            )
        )
    found.extend(_number_checks(layout, version.foreign_numbers))
    demanded = {"rule.1", "rule.6", "rule.7", "rule.8", "rule.10", "rule.estimated_amount"}
    return [c for c in found if not (c.rule in demanded and c.column in missing)]


def _number_checks(layout: Layout, foreign: frozenset[str]) -> list[Check]:
    """Numbers the normaliser could read but CMS would not accept: `$1,200`, `0`, `-5`
    (except in `foreign` columns, which the file's template does not define).

    Unreadable numbers are recorded by the normaliser under the same rule id; the two
    sets of cells are disjoint, so nothing is counted twice.
    """
    found = []
    for raw in NUMBER_COLUMNS:
        if raw in foreign:
            continue
        parsed = pl.col(f"c_{raw}")
        plain = ~pl.col(f"noisy_{raw}")
        found.append(
            Check(
                "value.number",
                raw,
                f"{display(raw, layout)} must be a positive plain number (like 1200.50)",
                (parsed.is_not_null() & (~plain | (parsed <= 0))).fill_null(False),
                pl.col(raw),
            )
        )
    return found


def run_checks(
    raw: pl.DataFrame,
    canonical: pl.DataFrame,
    shared: Flags,
    found: list[Check],
    layout: Layout,
    log: FindingLog,
    notes: BatchNotes | None = None,
) -> None:
    """Evaluate every check on a batch (a conformed raw batch and its canonical form);
    `notes` are the normaliser's, when known."""
    if raw.height == 0 or not found:
        return
    work = pl.concat(
        [raw.select(shared.raw).rechunk(), canonical.select(shared.canonical).rechunk()],
        how="horizontal",
    )
    work = work.with_columns(
        number_flags(raw, canonical, notes.retried_numbers if notes else None)
        + code_flags(
            raw["codes"],
            canonical["codes"],
            shared.code_types,
            notes.clean_code_types if notes else None,
        )
    ).with_columns(shared.derived)
    masks = work.select([c.mask.alias(f"m{i}") for i, c in enumerate(found)])
    hits_per_check = masks.sum().row(0)
    detail: pl.DataFrame | None = None
    for i, (check, hits) in enumerate(zip(found, hits_per_check, strict=True)):
        if not hits:
            continue
        if detail is None:  # built once per batch, only when something is wrong
            detail = pl.concat(
                [raw, canonical.select(pl.col("codes").alias("c_codes"))], how="horizontal"
            ).rechunk()
        where = location(check.column, layout)
        selected = detail.filter(masks[f"m{i}"]).select(
            pl.col("row_no"),
            (check.value if check.value is not None else pl.lit(None))
            .cast(pl.String)
            .alias("value"),
            *([where.alias("column")] if where is not None else []),
        )
        log.add_frame(
            check.rule, check.severity, check.message, selected, display(check.column, layout)
        )
