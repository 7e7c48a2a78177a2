"""The GX objects kept for a process judge each file as a fresh context would, and keep
nothing of the files they judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quality import gx_duckdb, gx_session
from quality.validate import Outcome
from tests.quality.batches import edited, loaded_batch


def judged(
    gate: gx_session.ChargesGate, path: Path, rows: int, name: str, in_memory: bool = False
) -> list[Outcome]:
    parameters = {"reader_rows": rows, "min_rows": rows + 1}
    return gate.validate(name, str(path), parameters, rows=rows if in_memory else None)


def test_memo_and_kept_context_change_no_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch failing several ways (blocking, hold, warnings with samples): the kept gate
    with the configuration memo, reading a small batch from memory, gives exactly the
    outcomes of a fresh one without the memo reading the Parquet parts."""
    path, rows = loaded_batch(tmp_path, n_items=60, seed=3)
    bad = edited(path, tmp_path / "bad.parquet",
                 replace="-gross_charge AS gross_charge, 'XYZ' AS setting")  # fmt: skip
    kept = gx_session.ChargesGate(None, 1e7)
    first = [judged(kept, p, rows, f"f{n}", True) for n, p in enumerate((path, bad, path))]
    cursor = kept._memory.cursor()
    cursor.execute("SHOW TABLES")
    assert cursor.fetchall() == []  # the copies are dropped
    monkeypatch.setattr(gx_session, "MEMOISE", False)
    monkeypatch.setattr(gx_session, "FAST_IDS", False)
    plain = [judged(gx_session.ChargesGate(None, 1e7), p, rows, "f") for p in (path, bad)]
    assert [o.as_dict() for o in first[1]] == [o.as_dict() for o in plain[1]]
    assert [o.as_dict() for o in first[0]] == [o.as_dict() for o in plain[0]]
    assert [o.as_dict() for o in first[2]] == [o.as_dict() for o in plain[0]]
    failed = {(o.expectation, o.column) for o in first[1] if not o.success}
    assert ("expect_column_values_to_be_between", "gross_charge") in failed
    assert ("expect_column_values_to_be_in_set", "setting") in failed
    assert ("expect_table_row_count_to_be_between", None) in failed  # min_rows: held


def test_the_memo_applies_to_this_gx_version() -> None:
    """Fails loudly if GX renames what the memo wraps."""
    from great_expectations.expectations.expectation import Expectation

    assert gx_session.memoise_configurations()
    assert gx_session.memoise_configurations()  # idempotent
    assert getattr(Expectation.__dict__["configuration"].fget, "_hpt_memo", False)


def test_fast_metric_ids_are_gx_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain-data path gives GX's own id for plain kwargs, and leaves the rest to GX."""
    import enum

    import numpy as np
    from great_expectations.core.id_dict import IDDict

    class Kind(enum.StrEnum):
        A = "a"

    assert gx_session.fast_metric_ids()
    assert gx_session.fast_metric_ids()  # idempotent
    assert getattr(IDDict.__dict__["to_id"], "_hpt_fast", False)
    cases = [
        IDDict(batch_id="charges-f1", column="setting", row_condition=None, condition_parser=None),
        IDDict(value_set=[True], mostly=0.95, result_format={"result_format": "BASIC"}),
        IDDict(a=float("nan"), b=float("inf"), c=(1, "x", None), d={1: IDDict(q=[2.5, False])}),
        IDDict(column="x"),
        IDDict(),
        IDDict(a=np.int64(3), b=Kind.A, c=np.float32(0.1)),  # left to GX
    ]
    fast = [d.to_id() for d in cases]
    monkeypatch.setattr(gx_session, "FAST_IDS", False)
    assert fast == [d.to_id() for d in cases]
    assert fast[0] != IDDict(cases[0], batch_id="charges-f2").to_id()


def test_a_kept_gate_holds_nothing_of_past_files(tmp_path: Path) -> None:
    path, rows = loaded_batch(tmp_path, n_items=20, seed=4)
    gate = gx_session.ChargesGate(tmp_path / "docs", 1e7)
    for n in range(3):
        judged(gate, path, rows, f"file-{n}")
    engine = gate.source.get_execution_engine()
    assert [(a.name, a.query) for a in gate.source.assets] == [("hpt-idle", "SELECT 1")]
    assert engine.batch_manager.batch_data_cache == {} and engine._metric_cache == {}
    assert [d.name for d in gate.ctx.validation_definitions.all()] == []
    assert [s.name for s in gate.ctx.suites.all()] == [gate.suite.name]
    stored = sorted(p.name for p in (tmp_path / "docs" / "results").rglob("*.json"))
    assert stored == [f"charges-file-{n}.json" for n in range(3)]
    gx_duckdb.forget_batches(gate.source)  # idempotent


def test_one_gate_per_docs_folder_and_ceiling(tmp_path: Path) -> None:
    gx_session.drop()
    gate = gx_session.charges_gate(tmp_path / "a", 1e7)
    assert gx_session.charges_gate(tmp_path / "a", 1e7) is gate
    assert gx_session.charges_gate(tmp_path / "b", 1e7) is not gate
    assert gx_session.charges_gate(tmp_path / "b", 5.0).key == (tmp_path / "b", 5.0)


def stored(docs: Path) -> list[dict[str, Any]]:
    """The stored results under `docs`, in name order, without what differs per run (ids,
    times, the in-memory table's name)."""
    found = []
    for path in sorted((docs / "results").rglob("*.json"), key=lambda p: (p.name, p.parent)):
        result = json.loads(path.read_text())
        result.pop("id", None)
        for key in ("validation_id", "run_id", "validation_time", "batch_markers"):
            result["meta"].pop(key)
        result["meta"]["batch_spec"].pop("query")
        for item in result["results"]:
            item["expectation_config"].pop("id")
        found.append({"file": path.name, "at": path.parent.parent.name, **result})
    return found


def test_direct_run_and_kept_asset_store_what_a_definition_per_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validating without the definition's store round trips, through one asset renamed per
    file: the same outcomes and the same stored results (a failing batch stores its sample
    run too), named after the file."""
    from quality import validate

    path, rows = loaded_batch(tmp_path, n_items=30, seed=5)
    bad = edited(path, tmp_path / "bad.parquet", replace="-gross_charge AS gross_charge")
    assert validate.direct_run()
    seen = {}
    for direct in (True, False):
        monkeypatch.setattr(validate, "DIRECT_RUN", direct)
        monkeypatch.setattr(gx_session, "KEEP_ASSET", direct)
        docs = tmp_path / f"docs-{direct}"
        gate = gx_session.ChargesGate(docs, 1e7)
        outcomes = [[o.as_dict() for o in judged(gate, p, rows, n, True)]
                    for n, p in (("good", path), ("bad", bad))]  # fmt: skip
        assert [d.name for d in gate.ctx.validation_definitions.all()] == []
        assert [a.name for a in gate.source.assets] == (["hpt-idle"] if direct else [])
        seen[direct] = outcomes, stored(docs)
    assert seen[True] == seen[False]
    assert [r["file"] for r in seen[True][1]] == ["charges-bad.json"] * 2 + ["charges-good.json"]


def test_the_pages_to_render_are_found_as_in_a_list() -> None:
    """`build_docs` hands GX its new results as a list with a set's membership test."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from quality.gate import _Keys

    def key(n: int) -> ValidationResultIdentifier:
        suite = ExpectationSuiteIdentifier(name="standard_charges")
        return ValidationResultIdentifier(suite, RunIdentifier(run_time=f"2026-01-0{n}"), f"b{n}")

    keys = _Keys([key(1), key(2)])
    assert keys == [key(1), key(2)] and bool(keys) and not _Keys([])
    assert key(1) in keys and key(3) not in keys  # equal keys, not the same objects
