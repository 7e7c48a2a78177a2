"""The CMS example files are valid, as the official validator says; so are the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quality.builders import check

# sample → (layout, rule set, findings expected). Every sample is valid; the only findings
# are genuine alerts, explained here.
SAMPLES: dict[str, tuple[str, str, dict[str, int]]] = {
    "cms/v3.0.0_tall.csv": ("csv_tall", "v3.0", {}),
    "cms/v3.0.0_wide.csv": ("csv_wide", "v3.0", {}),
    "cms/v3.0.0.json": ("json", "v3.0", {}),
    # The 2.0.0 examples carry the v2.2 columns (drug unit/type, modifiers, estimated
    # amount), so they are checked to v2.2, which they meet.
    "cms/v2.0.0_tall.csv": ("csv_tall", "v2.2", {}),
    "cms/v2.0.0.json": ("json", "v2.2", {}),
    # The v2 wide example has one byte that is not UTF-8 (read as Windows-1252): an alert,
    # which the official validator (reading text) would not see.
    "cms/v2.0.0_wide.csv": ("csv_wide", "v2.2", {"encoding.cp1252_bytes": 1}),
    "real/avenues-recovery-valley-forge_v2_tall.csv": ("csv_tall", "v2.2", {}),
    # The spec notes a few stray Windows-1252 bytes in this file.
    "real/marthas-vineyard-hospital_v3_tall.csv": (
        "csv_tall",
        "v3.0",
        {"encoding.cp1252_bytes": 1},
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_is_valid(samples: Path, name: str) -> None:
    layout, rule_set, expected = SAMPLES[name]
    result = check(samples / name)
    assert result.valid, result.log.frame().to_dicts()
    assert (result.layout, result.rule_set) == (layout, rule_set)
    assert result.log.by_rule() == expected
    assert result.rows > 0


@pytest.mark.parametrize("name", ["cms/v3.0.0_tall.csv", "cms/v3.0.0.json"])
def test_v3_sample_checked_as_v22_misses_the_v22_columns(samples: Path, name: str) -> None:
    """The engine is not blind: the same file checked to another rule set fails."""
    result = check(samples / name, version="v2.2")
    assert not result.valid
    if name.endswith(".csv"):
        missing = result.log.frame().filter(rule="header.missing_column")["column"]
        assert missing.to_list() == ["estimated_amount"]
    else:
        # v2.2 asks for an estimated amount wherever only a percentage/algorithm is given.
        assert result.log.counts["rule.estimated_amount"] > 0
