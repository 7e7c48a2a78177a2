"""One service, one key: the code type a service code is compared under.

Hospitals publish the same CPT code typed `CPT` at one and `HCPCS` at another (CPT is HCPCS
Level I), and a few type HCPCS Level II codes `CPT`. Compared by their published type, a code
three hospitals price would show one hospital in each of three places. The comparison keys a
code by its *service* type instead:

* `CPT` or `HCPCS` (any case) and four digits then a digit, `F`, `T` or `U` (CPT Category I,
  II, III and PLA: `99213`, `0001F`, `0042T`, `0001U`) → `CPT`;
* `CPT` or `HCPCS` and a letter then four digits (HCPCS Level II: `J1100`) → `HCPCS`;
* anything else keeps its published type (`MS-DRG` and `APR-DRG` never merge).

The code itself is never changed. The rule is defined here once, as DuckDB macros, and
created wherever comparison SQL runs: the catalog (its views call them), every published
snapshot, and the connection that derives one file's marts at ingest.
"""

from __future__ import annotations

import duckdb

MACROS = """
-- The type a service code is compared under (see warehouse/service_codes.py).
CREATE OR REPLACE MACRO service_code_type(code_type, code) AS CASE
    WHEN upper(code_type) IN ('CPT', 'HCPCS') AND regexp_full_match(code, '[0-9]{4}[0-9FTU]')
        THEN 'CPT'
    WHEN upper(code_type) IN ('CPT', 'HCPCS') AND regexp_full_match(code, '[A-Z][0-9]{4}')
        THEN 'HCPCS'
    ELSE code_type
END;

-- Whether a code type names a service: a hospital's own numbers (CDM, LOCAL) and revenue
-- codes (RC, a billing category) are not comparable across hospitals.
CREATE OR REPLACE MACRO is_service_code(code_type) AS code_type NOT IN ('CDM', 'LOCAL', 'RC');

-- Whether a published pair, re-typed to `service_type`, is a second spelling of a pair the
-- same charge also publishes under that type (`HCPCS 73721` beside `CPT 73721`): one
-- service, so one rate. Tested only for re-typed pairs: most pairs keep their type.
CREATE OR REPLACE MACRO is_second_spelling(codes, published_type, service_type, code) AS
    published_type <> service_type
    AND list_contains(codes, row(service_type, code)::STRUCT(type VARCHAR, code VARCHAR));
"""


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) the service-code macros in the connection's current database."""
    con.execute(MACROS)
