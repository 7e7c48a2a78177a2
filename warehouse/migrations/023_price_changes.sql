-- What changed between a facility's files (warehouse.marts.changes). When a publish folds
-- in a facility's new file, its prices are compared with the facility's previous file,
-- from the two files' judged marts; the pair's rows are Parquet files beside the new
-- file's judged marts, listed here (history kept per file pair).
CREATE TABLE IF NOT EXISTS mart_change_files (
    new_file_id          VARCHAR PRIMARY KEY,
    old_file_id          VARCHAR NOT NULL,
    facility_id          VARCHAR NOT NULL,
    price_changes_path   VARCHAR NOT NULL,
    code_changes_path    VARCHAR NOT NULL,
    prices_up            BIGINT,
    prices_down          BIGINT,
    prices_unchanged     BIGINT,
    codes_added          BIGINT,
    codes_removed        BIGINT,
    built_at             TIMESTAMP NOT NULL
);

-- The biggest moves of each current file against its facility's previous one (a few
-- hundred rows per facility): the national list reads this table, not every change file.
CREATE TABLE IF NOT EXISTS top_price_changes (
    facility_id VARCHAR, code_type VARCHAR, code VARCHAR, setting VARCHAR, price_unit VARCHAR,
    payer VARCHAR, plan_type VARCHAR, old_file_id VARCHAR, new_file_id VARCHAR,
    old_median DOUBLE, new_median DOUBLE, change DOUBLE, change_pct DOUBLE, old_rates BIGINT,
    new_rates BIGINT, old_gross DOUBLE, new_gross DOUBLE, old_cash DOUBLE, new_cash DOUBLE,
    changed_at TIMESTAMP
);

-- Every file's counts when it was folded in, kept after it stops being current (a
-- facility's file timeline); the files folded in now are its first rows.
CREATE TABLE IF NOT EXISTS mart_file_counts (
    file_id      VARCHAR PRIMARY KEY,
    facility_id  VARCHAR NOT NULL,
    rates        BIGINT,
    codes        BIGINT,
    folded_at    TIMESTAMP
);
INSERT INTO mart_file_counts
SELECT file_id, facility_id, rates, codes, built_at FROM mart_files
WHERE file_id NOT IN (SELECT file_id FROM mart_file_counts);
