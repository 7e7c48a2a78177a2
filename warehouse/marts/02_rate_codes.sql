-- rate_codes (temporary, one file's working set): one row per standard charge × service
-- code, over the file's `comparable_charges`. Facility-internal codes (CDM, LOCAL) and
-- revenue codes (RC) are not comparable across hospitals and are left out
-- (`is_service_code`). A code is keyed by its service type (`service_code_type`: CPT
-- whether published as CPT or HCPCS), its published type kept beside it; a charge that
-- publishes one code under both types is one rate of it. `k` names the group a price is
-- compared within: a hash of service type, code, setting and price unit. Only the columns
-- the per-file marts need, as small as they can be (the file and facility are the same on
-- every row): this table is the file's biggest working set. `row_no` places each code's
-- rates in the file (`code_rows.parquet`).
CREATE OR REPLACE TEMP TABLE rate_codes AS
WITH unnested AS (
    -- UNNEST in the select list: a lateral join over the view would be far slower.
    SELECT
        UNNEST(c.codes) AS pair,
        c.codes,
        c.setting,
        c.price_unit,
        c.payer,
        c.plan_type,
        c.description,
        c.row_no,
        c.payer_name IS NOT NULL OR c.plan_name IS NOT NULL AS has_payer,
        c.comparable_dollar,
        c.gross_per_unit,
        c.cash_per_unit,
        c.exclusion_reason IS NULL AS comparable
    FROM comparable_charges c
),
typed AS (
    SELECT service_code_type(pair.type, pair.code) AS code_type, *
    FROM unnested
    WHERE is_service_code(pair.type)
)
SELECT
    hash(code_type, pair.code, setting, price_unit) AS k,
    code_type, pair.code AS code, pair.type AS published_code_type,
    * EXCLUDE (pair, codes, code_type)
FROM typed
WHERE NOT is_second_spelling(codes, pair.type, code_type, pair.code);
