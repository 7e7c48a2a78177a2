-- comparable_charge_codes: the analyst's view of comparable_charges per service code, with
-- the outlier rule applied (same rules as the marts).
CREATE OR REPLACE VIEW comparable_charge_codes AS
WITH pairs AS (
    SELECT c.* EXCLUDE (codes), UNNEST(c.codes) AS pair FROM comparable_charges c
),
unnested AS (
    SELECT * EXCLUDE (pair), pair.type AS code_type, pair.code AS code
    FROM pairs
    WHERE pair.type NOT IN ('CDM', 'LOCAL', 'RC')
)
SELECT
    r.* EXCLUDE (exclusion_reason),
    coalesce(r.exclusion_reason, CASE
        WHEN (r.payer_name IS NOT NULL OR r.plan_name IS NOT NULL)
            AND (r.comparable_dollar < b.lower_dollar OR r.comparable_dollar > b.upper_dollar)
            THEN 'outlier'
    END) AS exclusion_reason
FROM unnested r
LEFT JOIN code_price_bounds b
    ON b.code_type = r.code_type AND b.code = r.code
    AND b.setting IS NOT DISTINCT FROM r.setting
    AND b.price_unit IS NOT DISTINCT FROM r.price_unit;
