-- Paths the catalog stores are relative to the warehouse root, the folder holding this
-- catalog file (`hpt-charges/<facility>/<file>`), so a warehouse folder can be moved or
-- copied whole; the views read them through DuckDB's `file_search_path` (warehouse.db).
-- Earlier catalogs stored absolute paths: those under the root become relative. A path
-- elsewhere (a catalog moved before this ran) stays as it is. Idempotent: a relative path
-- does not start with the root. The views are rewritten by the next publish.

CREATE OR REPLACE TEMP TABLE hpt_root AS
SELECT regexp_replace(path, '/[^/]*$', '') || '/' AS prefix
FROM duckdb_databases() WHERE database_name = current_database();

UPDATE files SET data_path = substr(data_path, length(r.prefix) + 1)
FROM hpt_root r WHERE starts_with(data_path, r.prefix);

UPDATE quarantine SET data_path = substr(data_path, length(r.prefix) + 1)
FROM hpt_root r WHERE starts_with(data_path, r.prefix);

UPDATE retention_pending SET data_path = substr(data_path, length(r.prefix) + 1)
FROM hpt_root r WHERE starts_with(data_path, r.prefix);

UPDATE mart_files SET
    price_compare_path = CASE WHEN starts_with(price_compare_path, r.prefix)
        THEN substr(price_compare_path, length(r.prefix) + 1) ELSE price_compare_path END,
    facility_prices_path = CASE WHEN starts_with(facility_prices_path, r.prefix)
        THEN substr(facility_prices_path, length(r.prefix) + 1) ELSE facility_prices_path END
FROM hpt_root r
WHERE starts_with(price_compare_path, r.prefix) OR starts_with(facility_prices_path, r.prefix);

DROP TABLE hpt_root;
