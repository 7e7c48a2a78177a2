-- rate_codes (temporary, the build's working set): one row per standard charge × service
-- code. Facility-internal codes (CDM, LOCAL) and revenue codes (RC, a billing category, not
-- a service) are not comparable across hospitals and are left out.
CREATE OR REPLACE TEMP TABLE rate_codes AS
WITH unnested AS (
    -- UNNEST in the select list: a lateral join over the view would be far slower.
    SELECT
        UNNEST(c.codes) AS pair,
        c.setting,
        c.price_unit,
        c.facility_id,
        c.payer,
        c.plan_type,
        c.description,
        c.payer_name IS NOT NULL OR c.plan_name IS NOT NULL AS has_payer,
        c.comparable_dollar,
        c.gross_per_unit,
        c.cash_per_unit,
        c.exclusion_reason
    FROM comparable_charges c
)
SELECT pair.type AS code_type, pair.code AS code, * EXCLUDE (pair)
FROM unnested
WHERE pair.type NOT IN ('CDM', 'LOCAL', 'RC');

-- code_price_bounds: the robust band of ordinary prices per code, setting and unit, from the
-- log prices of every comparable rate of every facility (at least 5 rates). A rate outside
-- median ÷ f … median × f is an outlier, where f = max(10, exp(4 × 1.4826 × MAD)): more than
-- four robust standard deviations *and* more than tenfold away from the median, so the
-- ordinary 3–5× spread between hospitals is never called an outlier.
CREATE OR REPLACE TABLE code_price_bounds AS
WITH logs AS (
    SELECT code_type, code, setting, price_unit, ln(comparable_dollar) AS lp
    FROM rate_codes
    WHERE exclusion_reason IS NULL AND has_payer
),
stats AS (
    SELECT code_type, code, setting, price_unit, count(*) AS rates,
           median(lp) AS log_median, mad(lp) AS log_mad
    FROM logs
    GROUP BY ALL
    HAVING count(*) >= 5
)
SELECT
    code_type, code, setting, price_unit, rates,
    exp(log_median) AS median_dollar,
    exp(log_median - greatest(4 * 1.4826 * log_mad, ln(10))) AS lower_dollar,
    exp(log_median + greatest(4 * 1.4826 * log_mad, ln(10))) AS upper_dollar
FROM stats;

-- The working set with the outlier rule applied.
CREATE OR REPLACE TEMP TABLE rate_codes_judged AS
SELECT
    r.* EXCLUDE (exclusion_reason),
    coalesce(r.exclusion_reason, CASE
        WHEN r.has_payer AND (r.comparable_dollar < b.lower_dollar
            OR r.comparable_dollar > b.upper_dollar) THEN 'outlier'
    END) AS exclusion_reason
FROM rate_codes r
LEFT JOIN code_price_bounds b
    ON b.code_type = r.code_type AND b.code = r.code
    AND b.setting IS NOT DISTINCT FROM r.setting
    AND b.price_unit IS NOT DISTINCT FROM r.price_unit;
DROP TABLE rate_codes;

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
