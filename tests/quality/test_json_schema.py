"""The JSON schema checks agree with the official CMS JSON schemas.

Differential: the CMS samples, crafted documents and many mutated ones (hypothesis) of every
template version are validated both ways — the official schema through `jsonschema` (tests
only) and ours, streamed as the ingest streams a file — and must give the same verdict and
the same errors at the same JSON paths. Then the checks in the real pass: an error in a late
item of a big file, and a file with an error in every item.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.findings import FindingLog
from devtools.synthetic.json_file import item_json, modifier_information, root_metadata
from devtools.synthetic.model import items, make_hospital
from hpt.pipeline.read import validate_path
from hpt.pipeline.steps import ingest_file
from ingest.json_locate import item_chunks, locate
from quality.json_schema import JsonSchemaCheck, schema_version
from quality.json_schema_versions import VERSIONS, whole_schema
from tests.conftest import ROOT
from warehouse.db import Warehouse, writer

SCHEMAS = ROOT.parent / "shared" / "spec" / "json-schemas"
Found = list[tuple[str, str]]  # sorted (rule id, JSON path) pairs
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def _js_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` as the official validator runs it, in JavaScript: `$` ends the text (Python's
    also matches before a final newline) and `\\d` is 0-9 (Python's is any Unicode digit)."""
    if validator.is_type(instance, "string"):
        js = pattern.replace(r"\d", "[0-9]").replace("$", r"\Z")
        if not re.search(js, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Official = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _js_pattern})


@cache
def _official_validator(version: str) -> Any:
    if not SCHEMAS.is_dir():
        pytest.skip("../shared/spec/json-schemas (the official schemas) is not beside this clone")
    document = json.loads(
        (SCHEMAS / f"V{version}_Hospital_price_transparency_schema.json").read_text()
    )
    return _Official(document, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def official(doc: Any, version: str) -> Found:
    """The official schema's errors as (rule id, path): a `required` error at the missing
    property, anything a `then` requires as `schema.if_then`."""
    found = []
    for error in _official_validator(version).iter_errors(doc):
        path = "".join(f"/{part}" for part in error.absolute_path)
        if error.validator == "required":
            path += "/" + _REQUIRED.match(error.message).group(1)  # type: ignore[union-attr]
        rule = "if_then" if "then" in error.absolute_schema_path else error.validator
        found.append((f"schema.{rule}", path))
    return sorted(found)


def streamed(
    doc: dict[str, Any],
    version: str,
    folder: Path,
    chunk_bytes: int = 1 << 20,
    in_process: bool = False,
) -> Found:
    """Our errors for `doc` written as a file and checked as the ingest checks it (the
    items in a thread, or in a process of their own as for a big file)."""
    path = folder / "doc.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    check = JsonSchemaCheck(
        locate(path), version, cap=10**6, chunk_bytes=chunk_bytes, in_process=in_process
    )
    check.start()
    check.wait()
    log = FindingLog(cap_per_rule=10**6)
    check.close(log)
    return sorted(zip(log.frame()["rule"], log.frame()["column"], strict=True))


def whole(doc: Any, version: str) -> Found:
    """Our exact validator over the whole document at once."""
    return sorted((e.rule, e.path) for e in whole_schema(version).check(doc, ""))


def synthetic(version: str, seed: int = 1) -> dict[str, Any]:
    """A small valid document: shoppable services, a drug with an NDC, chargemaster items."""
    hospital = make_hospital(seed, plans=3)
    rng = random.Random(seed)
    made = [item_json(i, version, frozenset(), rng) for i in items(hospital, 50, seed, version)]
    doc = root_metadata(hospital, version)
    doc["standard_charge_information"] = [made[n] for n in (0, 1, 40, 41, 47, 48)]
    doc["modifier_information"] = modifier_information(hospital, version)
    return doc


def _sample(name: str) -> dict[str, Any] | None:
    path = ROOT.parent / "shared" / "samples" / "cms" / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@cache
def bases(version: str) -> tuple[dict[str, Any], ...]:
    """Valid documents of `version` to mutate: synthetic ones, and the CMS sample."""
    sample = _sample("v3.0.0.json" if version == "3.0.0" else "v2.0.0.json")
    return (synthetic(version), synthetic(version, seed=7), *([sample] if sample else []))


# --- the samples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["v2.0.0.json", "v3.0.0.json"])
@pytest.mark.parametrize("version", VERSIONS)
def test_samples_against_every_version(
    samples: Path, tmp_path: Path, name: str, version: str
) -> None:
    doc = json.loads((samples / "cms" / name).read_text(encoding="utf-8"))
    expected = official(doc, version)
    assert streamed(doc, version, tmp_path) == expected
    assert streamed(doc, version, tmp_path, chunk_bytes=64) == expected  # an item per piece
    assert whole(doc, version) == expected
    # Each sample is valid against its own version (and the v2 sample against every v2).
    assert (expected == []) == (version.startswith("3") == name.startswith("v3"))


@pytest.mark.parametrize("version", VERSIONS)
def test_synthetic_documents_are_valid(version: str, tmp_path: Path) -> None:
    for doc in bases(version):
        assert official(doc, version) == [] == streamed(doc, version, tmp_path, chunk_bytes=256)


# --- crafted documents: one of each kind of error ---------------------------------------

Edit = Callable[[dict[str, Any]], Any]


def known_item(version: str) -> dict[str, Any]:
    """An item with a dollar rate (payer 0) and a percentage (payer 1), valid in `version`."""
    pct: dict[str, Any] = {"payer_name": "Cigna", "plan_name": "HMO",
                           "methodology": "percent of total billed charges",
                           "standard_charge_percentage": 50}  # fmt: skip
    if version == "3.0.0":
        pct |= {"median_amount": 600, "10th_percentile": 500, "90th_percentile": 700, "count": "14"}
    else:
        pct["estimated_amount"] = 600
    dollar = {"payer_name": "Aetna", "plan_name": "PPO", "methodology": "fee schedule",
              "standard_charge_dollar": 400}  # fmt: skip
    charge = {"setting": "outpatient", "gross_charge": 1200, "discounted_cash": 1000,
              "minimum": 300, "maximum": 500, "payers_information": [dollar, pct]}  # fmt: skip
    return {"description": "MRI of brain", "code_information": [{"code": "70551", "type": "CPT"}],
            "standard_charges": [charge]}  # fmt: skip


def crafted_base(version: str) -> dict[str, Any]:
    """A valid document whose item 0 is `known_item` and item 2 a drug with an NDC code."""
    doc = copy.deepcopy(synthetic(version))
    doc["standard_charge_information"][0] = known_item(version)
    return doc


def _charge(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["standard_charge_information"][0]["standard_charges"][0]  # type: ignore[no-any-return]


def _payer(doc: dict[str, Any], n: int) -> dict[str, Any]:
    return _charge(doc)["payers_information"][n]  # type: ignore[no-any-return]


def _unpriced_charge(doc: dict[str, Any]) -> None:
    for key in ("gross_charge", "discounted_cash"):
        del _charge(doc)[key]
    del _payer(doc, 0)["standard_charge_dollar"]


def _unpriced_without_payers(doc: dict[str, Any]) -> None:
    _unpriced_charge(doc)
    _charge(doc)["payers_information"] = []


ITEM0 = "/standard_charge_information/0"
CHARGE0 = f"{ITEM0}/standard_charges/0"
DOLLAR = f"{CHARGE0}/payers_information/0"
PCT = f"{CHARGE0}/payers_information/1"
DRUG = "/standard_charge_information/2/drug_information"
# (case id, version, edit, an error it must give: rule id and JSON path)
CRAFTED: list[tuple[str, str, Edit, tuple[str, str]]] = [
    ("drug-unit-number-v22", "2.2.0", lambda d: d["standard_charge_information"][2]
     ["drug_information"].update(unit=2), ("schema.type", f"{DRUG}/unit")),
    ("drug-unit-text-v3", "3.0.0", lambda d: d["standard_charge_information"][2]
     ["drug_information"].update(unit="2"), ("schema.type", f"{DRUG}/unit")),
    ("modifier-code-number", "2.2.1", lambda d: d["modifier_information"][0].update(code=50),
     ("schema.type", "/modifier_information/0/code")),
    ("code-number", "3.0.0", lambda d: d["standard_charge_information"][0]["code_information"][0]
     .update(code=70551), ("schema.type", f"{ITEM0}/code_information/0/code")),
    ("count-number", "3.0.0", lambda d: _payer(d, 1).update(count=234),
     ("schema.type", f"{PCT}/count")),
    ("count-pattern", "3.0.0", lambda d: _payer(d, 1).update(count="5"),
     ("schema.pattern", f"{PCT}/count")),
    ("plan-name-missing", "2.2.0", lambda d: d["modifier_information"][0]
     ["modifier_payer_information"][0].pop("plan_name"),
     ("schema.required", "/modifier_information/0/modifier_payer_information/0/plan_name")),
    ("address-empty", "3.0.0", lambda d: d.update(hospital_address=[""]),
     ("schema.minLength", "/hospital_address/0")),
    ("location-empty", "3.0.0", lambda d: d.update(location_name=[""]),
     ("schema.minLength", "/location_name/0")),
    ("notes-empty", "3.0.0", lambda d: _payer(d, 0).update(additional_payer_notes=""),
     ("schema.minLength", f"{DOLLAR}/additional_payer_notes")),
    ("algorithm-empty", "3.0.0", lambda d: _payer(d, 0).update(standard_charge_algorithm=""),
     ("schema.minLength", f"{DOLLAR}/standard_charge_algorithm")),
    ("unpriced-payer-v3", "3.0.0", lambda d: _payer(d, 0).pop("standard_charge_dollar"),
     ("schema.anyOf", DOLLAR)),
    ("unpriced-charge-v21", "2.1.0", _unpriced_charge, ("schema.anyOf", CHARGE0)),
    ("no-median-v3", "3.0.0", lambda d: _payer(d, 1).pop("median_amount"),
     ("schema.if_then", f"{PCT}/median_amount")),
    ("no-count-v3", "3.0.0", lambda d: _payer(d, 1).pop("count"),
     ("schema.if_then", f"{PCT}/count")),
    ("count-zero-no-notes", "3.0.0", lambda d: _payer(d, 1).update(count="0"),
     ("schema.if_then", f"{PCT}/additional_payer_notes")),
    ("other-no-notes-v21", "2.1.0", lambda d: _payer(d, 0).update(methodology="other"),
     ("schema.if_then", f"{DOLLAR}/additional_payer_notes")),
    ("other-empty-notes-v22", "2.2.0",
     lambda d: _payer(d, 0).update(methodology="other", additional_payer_notes=""),
     ("schema.if_then", f"{DOLLAR}/additional_payer_notes")),
    ("no-estimate-v22", "2.2.0", lambda d: _payer(d, 1).pop("estimated_amount"),
     ("schema.if_then", f"{PCT}/estimated_amount")),
    ("dollar-no-minimum", "2.2.1", lambda d: _charge(d).pop("minimum"),
     ("schema.if_then", f"{CHARGE0}/minimum")),
    ("ndc-no-drug", "3.0.0", lambda d: d["standard_charge_information"][2].pop("drug_information"),
     ("schema.if_then", DRUG)),
    # v2.2.0's NDC rule read literally: an item without codes needs drug information too.
    ("no-codes-v220", "2.2.0", lambda d: d["standard_charge_information"][0]
     .pop("code_information"), ("schema.if_then", f"{ITEM0}/drug_information")),
    ("setting-case", "3.0.0", lambda d: _charge(d).update(setting="Inpatient"),
     ("schema.enum", f"{CHARGE0}/setting")),
    ("code-type-v3-only", "2.2.0", lambda d: d["standard_charge_information"][0]
     ["code_information"][0].update(type="CMG"),
     ("schema.enum", f"{ITEM0}/code_information/0/type")),
    ("codes-empty", "2.0.0", lambda d: d["standard_charge_information"][0]
     .update(code_information=[]), ("schema.minItems", f"{ITEM0}/code_information")),
    ("payers-empty", "3.0.0", lambda d: _charge(d).update(payers_information=[]),
     ("schema.minItems", f"{CHARGE0}/payers_information")),
    ("payers-empty-unpriced", "3.0.0", _unpriced_without_payers, ("schema.anyOf", CHARGE0)),
    ("no-items", "3.0.0", lambda d: d.update(standard_charge_information=[]),
     ("schema.minItems", "/standard_charge_information")),
    ("dollar-zero", "3.0.0", lambda d: _payer(d, 0).update(standard_charge_dollar=0),
     ("schema.exclusiveMinimum", f"{DOLLAR}/standard_charge_dollar")),
    ("attestation-text", "3.0.0", lambda d: d["attestation"].update(attestation="I attest"),
     ("schema.const", "/attestation/attestation")),
    ("bad-date", "2.1.0", lambda d: d.update(last_updated_on="2026-02-30"),
     ("schema.format", "/last_updated_on")),
    ("state", "2.0.0", lambda d: d["license_information"].update(state="XX"),
     ("schema.enum", "/license_information/state")),
    ("root-key-missing", "3.0.0", lambda d: d.pop("type_2_npi"),
     ("schema.required", "/type_2_npi")),
    ("item-not-object", "3.0.0", lambda d: d["standard_charge_information"].insert(1, "item"),
     ("schema.type", "/standard_charge_information/1")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "edit", "expected"),
    [pytest.param(v, e, x, id=name) for name, v, e, x in CRAFTED],
)
def test_crafted(tmp_path: Path, version: str, edit: Edit, expected: tuple[str, str]) -> None:
    doc = crafted_base(version)
    assert official(doc, version) == []
    edit(doc)
    found = streamed(doc, version, tmp_path, chunk_bytes=128)
    assert found == official(doc, version) == whole(doc, version)
    assert expected in found


def test_extra_root_keys_are_allowed(tmp_path: Path) -> None:
    doc = synthetic("3.0.0") | {"general_contract_provisions": "x", "publisher": {"a": [1]}}
    assert streamed(doc, "3.0.0", tmp_path) == [] == official(doc, "3.0.0")


# --- mutated documents (hypothesis) -----------------------------------------------------

VALUES: list[Any] = ["", "x", 0, -1, 0.5, 234, True, None, [], ["x"], {}, {"a": 1}]
_NUMBER = [50, 0, -1, "50", 1e3, 0.5, None, True]
_TEXT = ["", "x", 5, None, ["x"]]
_TEXTS = [[], [""], ["x"], "x", [1]]
_PAYER = {"payer_name": "A", "plan_name": "B", "methodology": "case rate"}
#: Values tried per key (besides `VALUES`): near misses of each constraint.
NEAR: dict[str, list[Any]] = {
    "count": ["0", 0, "14", "5", "10", "11", "1 through 10", "234", 234, "0234", "120\n", "2١٢"],
    "methodology": ["other", "Other", "fee schedule", "per diem", 3],
    "type": ["NDC", "CPT", "cpt", "CMG", "MS-LTC-DRG", "EA", "ml"],
    "unit": [2, "2", "", 0],
    "setting": ["inpatient", "Inpatient", "both"],
    "payers_information": [
        [_PAYER | {"methodology": "other"}],
        [_PAYER | {"standard_charge_dollar": 5}],
        [_PAYER | {"standard_charge_percentage": 5, "count": "0"}],
        [_PAYER | {"standard_charge_algorithm": "x", "count": "14", "median_amount": 1}],
    ],
    "code_information": [[{"code": "1", "type": "NDC"}], [{"code": "1"}], [{"type": "NDC"}]],
    "drug_information": [{"unit": "1", "type": "UN"}, {"unit": 1, "type": "UN"}, {}],
    "modifier_code": [["26"], [""], "26", [26]],
    "last_updated_on": ["2026-02-30", "2026-01-01", "2026/01/01", 20260101],
    "state": ["CA", "XX", "ca"],
    "confirm_attestation": [False, "true"],
    "confirm_affirmation": [False, "true"],
    **{key: _NUMBER for key in (
        "standard_charge_dollar", "standard_charge_percentage", "estimated_amount",
        "median_amount", "10th_percentile", "90th_percentile", "gross_charge",
        "discounted_cash", "minimum", "maximum")},
    **{key: _TEXT for key in (
        "standard_charge_algorithm", "additional_payer_notes", "additional_generic_notes",
        "description", "payer_name", "plan_name", "code", "attester_name", "version")},
    **{key: _TEXTS for key in (
        "hospital_address", "location_name", "hospital_location", "type_2_npi")},
}  # fmt: skip
KEYS = [*NEAR, "publisher_notes"]
#: Keys whose mere presence matters to a conditional rule.
ADDED = ["standard_charge_dollar", "standard_charge_percentage", "standard_charge_algorithm",
         "count", "median_amount", "estimated_amount", "additional_payer_notes", "gross_charge",
         "discounted_cash", "drug_information", "payers_information"]  # fmt: skip


def _objects(value: Any, path: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every object in a JSON value, with its path (payers far outnumber the rest)."""
    if isinstance(value, dict):
        yield value, path
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in pairs:
        if isinstance(child, dict | list):
            yield from _objects(child, f"{path}/{key}")


def _kind(obj: dict[str, Any], path: str) -> tuple[str, tuple[str, ...]]:
    """Objects alike for the schema: same place (indexes aside) and same keys."""
    return re.sub(r"/[0-9]+", "/*", path), tuple(sorted(obj))


def _edits(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) edits of one object: each key removed or set to near misses, and keys
    the conditional rules look at added; a value of `_DELETE` removes the key."""
    for key in obj:
        yield key, _DELETE
        for value in NEAR.get(key, VALUES[:4])[:8]:
            yield key, value
    for key in ADDED:
        if key not in obj:
            for value in NEAR[key][:3]:
                yield key, value


_DELETE = object()


def single_edits(values: list[Any]) -> Iterator[Any]:
    """Each value once per edit of one of its objects, one object of each kind (`_kind`)
    across all the values."""
    seen = set()
    for value in values:
        for obj, path in list(_objects(value)):
            if _kind(obj, path) in seen:
                continue
            seen.add(_kind(obj, path))
            for key, new in _edits(obj):
                copied = copy.deepcopy(value)
                target = copied
                for part in path.strip("/").split("/") if path else []:
                    target = target[int(part) if isinstance(target, list) else part]
                if new is _DELETE:
                    del target[key]
                else:
                    target[key] = copy.deepcopy(new)
                yield copied


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_single_edit_of_items(version: str, in_process: bool, tmp_path: Path) -> None:
    """Every item of the base documents, edited once in each object of each kind (a key
    removed, or set to a near miss of a constraint): all in one file, checked in small
    pieces so that valid and broken items share pieces."""
    for base in bases(version):
        edited = list(single_edits(base["standard_charge_information"]))
        doc = base | {"standard_charge_information": edited}
        expected = official(doc, version)
        assert len(expected) > len(edited) // 4
        assert streamed(doc, version, tmp_path, 4096, in_process) == expected
        assert whole(doc, version) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_every_single_edit_of_the_root(version: str) -> None:
    for base in bases(version):
        root = {k: v for k, v in base.items() if k != "standard_charge_information"}
        for edited in single_edits([root]):
            doc = edited | {"standard_charge_information": base["standard_charge_information"][:1]}
            assert whole(doc, version) == official(doc, version)


@st.composite
def mutated(draw: st.DrawFn, version: str) -> dict[str, Any]:
    """A valid document of `version` with two to five random edits of its objects: a key
    removed, or set to a near miss of its constraints or a value of another type."""
    doc = copy.deepcopy(draw(st.sampled_from(bases(version))))
    for _ in range(draw(st.integers(2, 5))):
        target, path = draw(st.sampled_from(list(_objects(doc))))
        key = draw(st.sampled_from(list(target) or KEYS) | st.sampled_from(KEYS))
        if path == "" and key == "standard_charge_information":  # the reader needs an array
            target[key] = [] if draw(st.booleans()) else target[key]
        elif key in target and draw(st.booleans()):
            del target[key]
        else:
            near = NEAR.get(key, [])
            pool = (
                st.sampled_from(near) | st.sampled_from(VALUES) if near else st.sampled_from(VALUES)
            )
            target[key] = copy.deepcopy(draw(pool))
    return doc


@pytest.mark.parametrize("version", VERSIONS)
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_documents(version: str, data: st.DataObject, tmp_path_factory: Any) -> None:
    doc = data.draw(mutated(version))
    chunk = data.draw(st.sampled_from([64, 700, 1 << 20]))
    expected = official(doc, version)
    assert whole(doc, version) == expected
    assert streamed(doc, version, tmp_path_factory.mktemp("m"), chunk) == expected


# --- pieces of the item array -----------------------------------------------------------


def test_pieces_hold_every_item_once(tmp_path: Path) -> None:
    doc = synthetic("3.0.0")
    path = tmp_path / "f.json"
    for indent in (None, 2):
        path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
        layout = locate(path)
        for size in (1, 300, 5000, 1 << 20):
            chunks = item_chunks(path, layout.start, layout.end, size)
            got = [item for chunk in chunks for item in json.loads(bytes(chunk))]
            assert got == doc["standard_charge_information"]


def test_a_cut_inside_an_item_is_mended(tmp_path: Path) -> None:
    """An unknown nested object that starts like an item (`}, {"description":`) can be cut
    before: the two pieces around the cut are checked joined, with the right indexes."""
    doc = synthetic("3.0.0")
    inner = [{"a": 1}, {"description": "not an item"}]
    doc["standard_charge_information"][3]["notes"] = inner
    doc["standard_charge_information"][4]["code_information"][0]["code"] = 5
    found = streamed(doc, "3.0.0", tmp_path, chunk_bytes=64)
    assert (
        found
        == official(doc, "3.0.0")
        == [("schema.type", "/standard_charge_information/4/code_information/0/code")]
    )


def test_schema_version() -> None:
    assert schema_version("2.2.0", "2.2.1") == "2.2.1"
    assert schema_version("2.2.0", "2.2.0") == schema_version("2.2.0", None) == "2.2.0"
    assert schema_version("3.0.0", "2.2.1") == "3.0.0"  # `--version v3.0` wins


# --- in the ingest's pass ---------------------------------------------------------------


def items_file(path: Path, n_items: int, edit: Callable[[int, dict[str, Any]], None]) -> int:
    """A v3 file of `n_items` small synthetic items (one payer), streamed to disk, each
    passed through `edit(index, item)`; returns the payer rows it holds."""
    hospital = make_hospital(3, plans=1)
    rng = random.Random(3)
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(root_metadata(hospital, "3.0.0"))[:-1])
        out.write(', "standard_charge_information": [\n')
        for index, item in enumerate(items(hospital, n_items, 3, "3.0.0")):
            doc = item_json(item, "3.0.0", frozenset(), rng)
            edit(index, doc)
            rows += sum(len(c.get("payers_information") or [0]) for c in doc["standard_charges"])
            out.write(("" if index == 0 else ",\n") + json.dumps(doc))
        out.write("\n]}")
    return rows


@pytest.mark.slow
def test_wrong_type_in_a_late_item(tmp_path: Path, wh: Warehouse) -> None:
    """Item 50,000 has a code given as a number: reported with its path, in `hpt validate`
    and in the ingest alike, and every item is loaded."""
    late = 50_000

    def code_as_number(index: int, item: dict[str, Any]) -> None:
        if index == late:
            item["code_information"][0]["code"] = 12345

    path = tmp_path / "late.json"
    rows = items_file(path, late + 100, code_as_number)
    where = f"/standard_charge_information/{late}/code_information/0/code"
    validated = validate_path(path)
    assert validated.log.by_rule() == {"schema.type": 1}
    found = validated.log.frame().to_dicts()[0]
    assert (found["row_no"], found["column"], found["value"]) == (late, where, "12345")
    assert validated.rows == rows and not validated.valid
    loaded = ingest_file(path, wh, publish_after=False)
    assert loaded.rows == rows and loaded.findings == {"schema.type": 1}
    with writer(wh) as con:
        stored = con.execute(
            'SELECT row_no, "column" FROM findings WHERE file_id = ?', [loaded.file_id]
        ).fetchall()
        item_count = con.execute(
            "SELECT item_count FROM files WHERE file_id = ?", [loaded.file_id]
        ).fetchone()
    assert stored == [(late, where)] and item_count == (late + 100,)


@pytest.mark.slow
def test_an_error_in_every_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200,000 items, each with an empty payer note: exact counts, stored detail capped."""
    monkeypatch.setenv("HPT_FINDINGS_CAP", "50")
    n_items = 200_000

    def empty_note(index: int, item: dict[str, Any]) -> None:
        item["standard_charges"][0]["payers_information"][0]["additional_payer_notes"] = ""

    path = tmp_path / "broken.json"
    rows = items_file(path, n_items, empty_note)
    validated = validate_path(path)
    assert validated.rows == rows
    assert validated.log.by_rule() == {"schema.minLength": n_items}
    stored = validated.log.frame()
    assert stored.height == 50 and stored["row_no"].to_list() == list(range(50))
    # Stopped early, the check says how many errors it had found.
    early = validate_path(path, max_errors=1000)
    assert early.stopped_after is not None and early.stopped_after >= 1000
