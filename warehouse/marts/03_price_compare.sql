-- price_compare: per code, setting, unit, facility, canonical payer and plan type, the
-- comparable rates (exclusions left out of min/median/max) beside the item's gross charge
-- and discounted cash (per unit for drugs). Sorted by code, so a lookup reads few blocks.
CREATE OR REPLACE TABLE price_compare AS
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
CREATE OR REPLACE TABLE facility_code_prices AS
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
