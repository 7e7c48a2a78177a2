-- comparable_charge_codes: the analyst's view of comparable_charges per service code, with
-- the outlier rule applied (same rules as the marts: codes keyed by their service type, the
-- published type kept as published_code_type, one row per charge and service code).
CREATE OR REPLACE VIEW comparable_charge_codes AS
WITH pairs AS (
    SELECT c.*, UNNEST(c.codes) AS pair FROM comparable_charges c
),
typed AS (
    SELECT *, service_code_type(pair.type, pair.code) AS service_type
    FROM pairs
    WHERE is_service_code(pair.type)
),
unnested AS (
    SELECT * EXCLUDE (pair, codes, service_type), service_type AS code_type,
           pair.code AS code, pair.type AS published_code_type
    FROM typed
    WHERE NOT is_second_spelling(codes, pair.type, service_type, pair.code)
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
