"""Per-row facts the CMS checks share (is a cell given, is a number plain, does a row
have a complete code…), computed once per batch so that each check is a cheap boolean
combination of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.schema import CODE_TYPES_V2, CODE_TYPES_V3
from quality.versions import Version
from transform.normalise import NUMBER_COLUMNS

#: Raw text columns whose canonical form (trimmed, blank → null) tells presence.
TEXT_GIVEN = [
    "description", "setting", "modifiers", "payer_name", "plan_name", "methodology",
    "negotiated_algorithm", "allowed_count", "notes", "payer_notes", "drug_unit_type",
]  # fmt: skip


def given(name: str) -> pl.Expr:
    """The cell is not blank (a flag computed once per batch by `flags`)."""
    return pl.col(f"g_{name}")


@dataclass(frozen=True)
class Flags:
    """Shared per-row facts, computed once per batch so the checks are cheap boolean
    combinations. Raw-side and canonical-side facts are computed on their own frames:
    the two have different chunk layouts, and a frame mixing them is re-aligned (copied)
    by every `select` on it. Number and code facts adapt to the batch (see
    `number_flags`, `code_flags`): a clean batch skips the costly scans."""

    raw: list[pl.Expr]
    canonical: list[pl.Expr]
    derived: list[pl.Expr]
    code_types: frozenset[str]


def flags(version: Version) -> Flags:
    """The per-row facts the checks of this rule set read."""
    canonical = [
        *[pl.col(c).is_not_null().alias(f"g_{c}") for c in TEXT_GIVEN],
        *[pl.col(c).alias(f"c_{c}") for c in ("methodology", "allowed_count", *NUMBER_COLUMNS)],
    ]
    derived = [
        (given("modifiers") & ~pl.col("any_code")).alias("modifier_row"),
        (pl.col("c_allowed_count") == "0").fill_null(False).alias("count_zero"),
        (given("notes") | given("payer_notes")).alias("notes_given"),
    ]
    allowed = CODE_TYPES_V3 if version.rules == "v3.0" else CODE_TYPES_V2
    return Flags([pl.col("row_no")], canonical, derived, frozenset(allowed))


def _none(name: str, height: int) -> pl.Series:
    return pl.repeat(False, height, eager=True).alias(name)


def number_flags(
    raw: pl.DataFrame, canonical: pl.DataFrame, retried: frozenset[str] | None = None
) -> list[pl.Series]:
    """Per number column: `g_` given (not blank) and `noisy_` (read, but not as a plain
    decimal: `$1,200.00`, `1,200`, `70%`, `inf`).

    Given comes from the raw text, so a 999999999 placeholder counts; a cell of spaces
    is blank. Noisy cells are those the normaliser could only read after removing `$`,
    `,`, `%` or spaces (padding alone is tolerated): found by a plain float parse, and
    looked at closer only in columns where that parse missed something.

    `retried` (from the normaliser's `BatchNotes`, when known) names the columns where
    that plain parse missed something; in the others the canonical value *is* the plain
    parse, so the text is not parsed again.
    """
    out = []
    for c in NUMBER_COLUMNS:
        text, parsed = raw[c], canonical[c]
        given = text.is_not_null()
        if (given & parsed.is_null()).any():  # unreadable, placeholder, empty or spaces
            given = parsed.is_not_null() | (
                (text.str.len_bytes() > 0) & ~text.str.starts_with(" ")
            ).fill_null(False)
        if retried is not None and c not in retried:
            # A placeholder nulled in `parsed` was finite text: not noisy either way.
            noisy = ~parsed.is_finite().fill_null(True)
            out += [given.alias(f"g_{c}").rechunk(), noisy.alias(f"noisy_{c}").rechunk()]
            continue
        fast = text.cast(pl.Float64, strict=False)
        noisy = ~fast.is_finite().fill_null(True)
        if fast.null_count() > text.null_count():
            messy = fast.is_null() & parsed.is_not_null()
            padded = text.str.strip_chars().cast(pl.Float64, strict=False).is_not_null()
            noisy = noisy | (messy & ~padded)
        out += [given.alias(f"g_{c}").rechunk(), noisy.alias(f"noisy_{c}").rechunk()]
    return out


def code_flags(
    raw_codes: pl.Series,
    canonical_codes: pl.Series,
    allowed: frozenset[str],
    clean_types: frozenset[str] | None = None,
) -> list[pl.Series]:
    """Per row: `any_code` (a code or a type), `complete_code` (a code with its type),
    `half_code` (a code without type or the reverse), `bad_type` (a type outside the CMS
    list) and `ndc` (an NDC code).

    Decided on the flat list of all pairs of the batch first: when every pair is complete,
    every type allowed and no NDC present (the usual case), no per-row list work is done.
    Byte lengths, not regexes: a code of only spaces is not a thing. `clean_types` (from
    the normaliser's `BatchNotes`, when known) says every pair is complete and gives the
    distinct types, so the pairs are not looked at again.
    """
    height = raw_codes.len()
    counts = raw_codes.list.len()
    if clean_types is not None:
        all_complete = True
    else:
        pairs = raw_codes.list.explode()
        code_ok = pairs.struct.field("code").str.len_bytes().fill_null(0) > 0
        type_ok = pairs.struct.field("type").str.len_bytes().fill_null(0) > 0
        all_complete = int((code_ok & type_ok).sum()) == int(counts.sum())
    if all_complete:
        complete = (counts > 0).fill_null(False)
        out = [
            complete.alias("any_code"),
            complete.alias("complete_code"),
            _none("half_code", height),
        ]
    else:
        e = pl.element()
        state = raw_codes.list.eval(
            (e.struct.field("code").str.len_bytes().fill_null(0) > 0).cast(pl.UInt8)
            + 2 * (e.struct.field("type").str.len_bytes().fill_null(0) > 0).cast(pl.UInt8)
        )  # per pair: 1 = code only, 2 = type only, 3 = both
        out = [
            (state.list.max().fill_null(0) > 0).alias("any_code"),
            state.list.contains(3).fill_null(False).alias("complete_code"),
            (state.list.contains(1) | state.list.contains(2)).fill_null(False).alias("half_code"),
        ]
    if clean_types is not None:
        bad, has_ndc = sorted(clean_types - allowed), "NDC" in clean_types
    else:
        types = canonical_codes.list.explode().struct.field("type")
        bad = sorted(set(types.filter(~types.is_in(sorted(allowed))).drop_nulls().unique()))
        has_ndc = bool((types == "NDC").any())
    e = pl.element()
    per_row = canonical_codes.list.eval(e.struct.field("type")) if bad or has_ndc else None
    if per_row is not None and bad:
        out.append(per_row.list.eval(e.is_in(bad)).list.any().fill_null(False).alias("bad_type"))
    else:
        out.append(_none("bad_type", height))
    if per_row is not None and has_ndc:
        out.append(per_row.list.contains("NDC").fill_null(False).alias("ndc"))
    else:
        out.append(_none("ndc", height))
    return [flag.rechunk() for flag in out]
