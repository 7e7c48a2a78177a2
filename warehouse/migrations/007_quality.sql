-- Data quality: every expectation result of every validation, and the files held back
-- because a blocking expectation failed (quarantined: never loaded, never published).

CREATE TABLE IF NOT EXISTS quality_results (
    validated_at       TIMESTAMP NOT NULL,
    run_id             VARCHAR NOT NULL,     -- one gate or warehouse check
    suite              VARCHAR NOT NULL,
    file_id            VARCHAR,              -- null for warehouse-wide suites
    facility_id        VARCHAR,
    expectation        VARCHAR NOT NULL,     -- GX expectation type
    "column"           VARCHAR,
    severity           VARCHAR NOT NULL,     -- 'blocking', 'hold', 'warning' or 'error'
    success            BOOLEAN NOT NULL,
    observed_value     VARCHAR,              -- JSON: the observed value or a few unexpected ones
    unexpected_count   BIGINT,
    unexpected_percent DOUBLE,
    why                VARCHAR,
    kwargs             VARCHAR               -- JSON: the expectation's arguments
);

CREATE TABLE IF NOT EXISTS quarantine (
    file_id            VARCHAR PRIMARY KEY,
    facility_id        VARCHAR NOT NULL,
    source             VARCHAR,
    sha256             VARCHAR NOT NULL,
    data_path          VARCHAR NOT NULL,     -- the batch's Parquet file, kept for inspection
    row_count          BIGINT NOT NULL,
    quarantined_at     TIMESTAMP NOT NULL,
    run_id             VARCHAR NOT NULL,     -- its rows in quality_results
    reason             VARCHAR NOT NULL,     -- one line: the first failing expectation
    result             VARCHAR NOT NULL      -- JSON: the gate's summary
);
