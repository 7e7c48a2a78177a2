"""Checks on what a file says before its data: the general data elements (CSV rows 1–2 or
the JSON root) and the CSV data column headers (row 3), per layout and rule set.

Duplicate and unknown row-3 columns are recorded by the CSV readers (they decide which
copy is read); everything else about the header is checked here, once per file.
"""

from __future__ import annotations

import re

from core.files import FileMeta, Layout
from core.findings import FindingLog, Severity
from ingest.csv_header import header_name
from ingest.csv_tall import CODE_COLUMN, ITEM_COLUMNS, TALL_PAYER_COLUMNS
from ingest.csv_wide import group_column
from quality.versions import Version, header_names, looks_v3

STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
        "UM",
    ]
)
STATEMENT = "to the best of its knowledge and belief"
#: Template text left in a header instead of a real value: `[i]`, `[payer_name]`, `<ST>`.
_PLACEHOLDER = re.compile(r"\[[^\]]*\]|<[^>]*>|^code\|i(\|type)?$")
_NPI = re.compile(r"^\d{10}$")

ITEM_REQUIRED = [
    "description",
    "setting",
    "standard_charge|gross",
    "standard_charge|discounted_cash",
    "standard_charge|min",
    "standard_charge|max",
    "additional_generic_notes",
]
ITEM_REQUIRED_V22 = ["modifiers", "drug_unit_of_measurement", "drug_type_of_measurement"]
TALL_PAYER_REQUIRED = [
    "payer_name",
    "plan_name",
    "standard_charge|negotiated_dollar",
    "standard_charge|negotiated_percentage",
    "standard_charge|negotiated_algorithm",
    "standard_charge|methodology",
]
V3_STATS = ["median_amount", "10th_percentile", "90th_percentile", "count"]
CSV_RAW = ITEM_COLUMNS | TALL_PAYER_COLUMNS
#: Wide payer-group fields written `standard_charge|P|p|<field>`; the others `<field>|P|p`.
WIDE_SUFFIX = frozenset(
    {"negotiated_dollar", "negotiated_percentage", "negotiated_algorithm", "methodology"}
)


def _wide_raw(field: str) -> str:
    """The raw column of a wide payer-group field (same as its tall column's)."""
    return CSV_RAW[f"standard_charge|{field}" if field in WIDE_SUFFIX else field]


def _rule_fields(version: Version) -> tuple[list[str], list[str]]:
    """(item columns, payer fields) required by a rule set, as CSV names."""
    item = list(ITEM_REQUIRED)
    payer = ["negotiated_dollar", "negotiated_percentage", "negotiated_algorithm", "methodology"]
    if version.rules in ("v2.2", "v3.0"):
        item += ITEM_REQUIRED_V22
    if version.rules == "v2.2":
        payer.append("estimated_amount")
    if version.rules == "v3.0":
        payer += V3_STATS
    return item, payer


def _missing(log: FindingLog, name: str, where: str) -> None:
    log.add(
        "header.missing_column",
        Severity.ERROR,
        f"required column {name!r} is missing from {where}",
        row=3,
        column=name,
    )


def _wide_groups(header: list[str]) -> dict[str, tuple[str, set[str]]]:
    """Payer/plan group (lower case) → (group as published, raw columns it has)."""
    groups: dict[str, tuple[str, set[str]]] = {}
    for cell in header:
        parsed = group_column(cell)
        if parsed is not None:
            key, raw = parsed
            groups.setdefault(key.lower(), (key, set()))[1].add(raw)
    return groups


def _wide_name(group: str, field: str) -> str:
    if field in WIDE_SUFFIX:
        return f"standard_charge|{group}|{field}"
    return f"{field}|{group}"


def check_columns(header: list[str], layout: Layout, version: Version, log: FindingLog) -> set[str]:
    """Row-3 checks of a CSV file; returns the raw columns that are missing."""
    names = [header_name(cell) for cell in header]
    width = len(names)
    while width and not names[width - 1]:
        width -= 1  # trailing empty columns are a harmless export artefact
    # Validator 2.6.0 tolerates blank header columns in v3.0 files; v2 files still fail.
    blank = Severity.ALERT if version.rules == "v3.0" else Severity.ERROR
    for position, name in enumerate(names[:width]):
        if not name:
            log.add(
                "header.blank_column",
                blank,
                f"column {position + 1} of row 3 has no header; its cells are not read",
                row=3,
                column=f"#{position + 1}",
            )
        elif _PLACEHOLDER.search(name):
            log.add(
                "header.placeholder",
                Severity.ERROR,
                "header still holds template placeholder text; put the real value in",
                row=3,
                column=header[position],
                value=header[position],
            )
    present = set(names)
    missing: set[str] = set()
    item, payer = _rule_fields(version)
    for name in item:
        if name not in present:
            _missing(log, name, "row 3")
            missing.add(CSV_RAW.get(name, name))
    _check_code_columns(names, log)
    if layout == Layout.CSV_TALL:
        tall = TALL_PAYER_REQUIRED + [p for p in payer if p in ("estimated_amount", *V3_STATS)]
        for name in tall:
            if name not in present:
                _missing(log, name, "row 3")
                missing.add(CSV_RAW[name])
    else:
        wanted = {f: _wide_raw(f) for f in [*payer, "additional_payer_notes"]}
        for _, (group, fields) in sorted(_wide_groups(header).items()):
            for name, raw in wanted.items():
                if raw not in fields:
                    _missing(log, _wide_name(group, name), f"payer group {group!r}")
                    missing.add(raw)
    return missing


def _check_code_columns(names: list[str], log: FindingLog) -> None:
    slots: dict[int, set[str]] = {}
    for name in names:
        match = CODE_COLUMN.match(name)
        if match:
            slots.setdefault(int(match.group(1)), set()).add("type" if match.group(2) else "code")
    if not slots:
        _missing(log, "code|1", "row 3 (every file needs at least one code column pair)")
    for slot, parts in sorted(slots.items()):
        for part in {"code", "type"} - parts:
            _missing(log, f"code|{slot}" + ("|type" if part == "type" else ""), "row 3")


def _required_elements(layout: Layout, version: Version) -> list[tuple[str, ...]]:
    """General data elements a file must have; each tuple lists accepted names/prefixes."""
    v3 = version.rules == "v3.0"
    location = ("location_name", "hospital_location")
    if layout == Layout.JSON:
        wanted: list[tuple[str, ...]] = [
            ("hospital_name",),
            ("last_updated_on",),
            ("version",),
            location,
            ("hospital_address",),
            ("license_information",),
            ("attestation",) if v3 else ("affirmation",),
            ("standard_charge_information",),
        ]
        return [*wanted, ("type_2_npi",)] if v3 else wanted
    wanted = [
        ("hospital_name",),
        ("last_updated_on",),
        ("version",),
        location,
        ("hospital_address",),
        ("license_number",),
        (STATEMENT,),
    ]
    return [*wanted, ("type_2_npi",), ("attester_name",)] if v3 else wanted


def check_elements(meta: FileMeta, layout: Layout, version: Version, log: FindingLog) -> None:
    """The general data elements: present (when the reader lists them), valued and valid."""
    row = None if layout == Layout.JSON else 2
    elements = meta.elements
    for name in elements:
        if _PLACEHOLDER.search(name) and not name.startswith(STATEMENT):
            log.add(
                "header.placeholder",
                Severity.ERROR,
                "general data element name still holds template placeholder text",
                row=1 if row else None,
                column=name,
                value=name,
            )
    if elements:
        for accepted in _required_elements(layout, version):
            if not any(e == a or e.startswith(a) for e in elements for a in accepted):
                log.add(
                    "header.missing_element",
                    Severity.ERROR,
                    f"required general data element {accepted[0]!r} is missing",
                    row=1 if row else None,
                    column=accepted[0].rstrip("|"),
                )

    def has(prefix: str) -> bool:
        return not elements or any(e.startswith(prefix) for e in elements)

    def required(name: str, value: object) -> None:
        if has(name) and not value:
            log.add(
                "header.missing_value",
                Severity.ERROR,
                f"{name} has no value",
                row=row,
                column=name,
                value=None,
            )

    required("hospital_name", meta.hospital_name)
    required("hospital_address", meta.addresses)
    if has("location_name") or has("hospital_location"):
        where = "location_name" if version.rules == "v3.0" else "hospital_location"
        required(where, meta.locations)
    _check_date_and_version(meta, version, row, log)
    _check_license(meta, layout, row, log)
    if version.rules == "v3.0":
        required("type_2_npi", meta.npis)
        required("attester_name", meta.attester_name)
        for npi in meta.npis:
            if not _NPI.match(npi.strip()):
                log.add(
                    "header.bad_npi",
                    Severity.ERROR,
                    "type_2_npi must be a 10-digit NPI",
                    row=row,
                    column="type_2_npi",
                    value=npi,
                )
    _check_attestation(meta, version, row, log)


def _check_date_and_version(
    meta: FileMeta, version: Version, row: int | None, log: FindingLog
) -> None:
    if not meta.last_updated_raw:
        if not meta.elements or "last_updated_on" in meta.elements:
            log.add(
                "header.missing_value",
                Severity.ERROR,
                "last_updated_on has no value",
                row=row,
                column="last_updated_on",
            )
    elif meta.last_updated_on is None and not log.counts["header.bad_date"]:
        # The CSV header reader records this already; JSON readers may or may not.
        log.add(
            "header.bad_date",
            Severity.ERROR,
            "last_updated_on is not a date (YYYY-MM-DD, or MM/DD/YYYY in CSV)",
            row=row,
            column="last_updated_on",
            value=meta.last_updated_raw,
        )
    blank = not (meta.version or "").strip()
    if blank or not version.known:  # with --version, a blank cell is still an error
        what = "has no value" if blank else "is not a CMS version"
        log.add(
            "header.bad_version",
            Severity.ERROR,
            f"version {what} (expected 2.0.0, 2.1.0, 2.2.0 or 3.0.0); checked to {version.rules}",
            row=row,
            column="version",
            value=meta.version,
        )


def _check_license(meta: FileMeta, layout: Layout, row: int | None, log: FindingLog) -> None:
    has_license = not meta.elements or any(
        e.startswith(("license_number", "license_information")) for e in meta.elements
    )
    state = (meta.license_state or "").strip().upper()
    if has_license and state not in STATES:
        column = "license_information.state" if layout == Layout.JSON else "license_number|<state>"
        log.add(
            "header.bad_state",
            Severity.ERROR,
            "the licensing state must be a two-letter US state or territory code",
            row=1 if row else None,
            column=column,
            value=meta.license_state,
        )


def _check_attestation(meta: FileMeta, version: Version, row: int | None, log: FindingLog) -> None:
    word = "attestation" if version.rules == "v3.0" else "affirmation"
    present = not meta.elements or any(
        e.startswith((STATEMENT, "attestation", "affirmation")) for e in meta.elements
    )
    if present and meta.attestation is None:
        log.add(
            "header.missing_value",
            Severity.ERROR,
            f"the {word} must be answered true or false",
            row=row,
            column=word,
        )
    elif meta.attestation is False and version.false_affirmation_is_error:
        log.add(
            "header.affirmation_false",
            Severity.ERROR,
            f"the hospital answered false to the affirmation statement; a "
            f"{version.template_version} file must affirm it (true)",
            row=row,
            column=word,
            value="false",
        )
    elif meta.attestation is False:
        log.add(
            "alert.attestation_false",
            Severity.ALERT,
            f"the hospital answered false to the {word} statement",
            row=row,
            column=word,
            value="false",
        )


def check_version_fit(
    meta: FileMeta, header: list[str], layout: Layout, version: Version, log: FindingLog
) -> None:
    """Alerts: a declared version other than the one validated against (`--version`) or
    not matching the layout (one alert for either); estimated_amount in v3."""
    claimed = (meta.version or "").strip().lstrip("v")
    names = header_names(header)
    if layout == Layout.JSON:
        says_v3 = any(e in ("attestation", "location_name", "type_2_npi") for e in meta.elements)
        says_v2 = any(e in ("affirmation", "hospital_location") for e in meta.elements)
    else:
        says_v3 = looks_v3(names)
        says_v2 = not says_v3
    if version.declared_differs:
        log.add(
            "alert.version_mismatch",
            Severity.ALERT,
            f"version says {meta.version} but the file is validated against "
            f"{version.template_version} ({version.reason})",
            row=row_of(layout),
            column="version",
            value=meta.version,
        )
    elif (
        claimed
        and version.known
        and (
            (claimed.startswith("3") and says_v2 and not says_v3)
            or (claimed.startswith("2") and says_v3)
        )
    ):
        log.add(
            "alert.version_mismatch",
            Severity.ALERT,
            f"version says {meta.version} but the "
            f"{'root keys' if layout == Layout.JSON else 'columns'} follow the "
            f"{'v3' if says_v3 else 'v2'} template",
            row=row_of(layout),
            column="version",
            value=meta.version,
        )
    if version.rules == "v3.0":
        for cell in header:
            name = header_name(cell)
            if name == "estimated_amount" or name.startswith("estimated_amount|"):
                log.add(
                    "alert.estimated_amount_v3",
                    Severity.ALERT,
                    "estimated_amount is a v2.2 column; v3.0 files give median, 10th/90th "
                    "percentile and count instead",
                    row=3,
                    column=cell,
                )


def row_of(layout: Layout) -> int | None:
    return None if layout == Layout.JSON else 2
