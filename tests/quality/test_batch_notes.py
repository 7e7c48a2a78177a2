"""The normaliser's batch notes let the checks skip work: they must never change a result.

Each batch is checked twice, with the notes and without them (everything recomputed from
the raw and canonical batch), and the per-row facts must be identical.
"""

from __future__ import annotations

import polars as pl
import pytest

from core.findings import FindingLog
from core.schema import CODE_TYPES_V3, CODES, conform_raw
from quality.row_facts import code_flags, number_flags
from quality.suites import gate_facts
from transform.normalise import normalise_batch

PLAIN = ["100", "200.5", "0.01", "-5", "inf", "999999999", None, "300"]
MESSY = ["$1,200.00", " 12 ", "N/A", "70%", "   ", "", None, "1e3"]
CLEAN_CODES = [[{"type": "CPT", "code": "70551"}, {"type": "RC", "code": "0610"}]] * 8
DIRTY_CODES = [
    [{"type": " cpt ", "code": "70 551"}],
    [{"type": "NDC", "code": "0002-1433-80"}],
    [{"type": "XYZ", "code": "1"}],
    [{"type": "RC", "code": None}],
    [{"type": None, "code": "470"}],
    [],
    [{"type": "MS-DRG", "code": "470"}],
    [{"type": "hcpcs", "code": "j1100"}],
]
WITH_NDC = [[{"type": "NDC", "code": "0002-1433-80"}], *CLEAN_CODES[1:]]
WITH_UNKNOWN = [[{"type": "XYZ", "code": "1"}], *CLEAN_CODES[1:]]


def batch(codes: list[list[dict[str, str | None]]]) -> pl.DataFrame:
    return conform_raw(
        pl.DataFrame(
            {
                "row_no": list(range(4, 12)),
                "description": ["MRI"] * 8,
                "modifiers": [None] * 5 + ["26", None, None],
                "gross_charge": PLAIN,
                "negotiated_dollar": MESSY,
                "discounted_cash": [None] * 8,
                "drug_unit": ["1", "2", None, None, None, None, None, None],
                "codes": codes,
            },
            schema_overrides={"codes": CODES},
        )
    )


def frame(series: list[pl.Series]) -> pl.DataFrame:
    return pl.DataFrame(series)


@pytest.mark.parametrize(
    "codes",
    [CLEAN_CODES, DIRTY_CODES, WITH_NDC, WITH_UNKNOWN],
    ids=["clean", "dirty", "ndc", "unknown-type"],
)
def test_facts_with_notes_equal_facts_recomputed(codes: list[list[dict[str, str | None]]]) -> None:
    raw = batch(codes)
    canonical, notes = normalise_batch(raw, FindingLog())
    assert notes.retried_numbers == {"negotiated_dollar"}
    clean = codes is not DIRTY_CODES
    assert (notes.clean_code_types is not None) == clean

    with_notes = number_flags(raw, canonical, notes.retried_numbers)
    recomputed = number_flags(raw, canonical)
    assert frame(with_notes).equals(frame(recomputed))
    noisy = frame(recomputed)
    assert noisy["noisy_gross_charge"].to_list() == [False] * 4 + [True] + [False] * 3  # inf
    assert noisy["noisy_negotiated_dollar"].to_list()[:2] == [True, False]  # $1,200.00, " 12 "

    allowed = frozenset(CODE_TYPES_V3)
    assert frame(
        code_flags(raw["codes"], canonical["codes"], allowed, notes.clean_code_types)
    ).equals(frame(code_flags(raw["codes"], canonical["codes"], allowed)))
    assert frame(gate_facts(canonical, notes.clean_code_types)).equals(
        frame(gate_facts(canonical)), null_equal=True
    )


def test_notes_reflect_what_the_flags_depend_on() -> None:
    canonical, notes = normalise_batch(batch(WITH_UNKNOWN), FindingLog())
    assert notes.clean_code_types == {"XYZ", "CPT", "RC"}
    facts = frame(gate_facts(canonical, notes.clean_code_types))
    assert facts["unknown_code_type"].to_list() == ["XYZ"] + [None] * 7
    flags = frame(code_flags(canonical["codes"], canonical["codes"], frozenset(CODE_TYPES_V3),
                             notes.clean_code_types))  # fmt: skip
    assert flags["bad_type"].to_list() == [True] + [False] * 7
