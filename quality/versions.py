"""Which CMS rule set a file is checked against: v2.1, v2.2 or v3.0.

The version cell decides, except where it can't: CSV files written to the v2.1 and v2.2
rules still say `2.0.0`, so a `2.0.0` CSV is checked to v2.2 when it has any of the
columns v2.2 added (drug unit/type, modifiers, estimated amount) and to v2.1 otherwise.
JSON `2.0.0` files follow the one v2 schema, which carries the v2.2 fields, so v2.2. A
missing or unknown version cell is reported and the rule set is inferred from the
columns. `--version` overrides all of this.

Besides the rule set, a file has a *template*: the CMS version it is validated against, as
the official validator sees it (`2.0.0`, `2.1.0`, `2.2.0` or `3.0.0`). The rule set says
which conditional rules apply; the template decides the few things the validator treats
differently per declared version (a v2.0.0 affirmation of `false` is an alert, a v2.1.0 or
v2.2.0 one an error) and whether the declared version differs from the one validated
against (`--version`), which is an alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.files import Layout
from ingest.csv_header import header_name

RuleSet = Literal["v2.1", "v2.2", "v3.0"]
#: What `--version` accepts; `v2.0` means "read the way a `2.0.0` version cell is read".
VERSION_CHOICES = ("v2.0", "v2.1", "v2.2", "v3.0")

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
#: Row-3 columns that only v2.2 and later have.
V22_COLUMNS = frozenset(
    {"drug_unit_of_measurement", "drug_type_of_measurement", "modifiers", "estimated_amount"}
)
#: Row-3 column prefixes that only v3.0 has (tall name, or wide `name|payer|plan`).
V3_PREFIXES = ("median_amount", "10th_percentile", "90th_percentile", "count")
#: The template version each rule set is, when nothing says otherwise.
TEMPLATES: dict[RuleSet, str] = {"v2.1": "2.1.0", "v2.2": "2.2.0", "v3.0": "3.0.0"}
#: Number columns (raw names) a rule set's template does not define. Their values are not
#: checked: a leftover v2.2 `estimated_amount` in a v3.0 file is alerted instead, and v3.0
#: allowed-amount statistics in a v2 file are ignored, as the validator ignores columns
#: (and JSON fields) outside the template.
FOREIGN_NUMBERS: dict[RuleSet, frozenset[str]] = {
    "v2.1": frozenset(
        {"drug_unit", "estimated_amount", "median_allowed", "p10_allowed", "p90_allowed"}
    ),
    "v2.2": frozenset({"median_allowed", "p10_allowed", "p90_allowed"}),
    "v3.0": frozenset({"estimated_amount"}),
}
#: Conditional rules (spec numbering) each rule set enforces.
RULES: dict[RuleSet, frozenset[int]] = {
    "v2.1": frozenset(range(1, 7)),
    "v2.2": frozenset({1, 2, 3, 4, 5, 6, 10, 11, 12}),
    "v3.0": frozenset(range(1, 13)),
}


@dataclass(frozen=True)
class Version:
    """The rule set chosen for a file, what the file claims, and why."""

    rules: RuleSet
    claimed: str | None
    reason: str
    known: bool = True  # False when the version cell is blank or not a CMS version
    #: The CMS template version validated against (`2.0.0`, `2.1.0`, `2.2.0`, `3.0.0`);
    #: empty means the rule set's own (see `template_version`).
    template: str = ""

    @property
    def template_version(self) -> str:
        return self.template or TEMPLATES[self.rules]

    @property
    def conditional(self) -> frozenset[int]:
        return RULES[self.rules]

    @property
    def foreign_numbers(self) -> frozenset[str]:
        """Number columns outside this template: read, but their values not checked."""
        return FOREIGN_NUMBERS[self.rules]

    @property
    def false_affirmation_is_error(self) -> bool:
        """The validator alerts an attestation (v3.0.0) or a v2.0.0 affirmation answered
        `false`, and rejects a v2.1.0 or v2.2.0 affirmation answered `false`."""
        return self.template_version in ("2.1.0", "2.2.0")

    @property
    def declared_differs(self) -> bool:
        """The file declares a version other than the one it is validated against (only
        with `--version`: otherwise the declared version is the one validated against, or,
        blank or unknown, an error of its own)."""
        declared = (self.claimed or "").strip()
        if not self.known or not declared:
            return False
        template = template_of(declared)
        return template is None or template[:3] != self.template_version[:3]

    @property
    def estimated_amount_rule(self) -> bool:
        """v2.2 asked for an estimated allowed amount where v3.0 asks for count etc."""
        return self.rules == "v2.2"


def template_of(text: str | None) -> str | None:
    """The CMS template a version text names (`2.0.0`, `v2.2`, `2.2.1` → `2.2.0`), or
    None when it names none; the patch number does not change the rules."""
    match = _VERSION.match((text or "").strip().lower())
    if not match:
        return None
    template = f"{int(match.group(1))}.{int(match.group(2))}.0"
    return template if template in ("2.0.0", "2.1.0", "2.2.0", "3.0.0") else None


def header_names(header: list[str]) -> set[str]:
    return {header_name(cell) for cell in header if cell.strip()}


def looks_v3(names: set[str]) -> bool:
    """Row 3 has any v3-only column (allowed-amount statistics or count)."""
    return any(n == p or n.startswith(p + "|") for n in names for p in V3_PREFIXES)


def looks_v22(names: set[str]) -> bool:
    """Row 3 has any column v2.2 added (tall name or wide `estimated_amount|payer|plan`)."""
    return any(n in V22_COLUMNS or n.startswith("estimated_amount|") for n in names)


def _inferred(layout: Layout, names: set[str]) -> RuleSet:
    if layout == Layout.JSON:
        return "v2.2"
    if looks_v3(names):
        return "v3.0"
    return "v2.2" if looks_v22(names) else "v2.1"


def _from_number(text: str, layout: Layout, names: set[str]) -> RuleSet | None:
    match = _VERSION.match(text.strip().lower())
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    if major == 3 and minor == 0:
        return "v3.0"
    if major == 2 and minor == 2:
        return "v2.2"
    if major == 2 and minor == 1:
        return "v2.1"
    if major == 2 and minor == 0:
        if layout == Layout.JSON:
            return "v2.2"
        return "v2.2" if looks_v22(names) else "v2.1"
    return None


def choose_version(
    claimed: str | None, layout: Layout, header: list[str], override: str | None = None
) -> Version:
    """The rule set for a file: `override` (a VERSION_CHOICES value) wins, else the cell."""
    names = header_names(header)
    if override:
        if override not in VERSION_CHOICES:
            raise ValueError(f"unknown version {override!r}; use one of {VERSION_CHOICES}")
        rules = _from_number(override, layout, names)
        assert rules is not None
        template = template_of(override) or ""
        return Version(rules, claimed, f"--version {override}", known=True, template=template)
    if claimed and claimed.strip():
        rules = _from_number(claimed, layout, names)
        if rules is not None:
            how = "version cell"
            if _VERSION.match(claimed.strip()) and claimed.strip().startswith("2.0"):
                how = "version cell 2.0.0, rule set from the columns present"
            return Version(rules, claimed, how, template=template_of(claimed) or "")
    inferred = _inferred(layout, names)
    return Version(inferred, claimed, "version cell missing or unknown; inferred", known=False)
