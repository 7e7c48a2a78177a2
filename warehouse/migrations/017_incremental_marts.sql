-- Incremental comparison marts. Each file's derived data (its rate × code rows, payer map,
-- price values and counts) is computed when the file is ingested and stored beside its
-- charges (`<file folder>/marts/`); a publish only folds in the files that became current
-- or stopped being current. The per-file marts (price_compare, facility_code_prices) are
-- views over Parquet files written once per file; the cross-facility ones are tables
-- updated for the codes that changed.

DROP TABLE IF EXISTS price_compare;
DROP TABLE IF EXISTS facility_code_prices;
DROP TABLE IF EXISTS code_price_bounds;
DROP TABLE IF EXISTS code_summary;
DROP TABLE IF EXISTS code_catalog;
DROP TABLE IF EXISTS facility_summary;
DROP TABLE IF EXISTS payer_map;

-- The files folded into the marts (the current files, after a publish), with their
-- per-file counts and the Parquet files of their judged marts.
CREATE TABLE IF NOT EXISTS mart_files (
    file_id                 VARCHAR PRIMARY KEY,
    facility_id             VARCHAR NOT NULL,
    state                   VARCHAR,          -- the facility's state when folded in
    price_compare_path      VARCHAR NOT NULL,
    facility_prices_path    VARCHAR NOT NULL,
    rates                   BIGINT,
    comparable_rates        BIGINT,
    mapped_rates            BIGINT,
    codes                   BIGINT,
    built_at                TIMESTAMP NOT NULL
);

-- Writer-only working tables (not in published snapshots): the comparable payer prices
-- of every folded file, counted per 1 %-wide bin of log price (the outlier bands); and
-- every folded facility's price per code (code_summary's input).
CREATE TABLE IF NOT EXISTS mart_price_bins (
    k            VARCHAR NOT NULL,
    bin          INTEGER NOT NULL,   -- round(100 × ln(dollar))
    n            BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mart_facility_code_prices (
    file_id VARCHAR, code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR,
    facility_id VARCHAR, rates BIGINT, comparable_rates BIGINT, median_dollar DOUBLE,
    gross_charge DOUBLE, discounted_cash DOUBLE, description VARCHAR
);

CREATE TABLE IF NOT EXISTS code_price_bounds (
    k VARCHAR, code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR,
    rates BIGINT, median_dollar DOUBLE, lower_dollar DOUBLE, upper_dollar DOUBLE
);

CREATE TABLE IF NOT EXISTS code_summary (
    code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR, state VARCHAR,
    facilities BIGINT, rates BIGINT, p10_dollar DOUBLE, median_dollar DOUBLE,
    p90_dollar DOUBLE, min_facility_dollar DOUBLE, max_facility_dollar DOUBLE,
    spread_ratio DOUBLE, cheapest_facility_id VARCHAR, most_expensive_facility_id VARCHAR,
    median_gross_charge DOUBLE, median_discounted_cash DOUBLE
);

CREATE TABLE IF NOT EXISTS code_catalog (
    code_type VARCHAR, code VARCHAR, display_name VARCHAR, category VARCHAR,
    curated BOOLEAN, hospital_description VARCHAR, facilities BIGINT, rates BIGINT,
    search_text VARCHAR
);

CREATE TABLE IF NOT EXISTS payer_map (
    payer_name VARCHAR, plan_name VARCHAR, payer VARCHAR, payer_matched BOOLEAN,
    payer_kind VARCHAR, plan_type VARCHAR
);

CREATE TABLE IF NOT EXISTS mart_builds (
    built_at TIMESTAMP, signature VARCHAR, seconds DOUBLE, heavy BOOLEAN
);
