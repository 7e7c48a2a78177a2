"""Price-comparison queries shared by the dashboard and the `hpt compare` command, and the
review queue of payer spellings (`hpt payers unmapped`).

Every function takes a DuckDB connection (normally the published snapshot) first and
returns a Polars DataFrame. SQL text is fixed; user input only ever travels as parameters.
A code's type is matched by its service type (`warehouse.service_codes`): `HCPCS:73721`
finds the rates of `CPT:73721`.
"""

from __future__ import annotations

import duckdb
import polars as pl

from core.warehouse_files import snapshot_storage
from transform.payers import GENERIC_BLUE, blue_plans, rules
from warehouse.marts import MARTS
from warehouse.search import search_codes as search_codes  # the search, where it always was

# `price_compare` reads the marts' code-sorted runs (`warehouse.marts.runs`): a code's rows
# are one or two row groups per run, with or without a state (reading only that state's
# judged files instead was slower at 500 facilities: p50 41–45 ms against 25–26 ms).
_COMPARE = """
SELECT p.code_type, p.code, p.setting, p.price_unit, p.facility_id, l.hospital_name,
       l.state, l.city, p.payer, p.plan_type, p.rates, p.comparable_rates,
       p.min_dollar, p.median_dollar, p.max_dollar, p.gross_charge, p.discounted_cash,
       p.published_code_type
FROM price_compare p
LEFT JOIN facility_locations l USING (facility_id)
WHERE p.code = $code
  AND ($code_type IS NULL OR p.code_type = service_code_type($code_type, $code))
  AND ($setting IS NULL OR p.setting = $setting)
  AND ($state IS NULL OR l.state = $state)
  AND ($payers IS NULL OR list_contains($payers, lower(p.payer)))
  AND ($plan_type IS NULL OR p.plan_type = $plan_type)
  AND p.rates > 0
ORDER BY p.median_dollar ASC NULLS LAST, p.facility_id, p.payer, p.plan_type
"""
_PROFILE = "SELECT * FROM facility_summary WHERE facility_id = $facility_id"

_MATRIX = """
SELECT p.facility_id, l.hospital_name, l.state, p.payer,
       median(p.median_dollar) AS median_dollar
FROM price_compare p
LEFT JOIN facility_locations l USING (facility_id)
WHERE p.code = $code
  AND ($code_type IS NULL OR p.code_type = service_code_type($code_type, $code))
  AND ($setting IS NULL OR p.setting = $setting)
  AND p.payer IS NOT NULL AND p.median_dollar IS NOT NULL
GROUP BY ALL
"""


def canonical_payer(name: str | None) -> str | None:
    """The canonical payer a user typed (`bcbs` → Blue Cross Blue Shield), else the text."""
    if not name:
        return None
    return rules().match(name) or name.strip()


def payer_family(name: str | None) -> list[str] | None:
    """The canonical payers (lower case) a user's payer name selects: the one it names; for
    a name that says only "Blue Cross Blue Shield", every state's Blue company too (a
    generic Blue name in a file is mapped to the Blue company of the hospital's state)."""
    payer = canonical_payer(name)
    if payer is None:
        return None
    if payer == GENERIC_BLUE:
        return sorted({payer.lower(), *(p.lower() for p in blue_plans().values())})
    return [payer.lower()]


def _split_code(code: str) -> tuple[str | None, str]:
    """`CPT:99213` → ("CPT", "99213"); a bare code matches every code type. The queries
    match the type by its service type (`HCPCS:99213` finds `CPT:99213`)."""
    code = code.strip().upper()
    if ":" in code:
        code_type, _, bare = code.partition(":")
        return code_type.strip(), bare.strip()
    return None, code


def compare(
    con: duckdb.DuckDBPyConnection,
    code: str,
    setting: str | None = None,
    state: str | None = None,
    payer: str | None = None,
    plan_type: str | None = None,
) -> pl.DataFrame:
    """Each facility's comparable rates for a code, per canonical payer and plan type,
    cheapest median first (`code` may carry its type: `MS-DRG:470`)."""
    code_type, bare = _split_code(code)
    params = {
        "code": bare,
        "code_type": code_type,
        "setting": setting.lower() if setting else None,
        "state": state.upper() if state else None,
        "payers": payer_family(payer),
        "plan_type": plan_type,
    }
    return con.sql(_COMPARE, params=params).pl()


def facility_profile(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame:
    """The facility's summary row: current file, rates, codes, comparability, compliance."""
    return con.sql(_PROFILE, params={"facility_id": facility_id}).pl()


def payer_matrix(
    con: duckdb.DuckDBPyConnection, code: str, setting: str | None = None
) -> pl.DataFrame:
    """Facilities × canonical payers: the median comparable dollar for a code (the median
    of the payer's plan-type medians at that facility)."""
    code_type, bare = _split_code(code)
    params = {
        "code": bare,
        "code_type": code_type,
        "setting": setting.lower() if setting else None,
    }
    long = con.sql(_MATRIX, params=params).pl()
    if long.is_empty():
        return pl.DataFrame(
            schema={"facility_id": pl.String, "hospital_name": pl.String, "state": pl.String}
        )
    wide = long.pivot(
        on="payer", index=["facility_id", "hospital_name", "state"], values="median_dollar"
    )
    payers = sorted(c for c in wide.columns if c not in {"facility_id", "hospital_name", "state"})
    return wide.select("facility_id", "hospital_name", "state", *payers).sort("facility_id")


_UNMAPPED = """
SELECT m.payer_name, sum(m.rates)::BIGINT AS rates,
       count(DISTINCT f.facility_id) AS facilities,
       list(DISTINCT m.plan_name ORDER BY m.plan_name) FILTER (m.plan_name IS NOT NULL)
           AS plan_names
FROM read_parquet($paths, filename = true) m
JOIN (SELECT unnest($paths) AS path, unnest($facilities) AS facility_id) f
    ON f.path = m.filename
WHERE NOT m.payer_matched AND m.payer_name IS NOT NULL
GROUP BY m.payer_name
HAVING sum(m.rates) >= $min_rates
ORDER BY rates DESC, m.payer_name
"""


def unmapped_payers(con: duckdb.DuckDBPyConnection, min_rates: int = 1) -> pl.DataFrame:
    """The payer names of the current files that map to no canonical payer: their rates,
    facilities and plan names, most rates first (from each file's payer map, which counts
    its rates per payer/plan pair)."""
    folded = con.execute(
        "SELECT m.facility_id, f.data_path FROM mart_files m JOIN files f USING (file_id) "
        "ORDER BY m.facility_id"
    ).fetchall()
    # Stored paths are relative to the data's storage: by default the warehouse folder,
    # where the snapshot's opener points DuckDB's file_search_path.
    store = snapshot_storage(con)
    maps = [(f, f"{store.location(p)}/{MARTS}/payer_map.parquet") for f, p in folded]
    maps = [(f, p) for f, p in maps if store.exists(p)]
    if not maps:
        return pl.DataFrame(
            schema={"payer_name": pl.String, "rates": pl.Int64, "facilities": pl.Int64,
                    "plan_names": pl.List(pl.String)}
        )  # fmt: skip
    params = {
        "paths": [p for _, p in maps],
        "facilities": [f for f, _ in maps],
        "min_rates": min_rates,
    }
    return con.sql(_UNMAPPED, params=params).pl()
