-- The cross-facility marts, for the groups whose facility prices changed: temp tables
-- affected_groups (code_type, code, setting, price_unit, state: a state whose facilities'
-- prices of the group changed) and affected_codes (code_type, code) say which;
-- mart_facility_code_prices holds every current facility's prices.

-- code_summary: per code, setting and unit, for each state and for all states ('ALL'):
-- how many facilities price it, the spread of facility prices (p10/median/p90 of the
-- facility medians), the spread ratio (highest ÷ lowest facility median: "the same service
-- costs 5× more"), and the cheapest and most expensive facility. Of an affected group, the
-- rows of all states and of the states named with it are computed again (the others did
-- not change).
DELETE FROM code_summary s USING affected_groups a
WHERE s.code_type = a.code_type AND s.code = a.code
    AND s.setting IS NOT DISTINCT FROM a.setting
    AND s.price_unit IS NOT DISTINCT FROM a.price_unit
    AND (s.state = 'ALL' OR s.state IS NOT DISTINCT FROM a.state);

INSERT INTO code_summary BY NAME
WITH priced AS (
    SELECT p.*, l.state
    FROM mart_facility_code_prices p
    SEMI JOIN affected_groups a
        ON a.code_type = p.code_type AND a.code = p.code
        AND a.setting IS NOT DISTINCT FROM p.setting
        AND a.price_unit IS NOT DISTINCT FROM p.price_unit
    LEFT JOIN facility_locations l USING (facility_id)
    WHERE p.median_dollar IS NOT NULL
),
in_states AS (
    SELECT * FROM priced p
    SEMI JOIN affected_groups a
        ON a.code_type = p.code_type AND a.code = p.code
        AND a.setting IS NOT DISTINCT FROM p.setting
        AND a.price_unit IS NOT DISTINCT FROM p.price_unit
        AND a.state IS NOT DISTINCT FROM p.state
),
sliced AS (  -- each price in its state's row (if that changed) and in the row of all states
    SELECT *, state AS slice FROM in_states
    UNION ALL
    SELECT *, 'ALL' AS slice FROM priced
),
summed AS (
SELECT
    code_type, code, setting, price_unit,
    slice AS state,
    count(*) AS facilities,
    sum(comparable_rates)::BIGINT AS rates,
    -- p10, median and p90 in one sort of the group's values (three aggregates sort thrice)
    quantile_cont(median_dollar, [0.1, 0.5, 0.9]) AS spread,
    min(median_dollar) AS min_facility_dollar,
    max(median_dollar) AS max_facility_dollar,
    CASE WHEN count(*) >= 2 THEN max(median_dollar) / min(median_dollar) END AS spread_ratio,
    arg_min(facility_id, median_dollar) AS cheapest_facility_id,
    arg_max(facility_id, median_dollar) AS most_expensive_facility_id,
    median(gross_charge) AS median_gross_charge,
    median(discounted_cash) AS median_discounted_cash
FROM sliced
GROUP BY code_type, code, setting, price_unit, slice
)
SELECT * EXCLUDE (spread),
    spread[1] AS p10_dollar, spread[2] AS median_dollar, spread[3] AS p90_dollar
FROM summed
ORDER BY code, code_type, setting, state;

-- code_catalog: a display name for each code with prices: the curated plain-language name
-- of a common shoppable service, else the description most hospitals give it.
-- search_text holds the code, names and description in lower case for word search (a CPT
-- code is also HCPCS Level I: "hcpcs 73721" finds it).
DELETE FROM code_catalog c USING affected_codes a
WHERE c.code_type = a.code_type AND c.code = a.code;

INSERT INTO code_catalog
WITH rows AS (
    SELECT p.* FROM mart_facility_code_prices p
    SEMI JOIN affected_codes a ON a.code_type = p.code_type AND a.code = p.code
),
named AS (  -- the description most facilities use (ties: the first in order)
    SELECT code_type, code,
           first(description ORDER BY uses DESC, description) AS hospital_description
    FROM (SELECT code_type, code, description, count(*) AS uses FROM rows
          WHERE description IS NOT NULL GROUP BY ALL)
    GROUP BY ALL
),
present AS (
    SELECT code_type, code, count(DISTINCT facility_id) AS facilities,
           sum(rates)::BIGINT AS rates
    FROM rows
    GROUP BY ALL
)
SELECT
    p.code_type, p.code,
    coalesce(s.name, n.hospital_description, p.code) AS display_name,
    s.category,
    s.name IS NOT NULL AS curated,
    n.hospital_description,
    p.facilities,
    p.rates,
    lower(concat_ws(' ', p.code_type, CASE WHEN p.code_type = 'CPT' THEN 'HCPCS' END, p.code,
                    s.name, s.category, n.hospital_description)) AS search_text
FROM present p
LEFT JOIN named n USING (code_type, code)
LEFT JOIN shoppable_services s USING (code_type, code)
ORDER BY p.code, p.code_type;
