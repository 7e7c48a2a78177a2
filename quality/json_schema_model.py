"""A small schema language of our own for the CMS JSON schemas, and its exact validator.

A schema is a tree of nodes — `Text`, `Number`, `Boolean`, `Const`, `Array`, `Object` — and
the conditional parts of the CMS schemas (`anyOf`, `if`/`then`) are `AnyOf` and `IfThen`
rules on an object, their conditions plain predicates over the JSON value. A node's `check`
yields every violation the official draft-07 schema has for a value, each a `SchemaError`
with its rule id and JSON path (a JSON Pointer:
`/standard_charge_information/4/drug_information/unit`):

| rule id | JSON Schema keyword | path |
| --- | --- | --- |
| `schema.type` | `type` | the value |
| `schema.required` | `required` | the missing property (its object's path + `/name`) |
| `schema.minLength` | `minLength` | the value (an empty string) |
| `schema.enum` | `enum` | the value (a non-string value breaks `type` too) |
| `schema.const` | `const` | the value (the affirmation/attestation statement) |
| `schema.pattern` | `pattern` | the value (v3 `count`) |
| `schema.format` | `format: date` | the value (`last_updated_on`) |
| `schema.exclusiveMinimum` | `exclusiveMinimum: 0` | the value (a number ≤ 0) |
| `schema.minItems` | `minItems` | the array |
| `schema.anyOf` | `anyOf` | the object none of whose alternatives holds |
| `schema.if_then` | what a `then` requires | the missing property, or the value it constrains |

The validator is the slow, exact path: `quality.json_schema_fast` decides most items at C
speed and sends only those it cannot pass here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

TYPE = "schema.type"
REQUIRED = "schema.required"
MIN_LENGTH = "schema.minLength"
ENUM = "schema.enum"
CONST = "schema.const"
PATTERN = "schema.pattern"
FORMAT = "schema.format"
EXCLUSIVE_MINIMUM = "schema.exclusiveMinimum"
MIN_ITEMS = "schema.minItems"
ANY_OF = "schema.anyOf"
IF_THEN = "schema.if_then"
#: Every rule id the schema checks can report.
RULES = (TYPE, REQUIRED, MIN_LENGTH, ENUM, CONST, PATTERN, FORMAT, EXCLUSIVE_MINIMUM,
         MIN_ITEMS, ANY_OF, IF_THEN)  # fmt: skip

Predicate = Callable[[Any], bool]
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One violation: rule id, JSON path, the offending value (None for a missing one)."""

    rule: str
    path: str
    value: Any
    message: str


def kind(value: Any) -> str:
    """The JSON type of a decoded value, as messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _name(path: str) -> str:
    """What a message calls the value at `path`: `unit`, or `hospital_address[0]`."""
    parent, _, last = path.rpartition("/")
    if last.isdigit():
        return f"{parent.rpartition('/')[2] or 'item'}[{last}]"
    return last or "the root"


def _wrong_type(path: str, value: Any, expected: str) -> SchemaError:
    return SchemaError(TYPE, path, value, f"`{_name(path)}` must be {expected}, not {kind(value)}")


Found = list[SchemaError]  # a node's errors for a value; empty when it is valid


@dataclass(frozen=True)
class Text:
    """A JSON string: `minLength`, an `enum`, a `pattern` the whole text must match (as
    `^…$` does in the validator's JavaScript), or `format: date`."""

    min_length: int = 0
    enum: tuple[str, ...] | None = None
    pattern: re.Pattern[str] | None = None
    date: bool = False
    label: str = ""  # what the enum or pattern allows, for messages

    def check(self, value: Any, path: str) -> Found:
        if isinstance(value, str):
            if self.enum is not None:
                if value in self.enum:
                    return []
            elif len(value) >= self.min_length and self.pattern is None and not self.date:
                return []  # the common case, decided at once
        found = []
        if self.enum is not None and not (isinstance(value, str) and value in self.enum):
            allowed = self.label or "one of " + ", ".join(self.enum)
            found.append(SchemaError(ENUM, path, value, f"`{_name(path)}` must be {allowed}"))
        if not isinstance(value, str):
            found.append(_wrong_type(path, value, "a string"))
            return found
        if len(value) < self.min_length:
            found.append(SchemaError(MIN_LENGTH, path, value, f"`{_name(path)}` must not be empty"))
        if self.pattern is not None and not self.pattern.fullmatch(value):
            found.append(SchemaError(PATTERN, path, value, f"`{_name(path)}` must be {self.label}"))
        if self.date and not _is_date(value):
            message = f"`{_name(path)}` must be a date YYYY-MM-DD"
            found.append(SchemaError(FORMAT, path, value, message))
        return found


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return False
    return True


@dataclass(frozen=True)
class Number:
    """A JSON number (never true/false), greater than 0 when `positive`."""

    positive: bool = True

    def check(self, value: Any, path: str) -> Found:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [_wrong_type(path, value, "a number")]
        if self.positive and value <= 0:
            message = f"`{_name(path)}` must be greater than 0"
            return [SchemaError(EXCLUSIVE_MINIMUM, path, value, message)]
        return []


@dataclass(frozen=True)
class Boolean:
    """JSON true or false."""

    def check(self, value: Any, path: str) -> Found:
        return [] if isinstance(value, bool) else [_wrong_type(path, value, "true or false")]


@dataclass(frozen=True)
class Const:
    """Exactly this text (`const`; any other value, of any type, breaks it)."""

    value: str
    label: str

    def check(self, value: Any, path: str) -> Found:
        if isinstance(value, str) and value == self.value:
            return []
        return [SchemaError(CONST, path, value, f"`{_name(path)}` must be {self.label}")]


@dataclass(frozen=True)
class Array:
    """A JSON array of `items`, with at least `min_items` of them."""

    items: Node
    min_items: int = 0

    def check(self, value: Any, path: str) -> Found:
        if not isinstance(value, list):
            return [_wrong_type(path, value, "an array")]
        found = []
        if len(value) < self.min_items:
            found.append(SchemaError(MIN_ITEMS, path, None, f"`{_name(path)}` must not be empty"))
        check = self.items.check
        for index, item in enumerate(value):
            if errors := check(item, f"{path}/{index}"):
                found += errors
        return found


@dataclass(frozen=True)
class AnyOf:
    """At least one alternative holds (`anyOf`); each is a predicate over the value, which
    may be of any JSON type."""

    alternatives: tuple[Predicate, ...]
    message: str

    def check(self, value: Any, path: str) -> Found:
        if any(holds(value) for holds in self.alternatives):
            return []
        return [SchemaError(ANY_OF, path, None, self.message)]


@dataclass(frozen=True)
class IfThen:
    """When `condition` holds (`if`), the value must pass `then` (an untyped object:
    required properties and constraints on them); what it breaks is `schema.if_then`."""

    condition: Predicate
    then: Object
    message: str  # the condition, in words: "methodology is `other`"

    def check(self, value: Any, path: str) -> Found:
        if not self.condition(value):
            return []
        return [
            replace(error, rule=IF_THEN, message=f"{self.message}: {error.message}")
            for error in self.then.check(value, path)
        ]


@dataclass(frozen=True)
class Object:
    """A JSON object: known `properties` (others are allowed), `required` ones, and
    conditional `rules`. An untyped object (a `then` part) says nothing of other values."""

    properties: Mapping[str, Node]
    required: tuple[str, ...] = ()
    rules: tuple[AnyOf | IfThen, ...] = ()
    typed: bool = True
    #: Each property with the JSON Pointer step to it (escaped once).
    steps: tuple[tuple[str, str, Node], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple((name, "/" + _pointer(name), node) for name, node in self.properties.items())
        object.__setattr__(self, "steps", steps)

    def check(self, value: Any, path: str) -> Found:
        found = []
        if isinstance(value, dict):
            for name in self.required:
                if name not in value:
                    where = f"{path}/{_pointer(name)}"
                    found.append(SchemaError(REQUIRED, where, None, f"`{name}` is required"))
            for name, step, node in self.steps:
                if name in value and (errors := node.check(value[name], path + step)):
                    found += errors
        elif self.typed:
            found.append(_wrong_type(path, value, "an object"))
        for rule in self.rules:
            if errors := rule.check(value, path):
                found += errors
        return found


Node = Text | Number | Boolean | Const | Array | Object
