"""A warehouse's own payer aliases: read from their versioned CSV, merged over the shipped
registry (local wins), and the payer map they give."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pytest

from transform.local_aliases import append, digest, read
from transform.payers import candidates, canonical_name, close_payers, payer_map, rules

AT = dt.datetime(2026, 3, 1, 12, 0)


def test_the_latest_row_for_an_alias_wins(tmp_path: Path) -> None:
    path = tmp_path / "aliases.csv"
    append(path, "Acme Health", "Aetna", AT)
    append(path, "ACME HEALTH [123]", "Cigna", AT)  # the same alias, normalised: replaces
    append(path, "Zeta Care", "Humana", AT)
    append(path, "Zeta Care", "", AT)  # withdrawn
    assert read(path) == (("ACME HEALTH [123]", "Cigna"),)
    assert read(tmp_path / "none.csv") == () and read(None) == ()


def test_the_csv_holds_any_spelling(tmp_path: Path) -> None:
    path = tmp_path / "aliases.csv"
    odd = 'Acme, "Health"\nPlan =1+2'
    append(path, odd, "Aetna", AT)
    assert read(path) == ((odd, "Aetna"),)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "alias,payer,added_at"


def test_a_row_naming_no_registry_payer_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "aliases.csv"
    append(path, "Acme Health", "Acme Mutual Insurance", AT)
    append(path, "Zeta Care", "Humana", AT)
    with caplog.at_level(logging.WARNING, logger="hpt.payers"):
        assert read(path) == (("Zeta Care", "Humana"),)
    assert "row 2" in caplog.text and "Acme Mutual Insurance" in caplog.text


def test_a_local_alias_wins_over_the_shipped_ones() -> None:
    assert rules().match("Healthfirst") is None  # ambiguous: New York or Florida
    local = (("Healthfirst", "Healthfirst (New York)"), ("Acme Helth Partners", "Aetna"))
    mine = rules(local)
    assert mine.match("HEALTHFIRST [4411]") == "Healthfirst (New York)"
    assert mine.match("Acme Helth Partners") == "Aetna"
    assert mine.match("Acme Helth Partners PPO") == "Aetna"  # an alias inside a longer name
    assert rules().match("Acme Helth Partners") is None  # the shipped rules are unchanged
    pairs = pl.DataFrame({"payer_name": ["Acme Helth Partners"], "plan_name": ["Gold"]})
    assert payer_map(pairs, local).select("payer", "payer_matched", "match_method").rows() == [
        ("Aetna", True, "exact")
    ]
    assert payer_map(pairs)["payer_matched"].to_list() == [False]


def test_a_local_alias_longer_than_any_shipped_one() -> None:
    long = "The Very Long Named Regional Employee Benefit Trust Of Greater Acme County"
    assert rules(((long, "Union or trust fund"),)).match(long) == "Union or trust fund"


def test_digest_follows_the_aliases_in_force() -> None:
    assert digest(()) is None
    assert digest((("a", "Aetna"),)) != digest((("a", "Cigna"),))


def test_review_aids() -> None:
    assert canonical_name(" aetna ") == "Aetna" and canonical_name("Aetnna") is None
    assert close_payers("Aetnna")[0] == "Aetna"
    assert close_payers("Multi Plan Inc")[0] == "MultiPlan"
    assert candidates("Humanna Gold")[0][0] == "Humana"
    assert candidates("[123]") == []
    assert candidates("Acme Helth", local=(("Acme Helth", "Aetna"),))[0] == ("Aetna", 100.0)
