-- Core catalog: facilities, ingested files, findings and the log of ingest attempts.
-- Charges themselves live in one immutable Parquet file per ingested file (files.data_path);
-- the views over them are rebuilt by warehouse.views after every load.

CREATE TABLE IF NOT EXISTS facilities (
    facility_id      VARCHAR PRIMARY KEY,
    hospital_name    VARCHAR,
    license_number   VARCHAR,
    license_state    VARCHAR,
    locations        VARCHAR[],
    addresses        VARCHAR[],
    npis             VARCHAR[],
    updated_at       TIMESTAMP
);

CREATE TABLE IF NOT EXISTS files (
    file_id          VARCHAR PRIMARY KEY,
    facility_id      VARCHAR NOT NULL,
    source           VARCHAR,
    sha256           VARCHAR NOT NULL,
    bytes            BIGINT,
    layout           VARCHAR,
    version          VARCHAR,
    encoding         VARCHAR,
    hospital_name    VARCHAR,
    last_updated_on  DATE,
    attestation      BOOLEAN,
    attester_name    VARCHAR,
    loaded_at        TIMESTAMP NOT NULL,
    row_count        BIGINT NOT NULL,
    item_count       BIGINT,
    finding_count    BIGINT NOT NULL,
    error_count      BIGINT NOT NULL,
    alert_count      BIGINT NOT NULL,
    seconds          DOUBLE,
    status           VARCHAR NOT NULL,   -- 'loaded' (may be current) or 'held' (not published)
    status_reason    VARCHAR,
    data_path        VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS findings (
    file_id          VARCHAR NOT NULL,
    rule             VARCHAR NOT NULL,
    severity         VARCHAR NOT NULL,
    row_no           BIGINT,
    "column"         VARCHAR,
    value            VARCHAR,
    message          VARCHAR
);

CREATE TABLE IF NOT EXISTS finding_counts (
    file_id          VARCHAR NOT NULL,
    rule             VARCHAR NOT NULL,
    severity         VARCHAR NOT NULL,
    finding_count    BIGINT NOT NULL,
    PRIMARY KEY (file_id, rule)
);

CREATE TABLE IF NOT EXISTS ingest_log (
    attempted_at     TIMESTAMP NOT NULL,
    facility_id      VARCHAR,
    source           VARCHAR,
    sha256           VARCHAR,
    outcome          VARCHAR NOT NULL,   -- 'loaded', 'unchanged', 'held', 'failed'
    message          VARCHAR,
    file_id          VARCHAR,
    seconds          DOUBLE
);

-- The current file of each facility: its newest loaded file. Derived, so a facility can
-- never have two current files, whatever happened to a load.
CREATE OR REPLACE VIEW current_files AS
SELECT * EXCLUDE (rn) FROM (
    SELECT f.*, row_number() OVER (
        PARTITION BY facility_id ORDER BY loaded_at DESC, file_id DESC) AS rn
    FROM files f WHERE status = 'loaded'
) WHERE rn = 1;
