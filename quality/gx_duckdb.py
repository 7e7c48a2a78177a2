"""Great Expectations over DuckDB: one context factory and the one fix GX needs for DuckDB.

GX has no Polars data source, and validating a 1 GB file through pandas would materialise
it (about 5 GB of memory). DuckDB reads the file's Parquet lazily, column by column, so we
validate through GX's SQL data source on `duckdb-engine`: every metric becomes one SQL query
that DuckDB answers from the Parquet file.

GX closes a SQLAlchemy connection after each query unless the dialect is listed in
`_PERSISTED_CONNECTION_DIALECTS`; with duckdb-engine that closes the connection before GX
reads the results (IndexError in `resolve_metric_bundle`). `enable_duckdb()` lists DuckDB
there. A test (tests/quality/test_gx_duckdb.py) fails loudly if a GX upgrade moves or
renames that tuple, so the fix cannot silently stop applying.

Regex and LIKE expectations are not implemented for this dialect: derive such checks as
columns in the asset's SQL instead.
"""

from __future__ import annotations

import enum
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent import SQLDatasource


class _DuckDBDialect(enum.StrEnum):
    """Stands in for a `GXSqlDialect` member: GX compares `.value` and plain string names."""

    DUCKDB = "duckdb"


def enable_duckdb() -> bool:
    """Make GX keep one connection per DuckDB engine; True if the fix is (now) in place.

    Raises RuntimeError when GX no longer has the hook, so an upgrade fails loudly.
    """
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    dialects = getattr(engine, "_PERSISTED_CONNECTION_DIALECTS", None)
    if not isinstance(dialects, tuple):
        raise RuntimeError(
            "great_expectations changed: sqlalchemy_execution_engine._PERSISTED_CONNECTION_"
            "DIALECTS is gone; revisit quality/gx_duckdb.py before validating over DuckDB"
        )
    if not any(getattr(d, "value", d) == "duckdb" for d in dialects):
        engine._PERSISTED_CONNECTION_DIALECTS = (*dialects, _DuckDBDialect.DUCKDB)  # type: ignore[assignment]
    return True


#: Validation results kept for the Data Docs index (the warehouse keeps every result).
DOCS_KEEP = 500


def prune_results(results_dir: Path, keep: int = DOCS_KEEP) -> int:
    """Delete all but the newest `keep` stored results; return how many were deleted.

    GX builds the Data Docs index from every stored result, so an unbounded store would
    make each build (once per publish) slower than the last.
    """
    if not results_dir.is_dir():
        return 0
    found = sorted(results_dir.rglob("*.json"), key=lambda p: p.stat().st_mtime)
    old = found[:-keep] if keep else found
    for path in old:
        path.unlink(missing_ok=True)
    return len(old)


def context(docs_dir: Path | None = None) -> AbstractDataContext:
    """An ephemeral GX context; with `docs_dir`, results and Data Docs persist under it."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    enable_duckdb()
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    if docs_dir is not None:
        prune_results(docs_dir / "results")
        # Suites live in code; only results are kept on disk, so the Data Docs index lists
        # every validation ever run, not only this process's.
        config.stores["validation_results_store"] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir / "results"),
            },
        }
        config.data_docs_sites = {
            "hpt": {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir / "site"),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
    return gx.get_context(mode="ephemeral", project_config=config)


def duckdb_source(
    ctx: AbstractDataContext,
    name: str,
    database: Path | None = None,
    memory: str = "",
    root: Path | None = None,
) -> SQLDatasource:
    """A GX SQL data source on DuckDB: in memory (for Parquet queries) or a file, read-only.

    `memory` names the in-memory database: every connection of this process to
    `:memory:<name>` shares it, so tables made there are seen by GX's queries. `root`: the
    folder the file's relative paths are relative to (a warehouse's, `core.warehouse_files`).
    """
    if database is None:
        return ctx.data_sources.add_sql(name, connection_string=f"duckdb:///:memory:{memory}")
    # `kwargs` go to SQLAlchemy's create_engine (a SQLDatasource field the typed factory
    # signature does not list); `config` to `duckdb.connect`, so every connection the
    # engine opens has it from the start.
    _s3_on_connect()
    connect_args: dict[str, Any] = {"read_only": True}
    if root is not None:
        connect_args["config"] = {"file_search_path": str(root)}
    kwargs: dict[str, Any] = {"connect_args": connect_args}
    return ctx.data_sources.add_sql(  # type: ignore[call-arg]
        name, connection_string=f"duckdb:///{database}", kwargs=kwargs
    )


@functools.cache
def _s3_on_connect() -> None:
    """Give every duckdb-engine connection to a snapshot whose data is on S3 the S3
    filesystem (`core.storage`: DuckDB reads `s3://` only through it here), as
    `open_snapshot` does. An engine-wide listener, not an object in the engine's arguments:
    GX compares and copies those, and would open a new engine (and file) per comparison."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from core.storage import register_s3
    from core.warehouse_files import data_storage

    def connected(dbapi_connection: Any, record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("duckdb_engine") and data_storage(
            dbapi_connection
        ).startswith("s3://"):
            register_s3(dbapi_connection)

    event.listen(Engine, "connect", connected)


def forget_batches(source: SQLDatasource) -> None:
    """Drop what the execution engine keeps of the batches it validated: their data
    references and computed metrics (keyed by batch id), so a data source kept for a whole
    process holds nothing of past files. Attribute errors mean GX changed: they surface."""
    engine = source.get_execution_engine()
    engine.batch_manager.reset_batch_cache()
    engine.batch_manager._batch_data_cache.clear()
    cache = engine._metric_cache  # a NoOpDict when the engine does not cache
    if isinstance(cache, dict):
        cache.clear()


def close(source: SQLDatasource) -> None:
    """Close the persisted connection and every pooled one now (a file stays open, and
    locked, while one is): the execution engine's, and the data source's own engine that
    adding a query asset opens to test the connection."""
    engine = source.get_execution_engine()
    connection = getattr(engine, "_connection", None)
    if connection is not None:
        connection.close()
        engine._connection = None
    engine.engine.dispose()
    own = getattr(source, "_engine", None)
    if own is not None:
        own.dispose()
