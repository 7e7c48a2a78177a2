-- Retention (`hpt prune`, and the nightly run after its publish). A file beyond the kept
-- history keeps its `files` row with status 'expired' (history says what existed); its
-- findings and validation rows go at once. Its Parquet folder — and that of quarantined
-- data past its days — waits here until no kept snapshot can list it any more (one made
-- before `expired_at` may), then is deleted and its row with it.

CREATE TABLE IF NOT EXISTS retention_pending (
    data_path    VARCHAR PRIMARY KEY,  -- the folder to delete
    file_id      VARCHAR NOT NULL,
    facility_id  VARCHAR,
    reason       VARCHAR NOT NULL,     -- 'history', 'held' or 'quarantine'
    expired_at   TIMESTAMP NOT NULL    -- UTC: when the catalog stopped referencing it
);
