-- The shared catalog's journal entries this catalog has applied (warehouse.catalog): the
-- highest sequence number, in the same transaction as the entries themselves.
CREATE TABLE IF NOT EXISTS catalog_journal (
    seq BIGINT NOT NULL,
    applied_at TIMESTAMP
);
