-- rate_codes (temporary, one file's working set): one row per standard charge × service
-- code, over the file's `comparable_charges`. Facility-internal codes (CDM, LOCAL) and
-- revenue codes (RC, a billing category, not a service) are not comparable across
-- hospitals and are left out. `k` names the group a price is compared within: a hash of
-- code type, code, setting and price unit. Only the columns the per-file marts need, as
-- small as they can be (the file and facility are the same on every row): this table is
-- the file's biggest working set.
CREATE OR REPLACE TEMP TABLE rate_codes AS
WITH unnested AS (
    -- UNNEST in the select list: a lateral join over the view would be far slower.
    SELECT
        UNNEST(c.codes) AS pair,
        c.setting,
        c.price_unit,
        c.payer,
        c.plan_type,
        c.description,
        c.payer_name IS NOT NULL OR c.plan_name IS NOT NULL AS has_payer,
        c.comparable_dollar,
        c.gross_per_unit,
        c.cash_per_unit,
        c.exclusion_reason IS NULL AS comparable
    FROM comparable_charges c
)
SELECT
    hash(pair.type, pair.code, setting, price_unit) AS k,
    pair.type AS code_type, pair.code AS code, * EXCLUDE (pair)
FROM unnested
WHERE pair.type NOT IN ('CDM', 'LOCAL', 'RC');
