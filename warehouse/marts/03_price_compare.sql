-- One file's marts, judged against the cross-facility bounds: temp table rate_codes_part
-- (the file's rate × code rows) in, temp tables file_price_compare and
-- file_facility_code_prices out, sorted by code so a lookup reads few blocks.

-- The file's rates with the outlier rule applied: a payer rate outside its group's band
-- (code_price_bounds) is an outlier.
CREATE OR REPLACE TEMP TABLE rate_codes_judged AS
SELECT
    r.* EXCLUDE (exclusion_reason),
    coalesce(r.exclusion_reason, CASE
        WHEN r.has_payer AND (r.comparable_dollar < b.lower_dollar
            OR r.comparable_dollar > b.upper_dollar) THEN 'outlier'
    END) AS exclusion_reason
FROM rate_codes_part r
LEFT JOIN code_price_bounds b USING (k);

-- price_compare: per code, setting, unit, facility, canonical payer and plan type, the
-- comparable rates (exclusions left out of min/median/max) beside the item's gross charge
-- and discounted cash (per unit for drugs).
CREATE OR REPLACE TEMP TABLE file_price_compare AS
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
CREATE OR REPLACE TEMP TABLE file_facility_code_prices AS
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
