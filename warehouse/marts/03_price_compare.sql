-- One part of the working set (temp table rate_codes_part: a contiguous range of codes)
-- into code_price_bounds, price_compare and facility_code_prices. Parts are taken in code
-- order, and rows are inserted sorted by code, so the marts end up sorted by code.

-- code_price_bounds: the robust band of ordinary prices per code, setting and unit, from the
-- log prices of every comparable rate of every facility (at least 5 rates). A rate outside
-- median ÷ f … median × f is an outlier, where f = max(10, exp(4 × 1.4826 × MAD)): more than
-- four robust standard deviations *and* more than tenfold away from the median, so the
-- ordinary 3–5× spread between hospitals is never called an outlier.
INSERT INTO code_price_bounds
WITH logs AS (
    SELECT code_type, code, setting, price_unit, ln(comparable_dollar) AS lp
    FROM rate_codes_part
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

-- The part with the outlier rule applied.
CREATE OR REPLACE TEMP TABLE rate_codes_judged AS
SELECT
    r.* EXCLUDE (exclusion_reason),
    coalesce(r.exclusion_reason, CASE
        WHEN r.has_payer AND (r.comparable_dollar < b.lower_dollar
            OR r.comparable_dollar > b.upper_dollar) THEN 'outlier'
    END) AS exclusion_reason
FROM rate_codes_part r
LEFT JOIN code_price_bounds b
    ON b.code_type = r.code_type AND b.code = r.code
    AND b.setting IS NOT DISTINCT FROM r.setting
    AND b.price_unit IS NOT DISTINCT FROM r.price_unit;

-- price_compare: per code, setting, unit, facility, canonical payer and plan type, the
-- comparable rates (exclusions left out of min/median/max) beside the item's gross charge
-- and discounted cash (per unit for drugs). Sorted by code, so a lookup reads few blocks.
INSERT INTO price_compare
SELECT
    code_type, code, setting, price_unit, facility_id, payer, plan_type,
    count(*) FILTER (has_payer) AS rates,
    count(*) FILTER (exclusion_reason IS NULL) AS comparable_rates,
    min(comparable_dollar) FILTER (exclusion_reason IS NULL) AS min_dollar,
    median(comparable_dollar) FILTER (exclusion_reason IS NULL) AS median_dollar,
    max(comparable_dollar) FILTER (exclusion_reason IS NULL) AS max_dollar,
    median(gross_per_unit) AS gross_charge,
    median(cash_per_unit) AS discounted_cash
FROM rate_codes_judged
GROUP BY ALL
ORDER BY code, code_type, setting, facility_id, payer, plan_type;

-- facility_code_prices: one price per facility for a code — the median of all its
-- comparable rates (every payer and plan) — the unit code_summary compares.
INSERT INTO facility_code_prices
SELECT
    code_type, code, setting, price_unit, facility_id,
    count(*) FILTER (has_payer) AS rates,
    count(*) FILTER (exclusion_reason IS NULL) AS comparable_rates,
    median(comparable_dollar) FILTER (exclusion_reason IS NULL) AS median_dollar,
    median(gross_per_unit) AS gross_charge,
    median(cash_per_unit) AS discounted_cash,
    mode(description) AS description
FROM rate_codes_judged
GROUP BY ALL
ORDER BY code, code_type, setting, facility_id;
DROP TABLE rate_codes_judged;
