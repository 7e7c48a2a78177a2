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

-- The marts are filled part by part (ranges of codes, see warehouse.marts), which bounds the
-- memory of the per-group medians however big the warehouse grows.
CREATE OR REPLACE TABLE code_price_bounds (
    code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR, rates BIGINT,
    median_dollar DOUBLE, lower_dollar DOUBLE, upper_dollar DOUBLE
);
CREATE OR REPLACE TABLE price_compare (
    code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR, facility_id VARCHAR,
    payer VARCHAR, plan_type VARCHAR, rates BIGINT, comparable_rates BIGINT,
    min_dollar DOUBLE, median_dollar DOUBLE, max_dollar DOUBLE, gross_charge DOUBLE,
    discounted_cash DOUBLE
);
CREATE OR REPLACE TABLE facility_code_prices (
    code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR, facility_id VARCHAR,
    rates BIGINT, comparable_rates BIGINT, median_dollar DOUBLE, gross_charge DOUBLE,
    discounted_cash DOUBLE, description VARCHAR
);

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
