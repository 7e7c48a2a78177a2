"""The one pipeline: `hpt ingest`, `hpt validate`, `hpt run` and the Airflow DAG all run
the same steps, from these modules.

* `acquire` — discover and download a facility's file: `acquire`.
* `read` — the one pass over a file (parse, normalise, check: `CheckedBatches`), written
  as Parquet parts when ingesting (`write_charges`); `hpt validate` is that pass alone
  (`validate_source`).
* `steps` — ingest a file (`ingest_file`, `ingest_source`, `ingest_acquired`: read, then
  `gated_load`) and publish (`publish_checked`: one publish carrying its warehouse check;
  `check_warehouse`, `accept`).
* `batch` — many files in one process, published once (`expand`, `ingest_many`, for
  `hpt ingest PATH_OR_URL...`).
* `runner` — one run over the registry (`run_sources`, for `hpt run`).
* `tasks` — the DAG's task bodies: thin adapters over the same steps.
"""
