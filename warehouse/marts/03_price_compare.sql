-- One file's marts, judged against the cross-facility bounds. In (temp views over what
-- the file's ingest derived): file_candidates, its rates without an exclusion (k, payer,
-- plan_type, has_payer, dollar); file_groups, per code × setting × unit × payer × plan
-- type, and file_codes, per code × setting × unit: the counts and medians that no
-- judgement changes, the price figures as if no rate were an outlier, and the lowest and
-- highest payer rate (file_codes also the code type the facility published most). Out: temp
-- view file_price_compare (read once, by the COPY that writes it) and temp table
-- file_facility_code_prices, sorted by code so a lookup reads few blocks. The caller drops
-- them and the temp tables rates_judged and judged_keys they read.

-- A payer rate outside its group's band (code_price_bounds) is an outlier. Only the groups
-- with one are judged rate by rate; the others keep the figures the ingest computed.
CREATE OR REPLACE TEMP TABLE judged_keys AS
SELECT c.k
FROM file_codes c JOIN code_price_bounds b USING (k)
WHERE c.low < b.lower_dollar OR c.high > b.upper_dollar;

CREATE OR REPLACE TEMP TABLE rates_judged AS
SELECT c.k, c.payer, c.plan_type, c.dollar
FROM file_candidates c
JOIN code_price_bounds b USING (k)
SEMI JOIN judged_keys j USING (k)
WHERE NOT (c.has_payer AND (c.dollar < b.lower_dollar OR c.dollar > b.upper_dollar));

-- price_compare: per code, setting, unit, facility, canonical payer and plan type, the
-- comparable rates (exclusions left out of min/median/max) beside the item's gross charge
-- and discounted cash (per unit for drugs).
CREATE OR REPLACE TEMP VIEW file_price_compare AS
WITH stats AS (
    SELECT k, payer, plan_type, count(*) AS comparable_rates, min(dollar) AS min_dollar,
           median(dollar) AS median_dollar, max(dollar) AS max_dollar
    FROM rates_judged GROUP BY ALL
),
judged AS (
    SELECT g.* EXCLUDE (comparable_rates, min_dollar, median_dollar, max_dollar),
           coalesce(s.comparable_rates, 0) AS comparable_rates,
           s.min_dollar, s.median_dollar, s.max_dollar
    FROM file_groups g
    SEMI JOIN judged_keys j USING (k)
    LEFT JOIN stats s
        ON s.k = g.k AND s.payer IS NOT DISTINCT FROM g.payer
        AND s.plan_type IS NOT DISTINCT FROM g.plan_type
),
groups AS (
    SELECT * EXCLUDE (low, high) FROM file_groups ANTI JOIN judged_keys USING (k)
    UNION ALL BY NAME
    SELECT * EXCLUDE (low, high) FROM judged
)
SELECT
    g.code_type, g.code, g.setting, g.price_unit, g.facility_id, g.payer, g.plan_type,
    g.rates, g.comparable_rates, g.min_dollar, g.median_dollar, g.max_dollar, g.gross_charge,
    g.discounted_cash, c.published_code_type
FROM groups g
JOIN (SELECT k, published_code_type FROM file_codes) c USING (k)
ORDER BY code, code_type, setting, facility_id, payer, plan_type;

-- facility_code_prices: one price per facility for a code — the median of all its
-- comparable rates (every payer and plan) — the unit code_summary compares.
CREATE OR REPLACE TEMP TABLE file_facility_code_prices AS
WITH stats AS (
    SELECT k, count(*) AS comparable_rates, median(dollar) AS median_dollar
    FROM rates_judged GROUP BY k
),
codes AS (
    SELECT k, code_type, code, setting, price_unit, facility_id, rates, comparable_rates,
           median_dollar, gross_charge, discounted_cash, description, published_code_type
    FROM file_codes ANTI JOIN judged_keys USING (k)
    UNION ALL
    SELECT c.k, c.code_type, c.code, c.setting, c.price_unit, c.facility_id, c.rates,
           coalesce(s.comparable_rates, 0), s.median_dollar, c.gross_charge,
           c.discounted_cash, c.description, c.published_code_type
    FROM file_codes c SEMI JOIN judged_keys j USING (k) LEFT JOIN stats s USING (k)
)
SELECT
    code_type, code, setting, price_unit, facility_id, rates, comparable_rates,
    median_dollar, gross_charge, discounted_cash, description, published_code_type
FROM codes
ORDER BY code, code_type, setting, facility_id;
