"""The fast path of the JSON schema checks: msgspec structs per version, and the
conditional rules over decoded structs.

msgspec decodes a piece of the item array straight into typed structs built from the
schema (`item_type`): types, required properties, `minLength`, enums, `const`, `minItems`
and `exclusiveMinimum` are all checked in C while it parses (~3 s of CPU per GB). What a
type cannot say — `anyOf` and `if`/`then` — is checked over the structs by `suspects`, a
loop written per version for speed, and so is the v3 `count` pattern. A piece that decodes
and has no suspect is valid; the rest goes to the exact validator
(`quality.json_schema_model`), which is the one that reports. The fast path may send a
valid item there, never pass an invalid one (the differential tests hold both to the
official schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from quality.json_schema_model import Array, Boolean, Const, Number, Object, Text
from quality.json_schema_versions import COUNT, schema

#: Struct attribute names for keys that are not Python names.
ATTRS = {"10th_percentile": "p10", "90th_percentile": "p90"}


def _type(node: Any, name: str) -> Any:
    """The msgspec type that accepts exactly what `node` accepts, but for the conditional
    rules and patterns, which `suspects` checks."""
    if isinstance(node, Text):
        if node.date:
            raise ValueError("format: date is checked by the exact validator only")
        if node.enum is not None:
            return Literal[node.enum]
        # A pattern (only v3 payers' `count` has one) is left to `suspects`: msgspec would
        # call Python's `re` for each value, a fifth of the decoding time.
        return Annotated[str, Meta(min_length=node.min_length)] if node.min_length else str
    if isinstance(node, Number):
        return Annotated[float, Meta(gt=0)] if node.positive else float
    if isinstance(node, Boolean):
        return bool
    if isinstance(node, Const):
        return Literal[node.value]
    if isinstance(node, Array):
        inner: Any = list[_type(node.items, name)]  # type: ignore[misc]
        return Annotated[inner, Meta(min_length=node.min_items)] if node.min_items else inner
    assert isinstance(node, Object) and node.typed
    fields: list[Any] = []
    for key, child in node.properties.items():
        attr = ATTRS.get(key, key)
        kind = _type(child, f"{name}_{attr}")
        if key in node.required:
            fields.append((attr, kind, msgspec.field(name=key)))
        else:
            fields.append((attr, kind | UnsetType, msgspec.field(default=UNSET, name=key)))
    return msgspec.defstruct(name, fields, kw_only=True, gc=False)


@cache
def item_type(version: str) -> Any:
    """The struct of one item of `version` (built once)."""
    return _type(schema(version).item, f"Item_{version.replace('.', '_')}")


@cache
def decoder(version: str) -> msgspec.json.Decoder[Any]:
    """Decodes a JSON array of items of `version` into a list of structs."""
    return msgspec.json.Decoder(list[item_type(version)])  # type: ignore[misc]


def _unlabelled_ndc(item: Any) -> bool:
    """An NDC code without drug information."""
    return item.drug_information is UNSET and any(
        code.type == "NDC" for code in item.code_information
    )


def _unpriced_item(charge: Any) -> bool:
    """A charge with no payer, no gross charge and no discounted cash."""
    return (
        charge.payers_information is UNSET
        and charge.gross_charge is UNSET
        and charge.discounted_cash is UNSET
    )


def _suspect_v2(item: Any, ndc: bool, estimated: bool) -> bool:
    """v2.1.0 and v2.2.x conditional rules over a decoded item; True if one may be broken."""
    if ndc and _unlabelled_ndc(item):
        return True
    for charge in item.standard_charges:
        if _unpriced_item(charge):
            return True
        payers = charge.payers_information
        if payers is UNSET:
            continue
        dollar = False
        priced = True
        for payer in payers:
            if payer.standard_charge_dollar is not UNSET:
                dollar = True
            elif (
                payer.standard_charge_percentage is UNSET
                and payer.standard_charge_algorithm is UNSET
            ):
                priced = False
            elif estimated and payer.estimated_amount is UNSET:
                return True
            if payer.methodology == "other" and not payer.additional_payer_notes:
                return True
        if dollar and (charge.minimum is UNSET or charge.maximum is UNSET):
            return True
        if not priced and charge.gross_charge is UNSET and charge.discounted_cash is UNSET:
            return True
    return False


#: `count` texts seen, and whether they match the v3 pattern (a few hundred in a file).
_COUNTS: dict[str, bool] = {}


def _count_ok(count: str) -> bool:
    known = _COUNTS.get(count)
    if known is None:
        known = COUNT.fullmatch(count) is not None
        if len(_COUNTS) < 100_000:
            _COUNTS[count] = known
    return known


def _suspect_v3(item: Any) -> bool:
    """v3.0.0 conditional rules (and the `count` pattern) over a decoded item; True if one
    may be broken."""
    if _unlabelled_ndc(item):
        return True
    for charge in item.standard_charges:
        if _unpriced_item(charge):
            return True
        payers = charge.payers_information
        if payers is UNSET:
            continue
        dollar = False
        for payer in payers:
            count = payer.count
            if count is not UNSET and not _count_ok(count):
                return True
            dollar_only = (
                payer.standard_charge_percentage is UNSET
                and payer.standard_charge_algorithm is UNSET
            )
            if dollar_only:
                if payer.standard_charge_dollar is UNSET:
                    return True
                dollar = True
            else:
                if payer.standard_charge_dollar is not UNSET:
                    dollar = True
                if count is UNSET:
                    return True
                if count != "0" and (
                    payer.median_amount is UNSET or payer.p10 is UNSET or payer.p90 is UNSET
                ):
                    return True
            if payer.additional_payer_notes is UNSET and (
                count == "0" or payer.methodology == "other"
            ):
                return True
        if dollar and (charge.minimum is UNSET or charge.maximum is UNSET):
            return True
    return False


def suspects(items: Sequence[Any], version: str) -> list[int]:
    """Indexes of the decoded items that may break a conditional rule of `version`."""
    if version == "2.0.0":
        return []
    if version == "3.0.0":
        return [n for n, item in enumerate(items) if _suspect_v3(item)]
    ndc = estimated = version != "2.1.0"
    return [n for n, item in enumerate(items) if _suspect_v2(item, ndc, estimated)]


def passes(value: Any, version: str) -> bool:
    """A decoded (untyped) item passes the whole schema: converted to its struct, no suspect."""
    try:
        item = msgspec.convert(value, item_type(version))
    except msgspec.ValidationError:
        return False
    return not suspects([item], version)
