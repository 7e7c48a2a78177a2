-- The source registry and acquisition history: which facilities we track, where their
-- files come from, every discovery problem and every download attempt. Lets the dashboard
-- list hospitals whose file is missing or failing, not only those that loaded.

ALTER TABLE facilities ADD COLUMN IF NOT EXISTS registry_name VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS state VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS city VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS zip_code VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS system_name VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS website VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS mrf_url VARCHAR;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS registered BOOLEAN DEFAULT false;
ALTER TABLE facilities ADD COLUMN IF NOT EXISTS registered_at TIMESTAMP;

CREATE TABLE IF NOT EXISTS download_attempts (
    attempted_at     TIMESTAMP NOT NULL,
    facility_id      VARCHAR,
    url              VARCHAR,
    final_url        VARCHAR,     -- after redirects
    http_status      INTEGER,
    outcome          VARCHAR NOT NULL,   -- 'downloaded', 'not_modified', 'failed'
    message          VARCHAR,
    bytes            BIGINT,             -- bytes of content received in this attempt
    sha256           VARCHAR,
    file_name        VARCHAR,
    etag             VARCHAR,
    last_modified    VARCHAR,
    retries          INTEGER,
    seconds          DOUBLE
);

CREATE TABLE IF NOT EXISTS source_findings (
    checked_at       TIMESTAMP NOT NULL,
    facility_id      VARCHAR,
    url              VARCHAR,            -- the cms-hpt.txt (or MRF) URL the finding is about
    rule             VARCHAR NOT NULL,
    severity         VARCHAR NOT NULL,
    line_no          BIGINT,
    value            VARCHAR,
    message          VARCHAR
);

-- One row per registered facility: its last download attempt and its current file, so
-- "missing" (never loaded) and "failing" (last attempt failed) are one WHERE away.
CREATE OR REPLACE VIEW source_status AS
WITH last_attempt AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT d.*, row_number() OVER (
            PARTITION BY facility_id ORDER BY attempted_at DESC) AS rn
        FROM download_attempts d
    ) WHERE rn = 1
),
last_ingest AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT l.*, row_number() OVER (
            PARTITION BY facility_id ORDER BY attempted_at DESC) AS rn
        FROM ingest_log l
    ) WHERE rn = 1
)
SELECT
    f.facility_id,
    coalesce(f.registry_name, f.hospital_name) AS name,
    f.state, f.city, f.zip_code, f.system_name, f.website, f.mrf_url,
    a.attempted_at AS last_attempt_at,
    a.outcome AS last_download_outcome,
    a.message AS last_download_message,
    a.http_status AS last_http_status,
    i.outcome AS last_ingest_outcome,
    i.message AS last_ingest_message,
    c.file_id AS current_file_id,
    c.loaded_at AS current_loaded_at,
    c.row_count AS current_row_count,
    CASE
        WHEN a.outcome = 'failed' OR (i.outcome = 'failed'
                AND (a.attempted_at IS NULL OR i.attempted_at >= a.attempted_at))
            THEN CASE WHEN c.file_id IS NULL THEN 'failing' ELSE 'failing (previous data kept)' END
        WHEN c.file_id IS NULL THEN 'missing'
        ELSE 'ok'
    END AS status
FROM facilities f
LEFT JOIN last_attempt a USING (facility_id)
LEFT JOIN last_ingest i USING (facility_id)
LEFT JOIN current_files c USING (facility_id)
WHERE f.registered;
