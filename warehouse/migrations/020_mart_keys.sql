-- The comparison groups (code type, code, setting, price unit) are keyed by a 64-bit hash
-- of those four values instead of their joined text: the per-file working set and the
-- outlier bands' bins are smaller and group, sort and join faster. Their text is kept once
-- per group in mart_keys (writer-only). The old keys' rows are dropped here; the marts'
-- rules signature changed with them, so the next publish derives every file's data again.
DROP TABLE IF EXISTS mart_price_bins;
CREATE TABLE mart_price_bins (
    k            UBIGINT NOT NULL,   -- hash(code_type, code, setting, price_unit)
    bin          INTEGER NOT NULL,   -- round(100 × ln(dollar))
    n            BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS mart_keys (
    k UBIGINT NOT NULL, code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR
);

DROP TABLE IF EXISTS code_price_bounds;
CREATE TABLE code_price_bounds (
    k UBIGINT, code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR,
    rates BIGINT, median_dollar DOUBLE, lower_dollar DOUBLE, upper_dollar DOUBLE
);
