"""The official CMS JSON schemas — v2.0.0, v2.1.0, v2.2.0, v2.2.1, v3.0.0 — in our schema
language (`quality.json_schema_model`), one `Schema` per version.

What changes between versions:
- v2.1.0 adds the conditional rules: a charge needs a gross charge, a discounted cash price
  or payers that each have a dollar amount, percentage or algorithm (`anyOf`); a payer with
  a dollar amount makes the charge's `minimum` and `maximum` required; methodology `other`
  requires non-empty payer notes. It drops the payer's `estimated_amount`.
- v2.2.0 adds `drug_information` (unit as text) and `modifier_information`, brings back
  `estimated_amount`, required when a payer has a percentage or algorithm and no dollar
  amount, and requires `drug_information` of an item with an NDC code. Its NDC condition
  names neither `code_information` nor a code's `type` as required, so an item without
  codes, or with a code without a type, is held to it too; v2.2.1 fixes that.
- v3.0.0: `location_name`, `type_2_npi`, `attestation` (with `attester_name`) in the root;
  drug unit a number; `modifier_code`; payer `median_amount`, `10th_percentile`,
  `90th_percentile` and `count` (text, `0`, `1 through 10` or a whole number ≥ 11); every
  payer needs a dollar amount, percentage or algorithm; a percentage or algorithm needs
  `count` and, unless `count` is `0`, median and percentiles; `count` `0` needs notes;
  non-empty notes, algorithms, addresses and locations; the two v3 code types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from quality.json_schema_model import (
    AnyOf,
    Array,
    Boolean,
    Const,
    IfThen,
    Number,
    Object,
    Text,
)

VERSIONS = ("2.0.0", "2.1.0", "2.2.0", "2.2.1", "3.0.0")
ARRAY_KEY = "standard_charge_information"

AFFIRMATION_V2 = (
    "To the best of its knowledge and belief, the hospital has included all applicable "
    "standard charge information in accordance with the requirements of 45 CFR 180.50, and "
    "the information encoded is true, accurate, and complete as of the date indicated."
)
ATTESTATION_V3 = (
    "To the best of its knowledge and belief, this hospital has included all applicable "
    "standard charge information in accordance with the requirements of 45 CFR 180.50, and "
    "the information encoded is true, accurate, and complete as of the date in the file. "
    "This hospital has included all payer-specific negotiated charges in dollars that can be "
    "expressed as a dollar amount. For payer-specific negotiated charges that cannot be "
    "expressed as a dollar amount in the machine-readable file or not knowable in advance, "
    "the hospital attests that the payer-specific negotiated charge is based on a "
    "contractual algorithm, percentage or formula that precludes the provision of a dollar "
    "amount and has provided all necessary information available to the hospital for the "
    "public to be able to derive the dollar amount, including, but not limited to, the "
    "specific fee schedule or components referenced in such percentage, algorithm or formula."
)
# The schemas' vocabularies, as they list them (the same as `core.schema`'s, which this
# module does not import: it runs in a process of its own, where Polars would only cost).
CODE_TYPES_V2 = ("CPT", "HCPCS", "ICD", "DRG", "MS-DRG", "R-DRG", "S-DRG", "APS-DRG", "AP-DRG",
                 "APR-DRG", "TRIS-DRG", "APC", "NDC", "HIPPS", "LOCAL", "EAPG", "CDT", "RC",
                 "CDM")  # fmt: skip
CODE_TYPES_V3 = (*CODE_TYPES_V2, "CMG", "MS-LTC-DRG")
SETTINGS = ("inpatient", "outpatient", "both")
METHODOLOGIES = ("case rate", "fee schedule", "percent of total billed charges", "per diem",
                 "other")  # fmt: skip
DRUG_UNIT_TYPES = ("GR", "ML", "ME", "UN", "F2", "GM", "EA")
#: The schema's licensing states (US states, DC and territories, as the schema lists them).
STATES = (
    "AL", "AK", "AS", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FM", "FL", "GA", "GU", "HI",
    "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MH", "MD", "MA", "MI", "MN", "MS", "MO",
    "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "MP", "OH", "OK", "OR", "PW", "PA",
    "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VI", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
#: v3 `count`, matched as a whole (the schema's `^…$` in the validator's JavaScript).
COUNT = re.compile(r"0|1 through 10|1[1-9]|[2-9][0-9]+|[1-9][0-9]{2,}")
DOLLAR, PERCENTAGE, ALGORITHM = (
    "standard_charge_dollar",
    "standard_charge_percentage",
    "standard_charge_algorithm",
)
NOTES = "additional_payer_notes"


@dataclass(frozen=True)
class Schema:
    """One version's schema: the root object (without the item array) and one item."""

    version: str
    root: Object
    item: Object


def _has(key: str) -> Any:
    return lambda value: isinstance(value, dict) and key in value


def _lacks_or_has(key: str) -> Any:
    """`{"required": [key]}` alone: true of any value that is not an object."""
    return lambda value: not isinstance(value, dict) or key in value


def _priced(payer: Any) -> bool:
    return isinstance(payer, dict) and any(key in payer for key in (DOLLAR, PERCENTAGE, ALGORITHM))


def _priced_payers(min_items: int) -> Any:
    def holds(charge: Any) -> bool:
        payers = charge.get("payers_information") if isinstance(charge, dict) else None
        return isinstance(payers, list) and len(payers) >= min_items and all(map(_priced, payers))

    return holds


def _dollar_payer(charge: Any) -> bool:
    payers = charge.get("payers_information") if isinstance(charge, dict) else None
    return isinstance(payers, list) and any(isinstance(p, dict) and DOLLAR in p for p in payers)


def _ndc(item: Any) -> bool:
    codes = item.get("code_information") if isinstance(item, dict) else None
    return isinstance(codes, list) and any(
        isinstance(c, dict) and c.get("type") == "NDC" for c in codes
    )


def _ndc_v220(item: Any) -> bool:
    """v2.2.0's condition: no codes at all, or a code whose type is NDC or missing."""
    if not isinstance(item, dict):
        return False
    if "code_information" not in item:
        return True
    codes = item["code_information"]
    return isinstance(codes, list) and any(
        isinstance(c, dict) and c.get("type", "NDC") == "NDC" for c in codes
    )


def _other(payer: Any) -> bool:
    return isinstance(payer, dict) and payer.get("methodology") == "other"


def _percentage_or_algorithm(payer: Any) -> bool:
    return isinstance(payer, dict) and (PERCENTAGE in payer or ALGORITHM in payer)


def _count_zero(payer: Any) -> bool:
    return isinstance(payer, dict) and payer.get("count") == "0"


def _needs(*keys: str, **properties: Any) -> Object:
    return Object(properties, required=keys, typed=False)


def _enum(values: tuple[str, ...], label: str = "") -> Text:
    return Text(enum=values, label=label)


def _payer(version: str) -> Object:
    v3 = version == "3.0.0"
    text = Text(min_length=1 if v3 else 0)
    props: dict[str, Any] = {
        "payer_name": Text(min_length=1),
        "plan_name": Text(min_length=1),
        NOTES: text,
        DOLLAR: Number(),
        ALGORITHM: text,
        PERCENTAGE: Number(),
        "methodology": _enum(METHODOLOGIES),
    }
    if version != "2.1.0" and not v3:
        props["estimated_amount"] = Number()
    rules: list[AnyOf | IfThen] = []
    if v3:
        props |= {"median_amount": Number(), "10th_percentile": Number(),
                  "90th_percentile": Number()}  # fmt: skip
        props["count"] = Text(pattern=COUNT, label="`0`, `1 through 10` or a whole number ≥ 11")
        rules = [
            AnyOf(
                tuple(_lacks_or_has(key) for key in (DOLLAR, PERCENTAGE, ALGORITHM)),
                f"a payer needs `{DOLLAR}`, `{PERCENTAGE}` or `{ALGORITHM}`",
            ),
            IfThen(_other, _needs(NOTES), "methodology is `other`"),
            IfThen(_percentage_or_algorithm, _needs("count"), "a percentage or algorithm"),
            IfThen(
                lambda p: _percentage_or_algorithm(p) and not _count_zero(p),
                _needs("median_amount", "10th_percentile", "90th_percentile"),
                "a percentage or algorithm and `count` not `0`",
            ),
            IfThen(_count_zero, _needs(NOTES), "`count` is `0`"),
        ]
    elif version != "2.0.0":
        notes = _needs(NOTES, **{NOTES: Text(min_length=1)})
        rules = [IfThen(_other, notes, "methodology is `other`")]
        if version != "2.1.0":
            rules.append(
                IfThen(
                    lambda p: _percentage_or_algorithm(p) and DOLLAR not in p,
                    _needs("estimated_amount"),
                    "a percentage or algorithm without a dollar amount",
                )
            )
    return Object(props, ("payer_name", "plan_name", "methodology"), tuple(rules))


def _charge(version: str) -> Object:
    v3 = version == "3.0.0"
    props: dict[str, Any] = {
        "minimum": Number(),
        "maximum": Number(),
        "gross_charge": Number(),
        "discounted_cash": Number(),
        "setting": _enum(SETTINGS),
    }
    if v3:
        props["modifier_code"] = Array(Text(min_length=1), min_items=1)
    props["payers_information"] = Array(_payer(version), min_items=1)
    props["additional_generic_notes"] = Text(min_length=1 if v3 else 0)
    rules: tuple[AnyOf | IfThen, ...] = ()
    if version != "2.0.0":
        rules = (
            AnyOf(
                (_has("gross_charge"), _has("discounted_cash"), _priced_payers(1 if v3 else 0)),
                "a charge needs `gross_charge`, `discounted_cash`, or payers that each have a "
                "dollar amount, percentage or algorithm",
            ),
            IfThen(_dollar_payer, _needs("minimum", "maximum"), "a payer has a dollar amount"),
        )
    return Object(props, ("setting",), rules)


def _item(version: str) -> Object:
    code_types = CODE_TYPES_V3 if version == "3.0.0" else CODE_TYPES_V2
    code = Object(
        {"code": Text(min_length=1), "type": _enum(code_types, "a CMS code type")},
        ("code", "type"),
    )
    props: dict[str, Any] = {"description": Text(min_length=1)}
    rules: tuple[IfThen, ...] = ()
    if version not in ("2.0.0", "2.1.0"):
        unit = Number() if version == "3.0.0" else Text(min_length=1)
        props["drug_information"] = Object(
            {"unit": unit, "type": _enum(DRUG_UNIT_TYPES)}, ("unit", "type")
        )
        ndc = _ndc_v220 if version == "2.2.0" else _ndc
        rules = (IfThen(ndc, _needs("drug_information"), "an NDC code"),)
    props["code_information"] = Array(code, min_items=1)
    props["standard_charges"] = Array(_charge(version), min_items=1)
    return Object(props, ("description", "code_information", "standard_charges"), rules)


def _modifier(version: str) -> Object:
    texts = ("payer_name", "plan_name", "description")
    payer = Object({name: Text(min_length=1) for name in texts}, texts)
    props: dict[str, Any] = {
        "description": Text(min_length=1),
        "code": Text(min_length=1),
        "modifier_payer_information": Array(payer, min_items=1),
    }
    if version == "3.0.0":
        props["setting"] = _enum(SETTINGS)
    return Object(props, ("description", "modifier_payer_information", "code"))


def _root(version: str) -> Object:
    v3 = version == "3.0.0"
    texts = Array(Text(min_length=1 if v3 else 0), min_items=1)
    license_info = Object(
        {
            "license_number": Text(min_length=1),
            "state": _enum(STATES, "a two-letter US state or territory code"),
        },
        ("state",),
    )
    props: dict[str, Any] = {
        "hospital_name": Text(min_length=1),
        "hospital_address": texts,
        "last_updated_on": Text(date=True),
        "license_information": license_info,
        "version": Text(min_length=1),
    }
    if v3:
        statement = Object(
            {
                "attestation": Const(ATTESTATION_V3, "the CMS attestation statement"),
                "confirm_attestation": Boolean(),
                "attester_name": Text(min_length=1),
            },
            ("attestation", "confirm_attestation", "attester_name"),
        )
        props |= {"attestation": statement, "location_name": texts, "type_2_npi": texts}
        required: tuple[str, ...] = ("location_name", "hospital_address", "type_2_npi",
                                     "license_information", "attestation")  # fmt: skip
    else:
        statement = Object(
            {
                "affirmation": Const(AFFIRMATION_V2, "the CMS affirmation statement"),
                "confirm_affirmation": Boolean(),
            },
            ("affirmation", "confirm_affirmation"),
        )
        props |= {"affirmation": statement, "hospital_location": texts}
        required = ("hospital_location", "hospital_address", "license_information", "affirmation")
    if version not in ("2.0.0", "2.1.0"):
        props["modifier_information"] = Array(_modifier(version), min_items=1 if v3 else 0)
    # The item array is located by the reader and its items streamed: not part of the root.
    return Object(props, ("hospital_name", "last_updated_on", *required, "version"))


@cache
def schema(version: str) -> Schema:
    """The schema of a CMS template version (one of `VERSIONS`)."""
    if version not in VERSIONS:
        raise ValueError(f"no CMS JSON schema {version!r}; known: {', '.join(VERSIONS)}")
    return Schema(version, _root(version), _item(version))


def whole_schema(version: str) -> Object:
    """The root object with its item array, as one schema (for whole small documents)."""
    found = schema(version)
    props = {**found.root.properties, ARRAY_KEY: Array(found.item, min_items=1)}
    return replace(found.root, properties=props, required=(*found.root.required, ARRAY_KEY))
