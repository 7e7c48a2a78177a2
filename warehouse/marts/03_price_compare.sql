-- One file's marts, judged against the cross-facility bounds. In (temp views over what
-- the file's ingest derived): file_candidates, its rates without an exclusion (k, payer,
-- plan_type, has_payer, dollar); file_groups, per code × setting × unit × payer × plan
-- type, the counts and medians that no judgement changes; file_codes, the same per code ×
-- setting × unit. Out: temp tables file_price_compare and file_facility_code_prices,
-- sorted by code so a lookup reads few blocks.

-- A payer rate outside its group's band (code_price_bounds) is an outlier.
CREATE OR REPLACE TEMP TABLE rates_judged AS
SELECT c.k, c.payer, c.plan_type, c.dollar
FROM file_candidates c
LEFT JOIN code_price_bounds b USING (k)
WHERE NOT coalesce(c.has_payer AND (c.dollar < b.lower_dollar OR c.dollar > b.upper_dollar),
                   false);

-- price_compare: per code, setting, unit, facility, canonical payer and plan type, the
-- comparable rates (exclusions left out of min/median/max) beside the item's gross charge
-- and discounted cash (per unit for drugs).
CREATE OR REPLACE TEMP TABLE file_price_compare AS
WITH stats AS (
    SELECT k, payer, plan_type, count(*) AS comparable_rates, min(dollar) AS min_dollar,
           median(dollar) AS median_dollar, max(dollar) AS max_dollar
    FROM rates_judged GROUP BY ALL
)
SELECT
    g.code_type, g.code, g.setting, g.price_unit, g.facility_id, g.payer, g.plan_type,
    g.rates, coalesce(s.comparable_rates, 0) AS comparable_rates,
    s.min_dollar, s.median_dollar, s.max_dollar, g.gross_charge, g.discounted_cash
FROM file_groups g
LEFT JOIN stats s
    ON s.k = g.k AND s.payer IS NOT DISTINCT FROM g.payer
    AND s.plan_type IS NOT DISTINCT FROM g.plan_type
ORDER BY g.code, g.code_type, g.setting, g.facility_id, g.payer, g.plan_type;

-- facility_code_prices: one price per facility for a code — the median of all its
-- comparable rates (every payer and plan) — the unit code_summary compares.
CREATE OR REPLACE TEMP TABLE file_facility_code_prices AS
WITH stats AS (
    SELECT k, count(*) AS comparable_rates, median(dollar) AS median_dollar
    FROM rates_judged GROUP BY k
)
SELECT
    c.code_type, c.code, c.setting, c.price_unit, c.facility_id, c.rates,
    coalesce(s.comparable_rates, 0) AS comparable_rates, s.median_dollar, c.gross_charge,
    c.discounted_cash, c.description
FROM file_codes c
LEFT JOIN stats s USING (k)
ORDER BY c.code, c.code_type, c.setting, c.facility_id;
DROP TABLE rates_judged;
