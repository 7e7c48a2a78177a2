"""Hand-built charge files for mart tests: known values in, known answers out.

`Fixture` rows are loaded through the real `load_staged` (one Parquet file per facility,
catalog rows, views) and published with the real `publish` (which rebuilds the marts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import polars as pl

from core.files import FileMeta, StagedFile
from core.schema import STORED_SCHEMA
from warehouse.db import Warehouse
from warehouse.load import load_staged
from warehouse.publish import publish

FINDINGS_SCHEMA = {
    "rule": pl.String,
    "severity": pl.String,
    "row_no": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "message": pl.String,
}


def rate(
    code: str,
    payer: str | None,
    plan: str | None,
    dollar: float | None = None,
    *,
    code_type: str = "CPT",
    setting: str = "outpatient",
    description: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One standard charge row; `extra` sets any other canonical column."""
    codes = extra.pop("codes", [{"type": code_type, "code": code}, {"type": "CDM", "code": "1"}])
    return {
        "description": description or f"Item {code}",
        "setting": setting,
        "payer_name": payer,
        "plan_name": plan,
        "negotiated_dollar": dollar,
        "methodology": "fee schedule" if dollar is not None else extra.pop("methodology", None),
        "codes": codes,
        **extra,
    }


def load_facility(
    wh: Warehouse,
    facility_id: str,
    rows: list[dict[str, Any]],
    *,
    state: str = "TX",
    name: str | None = None,
    version: str = "a",
) -> str:
    """Write one facility's charge file and register it like an ingest; returns the file id."""
    file_id = f"{facility_id}-{version}"
    frame = pl.DataFrame(
        [
            {"file_id": file_id, "facility_id": facility_id, "row_no": i + 4, **row}
            for i, row in enumerate(rows)
        ],
        schema=STORED_SCHEMA,
    )
    folder = wh.charges_path(facility_id, file_id)
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / "part-00000.parquet")
    meta = FileMeta(
        hospital_name=name or f"Hospital {facility_id}",
        last_updated_on=dt.date(2026, 1, 1),
        version="3.0.0",
        license_number=facility_id,
        license_state=state,
    )
    load_staged(
        wh,
        StagedFile(
            facility_id=facility_id,
            file_id=file_id,
            source=f"test:{facility_id}",
            sha256=hashlib.sha256(file_id.encode()).hexdigest(),
            bytes=1,
            layout="csv_tall",
            encoding="utf-8",
            meta=meta,
            data_path=str(folder),
            row_count=frame.height,
            item_count=None,
            findings=pl.DataFrame(schema=FINDINGS_SCHEMA),
            finding_counts={},
            seconds=0.0,
        ),
    )
    return file_id


def drug(code: str, payer: str, plan: str, dollar: float | None, unit: float | None,
         unit_type: str | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A drug rate: HCPCS + NDC codes, a unit and a unit type."""
    codes = [{"type": "HCPCS", "code": code}, {"type": "NDC", "code": f"{code}-NDC"}]
    return rate(code, payer, plan, dollar, setting="both", codes=codes, drug_unit=unit,
                drug_unit_type=unit_type, **extra)  # fmt: skip


def known_warehouse(wh: Warehouse) -> None:
    """Three facilities with known answers (see tests/warehouse/test_marts.py)."""
    load_facility(
        wh,
        "tx-a",
        [
            rate(
                "99213",
                "BLUE CROSS BLUE SHIELD [110001]",
                "HB BLUE CROSS PPO",
                100.0,
                description="OFFICE VISIT EST LEVEL 3",
                gross_charge=400.0,
                discounted_cash=300.0,
            ),
            rate(
                "99213",
                "UHC",
                "Choice Plus PPO",
                120.0,
                description="OFFICE VISIT EST LEVEL 3",
                gross_charge=400.0,
                discounted_cash=300.0,
            ),
            rate(
                "99213",
                "Aetna",
                "Medicare Advantage HMO",
                80.0,
                description="OFFICE VISIT EST LEVEL 3",
                gross_charge=400.0,
                discounted_cash=300.0,
            ),
            # The same code on a second chargemaster line: several rates at one hospital.
            rate(
                "99213",
                "BCBS HMO IP/OP ONLY",
                None,
                110.0,
                description="OV EST 25 MIN",
                gross_charge=420.0,
                discounted_cash=310.0,
            ),
            rate(
                "70551",
                "Aetna",
                "Commercial PPO",
                None,
                negotiated_percentage=50.0,
                gross_charge=1000.0,
                methodology="percent of total billed charges",
            ),
            rate(
                "70552",
                "Aetna",
                "Commercial PPO",
                None,
                negotiated_percentage=120.0,
                methodology="fee schedule",
            ),
            rate(
                "70553",
                "Aetna",
                "Commercial PPO",
                None,
                negotiated_percentage=120.0,
                median_allowed=321.0,
                methodology="fee schedule",
            ),
            rate(
                "70554",
                "Aetna",
                "Commercial PPO",
                None,
                negotiated_algorithm="MS-DRG x 1.2",
                methodology="other",
            ),
            rate("70555", "Aetna", "Commercial PPO", 99999999.0),
            rate("70556", "Aetna", "Commercial PPO", 0.01),
            rate("70557", "Aetna", "Commercial PPO", 0.0),
            rate("70558", None, None, None, gross_charge=800.0, discounted_cash=500.0),
            drug("J2405", "Aetna", "Commercial PPO", 20.0, 2.0, "ML", gross_charge=60.0),
            drug("J9999", "Aetna", "Commercial PPO", 20.0, None, "ML"),
            drug("J1111", "Aetna", "Commercial PPO", 2000.0, 1.0, "GR"),
            *[
                rate("80053", "Cigna", "Open Access Plus", v)
                for v in (29.0, 30.0, 31.0, 32.0, 33.0, 250.0, 3000.0)
            ],
        ],
        state="TX",
    )
    load_facility(
        wh,
        "ca-b",
        [
            rate(
                "99213",
                "Blue Cross Blue Shield of California",
                "PPO",
                300.0,
                description="OFFICE VISIT EST LEVEL 3",
            ),
            rate("99213", "Cigna", "LocalPlus EPO", 300.0, description="OFFICE VISIT EST LEVEL 3"),
            drug("J2405", "Cigna", "LocalPlus EPO", 500.0, 100.0, "ML"),
            drug("J1111", "Cigna", "LocalPlus EPO", 1000.0, 500.0, "ME"),
        ],
        state="CA",
    )
    load_facility(
        wh,
        "tx-c",
        [rate("99213", "Humana", "Gold Plus HMO", 60.0, description="EST PATIENT VISIT 25")],
        state="TX",
    )
    publish(wh)
