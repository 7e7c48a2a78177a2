"""Normalise raw reader batches (all text) into canonical standard-charge batches.

Parse as text, cast here, in one place: trimmed text, enum values lower-cased to the CMS
vocabulary, numbers from `$1,200.00`-style text, `999999999` placeholders to null, code
types upper-cased and codes cleaned. A value that can't be parsed becomes null *and* a
finding; a row is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.findings import FindingLog, Severity
from core.schema import (
    BILLING_CLASSES,
    CANONICAL_SCHEMA,
    DRUG_UNIT_TYPES,
    ITEM_MONEY,
    METHODOLOGIES,
    PAYER_MONEY,
    SETTINGS,
    conform_raw,
)

NUMBER_COLUMNS = ["drug_unit", *ITEM_MONEY, *PAYER_MONEY]
PLACEHOLDER = 999999999.0
#: Text columns whose values belong to a CMS vocabulary, lower-cased.
LOWER_ENUMS: dict[str, frozenset[str]] = {
    "setting": SETTINGS,
    "billing_class": BILLING_CLASSES,
    "methodology": METHODOLOGIES,
}
_NOISE = r"[$,%\s]"


def _text(name: str) -> pl.Expr:
    """Trimmed text; empty becomes null."""
    value = pl.col(name).str.strip_chars()
    return pl.when(value.str.len_bytes() > 0).then(value)


def _enum_lower(name: str) -> pl.Expr:
    return _text(name).str.to_lowercase().str.replace_all(r"\s+", " ")


def _per_unique(raw: pl.DataFrame, name: str, expr: pl.Expr) -> pl.Series:
    """`expr` over a low-cardinality column, computed once per distinct value (and not
    mapped back at all when no value changes, the usual case)."""
    values = raw.select(pl.col(name).unique())
    mapping = values.with_columns(expr.alias("__out"))
    if mapping[name].equals(mapping["__out"], check_names=False, null_equal=True):
        return raw[name]
    return (
        raw.select(pl.col(name))
        .join(mapping, on=name, how="left", nulls_equal=True, maintain_order="left")["__out"]
        .alias(name)
    )


def _number(name: str) -> pl.Expr:
    """A float from plain text (the fast path; see `_messy_numbers` for the rest)."""
    return pl.col(name).cast(pl.Float64, strict=False)


def _messy_number(name: str) -> pl.Expr:
    """A float from padded or `$1,200.00`-style text; null when it can't be parsed."""
    return pl.col(name).str.replace_all(_NOISE, "").cast(pl.Float64, strict=False)


def _messy_numbers(raw: pl.DataFrame, batch: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Re-parse only the number columns where the fast path left values unparsed; those
    columns are returned too."""
    retry = [c for c in NUMBER_COLUMNS if batch[c].null_count() > raw[c].null_count()]
    if not retry:
        return batch, retry
    fixed = raw.select(_messy_number(c) for c in retry)
    return batch.with_columns(batch[c].fill_null(fixed[c]) for c in retry), retry


def _codes() -> pl.Expr:
    """Code types upper-cased (`ms drg` → `MS-DRG`); codes without whitespace, upper-cased.

    A pair missing its code or its type is dropped here (it is a conformance finding).
    """
    element = pl.element()
    ctype = (
        element.struct.field("type")
        .str.strip_chars()
        .str.to_uppercase()
        .str.replace_all(r"\s+", "-")
    )
    code = element.struct.field("code").str.replace_all(r"\s+", "").str.to_uppercase()
    cleaned = pl.col("codes").list.eval(pl.struct(type=ctype, code=code))
    return cleaned.list.eval(
        pl.element().filter(
            (pl.element().struct.field("type").str.len_bytes() > 0)
            & (pl.element().struct.field("code").str.len_bytes() > 0)
        )
    )


#: A code character the cleaning would change: whitespace, or a letter with an upper case.
_DIRTY_CODE = r"[\s\p{Lowercase}\p{Lt}]"


def _item_codes(raw: pl.DataFrame) -> pl.Series:
    """The codes of the first row of each `row_no`: the rows of one JSON item or wide CSV
    row share its codes (see `ingest.base.ParsedFile`), so a check of these holds for all
    (1 GB JSON, 6.6 M rows of 55 k items: 2.3 s of checks → 0.1 s)."""
    first = raw["row_no"].is_first_distinct()
    return raw["codes"] if first.all() else raw["codes"].filter(first)


def _clean_code_types(codes: pl.Series) -> frozenset[str] | None:
    """The distinct code types of `codes` when `_codes()` would return it unchanged (the
    usual case, checked on the flat values in a third of the time the per-list cleaning
    takes); None otherwise.

    Unchanged: every pair has a type already in its cleaned form and a non-empty code
    with nothing to clean, and no list holds a null pair.
    """
    flat = codes.explode().drop_nulls()
    if flat.len() != (codes.list.len().sum() or 0):  # a null pair inside a list
        return None
    ctype, code = flat.struct.field("type"), flat.struct.field("code")
    if ctype.null_count() or code.null_count():
        return None
    types = ctype.unique()
    cleaned = types.str.strip_chars().str.to_uppercase().str.replace_all(r"\s+", "-")
    if not ((types == cleaned) & (types.str.len_bytes() > 0)).all():
        return None
    if (code.str.len_bytes() == 0).any() or code.str.contains(_DIRTY_CODE).any():
        return None
    return frozenset(types.to_list())


def _record_number_findings(
    raw: pl.DataFrame, parsed: pl.DataFrame, log: FindingLog, foreign: frozenset[str]
) -> list[str]:
    """Unparseable numbers (alerts in `foreign` columns) and nine-9 placeholders, one
    finding per cell; the columns that hold a placeholder."""
    placeheld = []
    for c in NUMBER_COLUMNS:
        if parsed[c].null_count() > raw[c].null_count():
            bad = raw[c].is_not_null() & (raw[c].str.strip_chars() != "") & parsed[c].is_null()
            if bad.any():
                hits = pl.DataFrame({"row_no": raw["row_no"], "value": raw[c]}).filter(bad)
                rule, severity, message = "value.number", Severity.ERROR, f"{c} is not a number"
                if c in foreign:  # outside the template: said (the value is lost), not an error
                    rule, severity = "alert.unread_number", Severity.ALERT
                    message += " (read as no value; not a field of this file's template)"
                log.add_frame(rule, severity, message, hits, c)
        nines = (parsed[c] == PLACEHOLDER).fill_null(False)
        if nines.any():
            hits = pl.DataFrame({"row_no": raw["row_no"], "value": raw[c]}).filter(nines)
            log.add_frame(
                "alert.nine_nines", Severity.ALERT, f"{c} is the 999999999 placeholder", hits, c
            )
            placeheld.append(c)
    return placeheld


def _record_enum_findings(batch: pl.DataFrame, log: FindingLog) -> None:
    checks = {**LOWER_ENUMS, "drug_unit_type": DRUG_UNIT_TYPES}
    for column, allowed in checks.items():
        values = batch[column]
        mask = values.is_not_null() & ~values.is_in(sorted(allowed))
        if mask.any():
            hits = batch.select("row_no", pl.col(column).alias("value")).filter(mask)
            message = f"{column} is not one of the CMS values ({', '.join(sorted(allowed))})"
            log.add_frame("value.enum", Severity.ERROR, message, hits, column)


#: Columns with few distinct values, normalised once per value.
LOW_CARDINALITY: dict[str, pl.Expr] = {
    **{name: _enum_lower(name) for name in [*LOWER_ENUMS, "allowed_count"]},
    "drug_unit_type": _text("drug_unit_type").str.to_uppercase(),
}


@dataclass(frozen=True)
class BatchNotes:
    """What normalising a batch found out that the checks after it would otherwise
    recompute (see `quality.row_facts`, `quality.suites.gate_facts`)."""

    #: Number columns where the plain parse left some given cells unread (re-parsed for
    #: `$1,200`-style text); in every other number column the canonical value is exactly
    #: what a plain float parse of the text gives (999999999 placeholders aside).
    retried_numbers: frozenset[str]
    #: The distinct code types of the batch when every raw code pair was complete and
    #: already clean (so canonical codes are the raw ones); None when not.
    clean_code_types: frozenset[str] | None


def standard_charges(raw: pl.DataFrame, log: FindingLog) -> pl.DataFrame:
    """The canonical standard-charge batch for one raw batch (same rows, same order)."""
    return normalise_batch(raw, log)[0]


def normalise_batch(
    raw: pl.DataFrame, log: FindingLog, foreign: frozenset[str] = frozenset()
) -> tuple[pl.DataFrame, BatchNotes]:
    """`standard_charges`, with the notes the conformance checks and the gate reuse.

    `foreign` names number columns the file's template does not define (the conformance
    check knows which): a value there that is not a number is an alert, not an error."""
    raw = conform_raw(raw)
    clean_types = _clean_code_types(_item_codes(raw))
    exprs: list[pl.Expr] = []
    for name, dtype in CANONICAL_SCHEMA.items():
        if name == "row_no":
            exprs.append(pl.col("row_no"))
        elif name == "codes":
            exprs.append(pl.col("codes") if clean_types is not None else _codes().alias("codes"))
        elif name in NUMBER_COLUMNS:
            exprs.append(_number(name).alias(name))
        elif name in LOW_CARDINALITY:
            exprs.append(pl.col(name))
        else:
            exprs.append(_text(name).alias(name))
        assert dtype is not None
    batch = raw.select(exprs)
    batch = batch.with_columns(
        _per_unique(raw, name, expr) for name, expr in LOW_CARDINALITY.items()
    )
    batch, retried = _messy_numbers(raw, batch)
    placeheld = _record_number_findings(raw, batch, log, foreign)
    _record_enum_findings(batch, log)
    placeholders = [
        pl.when(pl.col(c) == PLACEHOLDER).then(None).otherwise(pl.col(c)).alias(c)
        for c in placeheld
    ]
    notes = BatchNotes(frozenset(retried), clean_types)
    return batch.with_columns(placeholders).cast(CANONICAL_SCHEMA), notes
