-- code_summary: per code, setting and unit, for each state and for all states ('ALL'):
-- how many facilities price it, the spread of facility prices (p10/median/p90 of the
-- facility medians), the spread ratio (highest ÷ lowest facility median: "the same service
-- costs 5× more"), and the cheapest and most expensive facility.
CREATE OR REPLACE TABLE code_summary AS
WITH priced AS (
    SELECT p.*, l.state
    FROM facility_code_prices p
    LEFT JOIN facility_locations l USING (facility_id)
    WHERE p.median_dollar IS NOT NULL
)
SELECT
    code_type, code, setting, price_unit,
    CASE WHEN grouping(state) = 1 THEN 'ALL' ELSE state END AS state,
    count(*) AS facilities,
    sum(comparable_rates)::BIGINT AS rates,
    quantile_cont(median_dollar, 0.1) AS p10_dollar,
    median(median_dollar) AS median_dollar,
    quantile_cont(median_dollar, 0.9) AS p90_dollar,
    min(median_dollar) AS min_facility_dollar,
    max(median_dollar) AS max_facility_dollar,
    CASE WHEN count(*) >= 2 THEN max(median_dollar) / min(median_dollar) END AS spread_ratio,
    arg_min(facility_id, median_dollar) AS cheapest_facility_id,
    arg_max(facility_id, median_dollar) AS most_expensive_facility_id,
    median(gross_charge) AS median_gross_charge,
    median(discounted_cash) AS median_discounted_cash
FROM priced
GROUP BY GROUPING SETS (
    (code_type, code, setting, price_unit, state),
    (code_type, code, setting, price_unit)
)
ORDER BY code, code_type, setting, state;

-- code_catalog: a display name for each code with prices: the curated plain-language name
-- of a common shoppable service, else the description most hospitals give it.
-- search_text holds the code, names and description in lower case for word search.
CREATE OR REPLACE TABLE code_catalog AS
WITH present AS (
    SELECT code_type, code, count(DISTINCT facility_id) AS facilities,
           sum(rates)::BIGINT AS rates, mode(description) AS hospital_description
    FROM facility_code_prices
    GROUP BY ALL
)
SELECT
    p.code_type, p.code,
    coalesce(s.name, p.hospital_description, p.code) AS display_name,
    s.category,
    s.name IS NOT NULL AS curated,
    p.hospital_description,
    p.facilities,
    p.rates,
    lower(concat_ws(' ', p.code_type, p.code, s.name, s.category, p.hospital_description))
        AS search_text
FROM present p
LEFT JOIN shoppable_services s USING (code_type, code)
ORDER BY p.code, p.code_type;
