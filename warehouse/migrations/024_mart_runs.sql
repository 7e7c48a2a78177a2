-- The code-sorted runs of the comparison marts (warehouse.marts.runs): `price_compare` and
-- `facility_code_prices` of many files in one Parquet file each, sorted by code, so that one
-- code's query reads a few files instead of one per facility. Each publish that folds files
-- in writes one run of just those files; runs of similar size are merged. The next publish
-- writes the first run, of every folded file, from the files' judged marts.

-- The live runs: one Parquet file per mart, written once, never changed.
CREATE TABLE IF NOT EXISTS mart_runs (
    run_id                  VARCHAR PRIMARY KEY,
    price_compare_path      VARCHAR NOT NULL,
    facility_prices_path    VARCHAR NOT NULL,
    since              TIMESTAMP NOT NULL
);

-- Which folded files each run holds rows of, and how many: a file's fold is its
-- (file_id, built_at) in mart_files; rows of a fold no longer there are dead.
CREATE TABLE IF NOT EXISTS mart_run_files (
    run_id          VARCHAR NOT NULL,
    file_id         VARCHAR NOT NULL,
    built_at        TIMESTAMP NOT NULL,
    compare_rows    BIGINT NOT NULL,
    prices_rows     BIGINT NOT NULL
);

-- Writer only: the Parquet files of runs merged away, deleted by retention once no kept
-- snapshot can list them.
CREATE TABLE IF NOT EXISTS mart_runs_retired (
    path        VARCHAR PRIMARY KEY,
    retired_at  TIMESTAMP NOT NULL
);
