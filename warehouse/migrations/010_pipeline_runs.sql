-- One row per orchestrated run (the nightly Airflow DAG): how many facilities loaded, were
-- unchanged, held or failed, and why each failure failed. Operators read "what broke last
-- night" here; the details stay in download_attempts and ingest_log.

CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id           VARCHAR NOT NULL,   -- the orchestrator's run id; a re-run replaces its row
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP NOT NULL,
    facilities       INTEGER NOT NULL,   -- registry entries in the run
    loaded           INTEGER NOT NULL,
    unchanged        INTEGER NOT NULL,
    held             INTEGER NOT NULL,
    failed           INTEGER NOT NULL,
    rows_loaded      BIGINT NOT NULL,
    failures         JSON                -- {facility_id: one-line reason}
);
