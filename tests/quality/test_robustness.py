"""Nonsense in every cell is findings, never a crash; JSON modifier entries obey rule 11."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from tests.quality.builders import ITEM, PAYER_V2, PAYER_V3, TAIL, charge, check, rules, write

NASTY = [
    "", " ", "\t", "N/A", "$", "-", "-0", "0", ".", "..", "1.2.3", "1,2,3", "1e309", "NaN",
    "inf", "1" + "0" * 30, "x" * 5000, "999999999", "é€😀", '"quoted"', "a|b|c", "=SUM(A1)",
    "line\nbreak", "1 through 10", "CPT", "NDC", "other", "Inpatient", "ML", "[payer_name]",
]  # fmt: skip


@pytest.mark.parametrize("layout", ["csv_tall", "csv_wide", "json"])
@pytest.mark.parametrize("version", ["3.0.0", "2.2.0", "2.0.0"])
def test_nonsense_in_every_cell_is_findings_not_a_crash(
    tmp_path: Path, layout: str, version: str
) -> None:
    rng = random.Random(f"{layout}{version}")
    columns = [*ITEM, *(PAYER_V3 if version.startswith("3") else PAYER_V2), *TAIL]
    rows = []
    for _ in range(300):
        row = {c: rng.choice(NASTY) for c in columns}
        row["payer_name"], row["plan_name"] = rng.choice(["Aetna", "", "X|Y"]), "PPO"
        rows.append(row)
    result = check(write(layout, tmp_path / "junk", rows, version))
    assert not result.valid
    assert result.rows > 0
    assert result.log.count("error") > 100
    stored = result.log.frame()
    assert stored["message"].null_count() == 0 and stored["rule"].null_count() == 0


def test_json_modifier_entries_follow_rule_11(tmp_path: Path) -> None:
    path = write("json", tmp_path / "f", [charge()])
    root = json.loads(path.read_text(encoding="utf-8"))
    payers = [{"payer_name": "Aetna", "plan_name": "PPO", "description": "150% adjustment"}]
    root["modifier_information"] = [
        {"description": "Bilateral", "code": "50", "setting": "both",
         "modifier_payer_information": payers},
        {"description": "", "code": "62", "setting": "both",
         "modifier_payer_information": payers},
    ]  # fmt: skip
    path.write_text(json.dumps(root), encoding="utf-8")
    found = check(path)
    # The empty description also breaks the JSON schema's `minLength: 1`.
    assert rules(found) == {"rule.11": 1, "schema.minLength": 1}
    assert found.log.frame().filter(rule="rule.11")["value"].to_list() == ["62"]


def test_quoted_empty_cells_are_blank(tmp_path: Path) -> None:
    """`"",""` (every cell quoted, as some exporters write) is blank, not a value."""
    path = write("csv_tall", tmp_path / "f", [charge(), charge(code__2="611", code__2__type="RC")])
    records = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out, quoting=csv.QUOTE_ALL).writerows(records)
    assert '"",""' in path.read_text(encoding="utf-8")
    found = check(path)
    assert found.valid, found.log.frame().to_dicts()
