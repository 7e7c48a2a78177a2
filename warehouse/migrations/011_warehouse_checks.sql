-- The warehouse checks made after a publish, with a digest of everything their suites read
-- (current files, view definitions, registry accounting, the day, the suites themselves).
-- A run whose published warehouse has the digest of the last passing check skips the
-- re-validation: it would give the same results.

CREATE TABLE IF NOT EXISTS warehouse_checks (
    checked_at   TIMESTAMP NOT NULL,
    run_id       VARCHAR NOT NULL,   -- its rows in quality_results
    state        VARCHAR NOT NULL,   -- sha256 of what the warehouse suites read
    outcome      VARCHAR NOT NULL    -- 'passed' or 'failed'
);
