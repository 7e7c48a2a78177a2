"""A hospital's next file: a generated tall CSV written again with known changes (some
services' prices scaled, some services dropped, some added), and the changes expected,
read back from the two files themselves."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from devtools.synthetic.model import make_hospital
from devtools.synthetic.tall import tall_file
from hpt.pipeline.steps import ingest_file
from warehouse.db import Warehouse
from warehouse.publish import publish

#: Columns of a tall file that hold dollars: scaled together, every price figure of an item
#: (payer rates, percentages of gross, cash price) scales by the same factor.
MONEY = ("standard_charge|gross", "standard_charge|discounted_cash",
         "standard_charge|negotiated_dollar", "median_amount", "10th_percentile",
         "90th_percentile", "standard_charge|min", "standard_charge|max")  # fmt: skip
SERVICE_TYPES = {"CPT", "HCPCS", "MS-DRG", "NDC"}


def _read(path: Path) -> tuple[list[list[str]], list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    return lines[:2], lines[2], lines[3:]


def service_codes(path: Path) -> dict[str, set[str]]:
    """Each data row's service codes (CPT, HCPCS, MS-DRG, NDC), by code: the rows' indexes."""
    _, header, rows = _read(path)
    pairs = [(f"code|{i}", f"code|{i}|type") for i in (1, 2, 3) if f"code|{i}" in header]
    found: dict[str, set[str]] = {}
    for n, row in enumerate(rows):
        for code, kind in pairs:
            if row[header.index(kind)].upper() in SERVICE_TYPES:
                found.setdefault(row[header.index(code)], set()).add(str(n))
    return found


def codes_with_dollars(path: Path) -> set[str]:
    """Service codes with at least one negotiated dollar amount."""
    _, header, rows = _read(path)
    index = service_codes(path)
    dollar = header.index("standard_charge|negotiated_dollar")
    return {c for c, ns in index.items() if any(rows[int(n)][dollar] for n in ns)}


def next_version(
    v1: Path,
    v2: Path,
    *,
    scale: dict[str, float],
    remove: list[str],
    add: dict[str, str],
    updated_on: str = "2026-02-15",
) -> None:
    """Write `v2`: `v1` with the money of each code in `scale` multiplied by its factor
    (to the cent),
    the rows of the codes in `remove` left out, and for each `new: like` of `add` the rows
    of `like` again under the code `new`; its last-updated date set to `updated_on`."""
    (names, values), header, rows = _read(v1)
    values = list(values)
    values[names.index("last_updated_on")] = updated_on
    index = service_codes(v1)
    code_columns = [f"code|{i}" for i in (1, 2, 3) if f"code|{i}" in header]
    out: list[list[str]] = []
    dropped = {int(n) for code in remove for n in index[code]}
    for n, row in enumerate(rows):
        if n in dropped:
            continue
        row = list(row)
        for code, factor in scale.items():
            if str(n) in index[code]:
                for column in MONEY:
                    cell = row[header.index(column)]
                    if cell:
                        row[header.index(column)] = f"{float(cell) * factor:.2f}"
        out.append(row)
    for new, like in add.items():
        for n in sorted(int(i) for i in index[like]):
            row = list(rows[n])
            for column in code_columns:
                if row[header.index(column)] == like:
                    row[header.index(column)] = new
            row[header.index("description")] = f"New service {new}"
            out.append(row)
    with v2.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerows([names, values, header, *out])


@dataclass(frozen=True)
class Versions:
    """Hospital 1's two files (v1 published, then v2), and what v2 changed."""

    facility_id: str
    v1: Path
    v2: Path
    scale: dict[str, float]
    remove: list[str]
    add: dict[str, str]


def two_versions(root: Path, wh: Warehouse, *, others: int = 1) -> Versions:
    """Hospital 1 and `others` more generated, ingested and published; then hospital 1's
    next file (prices of two services scaled, two dropped, one added) ingested and
    published."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    for seed in range(1, 2 + others):
        path = files / f"hospital-{seed}.csv"
        tall_file(path, n_items=50, seed=seed, hospital=make_hospital(seed, state="CA"))
        assert ingest_file(path, wh, publish_after=False).outcome == "loaded"
    publish(wh)
    v1 = files / "hospital-1.csv"
    cpt = sorted(c for c in codes_with_dollars(v1) if c.isdigit() and len(c) == 5)
    unused = next(str(c) for c in range(99201, 99999) if str(c) not in service_codes(v1))
    versions = Versions(
        facility_id="",
        v1=v1,
        v2=files / "hospital-1-v2.csv",
        scale={cpt[0]: 1.25, cpt[1]: 0.8},
        remove=[cpt[2], cpt[3]],
        add={unused: cpt[4]},
    )
    next_version(v1, versions.v2, scale=versions.scale, remove=versions.remove,
                 add=versions.add)  # fmt: skip
    result = ingest_file(versions.v2, wh, publish_after=True)
    assert result.outcome == "loaded" and result.facility_id
    return replace(versions, facility_id=result.facility_id)
