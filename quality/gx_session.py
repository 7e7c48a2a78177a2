"""Great Expectations kept for the life of a process: what the gate pays once, not per file.

Validating a file used to build a context, a DuckDB data source and the charge suite, then
run it: ~0.4 s of CPU for a file of any size, most of it GX's own Python. A process that
ingests many files (`hpt ingest DIR`, `hpt run`) now keeps one `ChargesGate` — context,
in-memory DuckDB data source, suite and one query asset, renamed for each file and pointed
at its data (the file id names the asset, so stored results and Data Docs pages still say
which file they judged). A small file's batch is first copied into a table of the data
source's in-memory database, so that GX's ~30 queries read memory, not the Parquet parts.

GX's validation loop also rebuilds each expectation's configuration (a pydantic `.dict()`
of the whole expectation) about a hundred times per run — a third of a small file's
validation. `memoise_configurations()` makes that property return the one configuration
per expectation object while `Validator.graph_validate` runs: the expectations it builds
there are fresh copies that nothing changes during the run. `MEMOISE = False` switches it
off (a test checks that results are the same either way).

Building the metric graph names every metric configuration by an md5 of its kwargs, which
GX first passes through its generic JSON conversion (pydantic, pandas and numpy checks for
each value, `None` falling through them all): a tenth of a small file's validation.
`fast_metric_ids()` computes the same id directly when every value is plain JSON data
(str, int, bool, None, float, and lists, tuples, sets and dicts of them) and leaves any other
value to GX's conversion; `FAST_IDS = False` switches it off.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality import gx_duckdb, suites
from quality.validate import Outcome, run_batch

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent import SQLDatasource
    from great_expectations.datasource.fluent.sql_datasource import QueryAsset

#: The data source the charge batches are read through (results are named `charges-<file>`).
SOURCE = "charges"
#: Whether `graph_validate` memoises expectation configurations (see the module doc).
MEMOISE = True
#: Whether metric configuration ids skip GX's generic JSON conversion (see the module doc).
FAST_IDS = True
#: Whether one query asset, renamed per file, serves every file (see `ChargesGate._asset_for`).
KEEP_ASSET = True
#: The kept asset's name and query between files.
_IDLE, _IDLE_QUERY = "hpt-idle", "SELECT 1"
#: Batches up to this many rows are validated from a table in memory (~20–40 MB).
IN_MEMORY_ROWS = 100_000

_memo: contextvars.ContextVar[dict[int, tuple[Any, Any]] | None] = contextvars.ContextVar(
    "hpt_gx_configurations", default=None
)


def memoise_configurations() -> bool:
    """Install the configuration memo in GX (idempotent); True once it is in place.

    Raises RuntimeError when GX no longer has the property or method it wraps, so an
    upgrade fails loudly instead of silently validating slower or differently.
    """
    import great_expectations  # noqa: F401  # first: its submodules import each other
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.validator.validator import Validator

    prop = Expectation.__dict__.get("configuration")
    validate = Validator.__dict__.get("graph_validate")
    if not isinstance(prop, property) or prop.fget is None or validate is None:
        raise RuntimeError(
            "great_expectations changed: Expectation.configuration or Validator."
            "graph_validate is gone; revisit quality/gx_session.py"
        )
    if getattr(prop.fget, "_hpt_memo", False):
        return True
    build = prop.fget

    def configuration(self: Any) -> Any:
        memo = _memo.get()
        if memo is None:
            return build(self)
        # Keyed by id, holding the object: an id cannot be reused while it is in the memo.
        hit = memo.get(id(self))
        if hit is None or hit[0] is not self:
            hit = memo[id(self)] = (self, build(self))
        return hit[1]

    @functools.wraps(validate)
    def graph_validate(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _memo.set({} if MEMOISE else None)
        try:
            return validate(self, *args, **kwargs)
        finally:
            _memo.reset(token)

    configuration._hpt_memo = True  # type: ignore[attr-defined]
    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    Validator.graph_validate = graph_validate  # type: ignore[method-assign]
    return True


#: GX's IDDict, once `fast_metric_ids` imported it.
_id_dict: type = dict


class _NotPlain(Exception):
    """A value GX's own JSON conversion must handle."""


def _plain(value: Any) -> Any:
    """`convert_to_json_serializable(value)` for plain JSON data; `_NotPlain` otherwise.

    Exact types only: a subclass (a str enum, a numpy scalar, a GX dict type) may convert
    differently, so it goes to GX."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return None if value != value else value  # NaN, as GX: None
    if kind is list or kind is tuple or kind is set:
        return [_plain(v) for v in value]
    if kind is dict or issubclass(kind, _id_dict):  # GX converts its IDDicts as dicts
        return {str(k): _plain(v) for k, v in value.items()}
    raise _NotPlain


def fast_metric_ids() -> bool:
    """Install the plain-data path of `IDDict.to_id` (idempotent); True once in place.

    Raises RuntimeError when GX no longer has the method, as `memoise_configurations`."""
    global _id_dict
    from great_expectations.core.id_dict import IDDict

    _id_dict = IDDict
    original = IDDict.__dict__.get("to_id")
    if original is None:
        raise RuntimeError(
            "great_expectations changed: IDDict.to_id is gone; revisit quality/gx_session.py"
        )
    if getattr(original, "_hpt_fast", False):
        return True

    @functools.wraps(original)
    def to_id(self: Any, id_keys: Any = None, id_ignore_keys: Any = None) -> Any:
        if not FAST_IDS or id_keys is not None or id_ignore_keys is not None:
            return original(self, id_keys, id_ignore_keys)
        keys = set(self.keys()) - set(self._id_ignore_keys)
        if len(keys) < 2:  # GX's own short forms
            return original(self)
        try:
            plain = {str(k): _plain(self[k]) for k in keys}
        except _NotPlain:
            return original(self)
        # As GX: a stable id, not a cryptographic digest.
        text = json.dumps(plain, sort_keys=True).encode("utf-8")
        return hashlib.md5(text, usedforsecurity=False).hexdigest()

    to_id._hpt_fast = True  # type: ignore[attr-defined]
    IDDict.to_id = to_id  # type: ignore[method-assign]
    return True


class ChargesGate:
    """A context, a data source and the charge suite, built once, validating many files."""

    def __init__(self, docs: Path | None, price_ceiling: float) -> None:
        memoise_configurations()
        fast_metric_ids()
        self.key = (docs, price_ceiling)
        self.ctx: AbstractDataContext = gx_duckdb.context(docs)
        # GX's queries run in an in-memory database this process can reach too (by name).
        memory = f"hpt_gate_{uuid.uuid4().hex}"
        self.source: SQLDatasource = gx_duckdb.duckdb_source(self.ctx, SOURCE, memory=memory)
        # Opened through the data source's engine: DuckDB shares a database only between
        # connections opened with the same configuration.
        self._memory = self.source.get_execution_engine().engine.raw_connection()
        self.suite: ExpectationSuite = self.ctx.suites.add(suites.charges_suite(price_ceiling))
        self._kept: QueryAsset | None = None
        self._batch: BatchDefinition | None = None

    def validate(
        self, file_id: str, data_path: str, parameters: dict[str, Any], rows: int | None = None
    ) -> list[Outcome]:
        """The charge suite's outcomes on one file's Parquet data (`rows` of them, if known).

        The ~30 queries GX runs each read the Parquet parts again: for a file of at most
        `IN_MEMORY_ROWS` rows the batch is copied into a table first, so that they read
        memory instead (a small file's queries: ~100 → ~30 ms); larger files are read
        where they lie, column by column, in bounded memory."""
        query, table = suites.charges_query(data_path), None
        try:
            if rows is not None and rows <= IN_MEMORY_ROWS:
                table = f"hpt_batch_{uuid.uuid4().hex}"
                self._run(f"CREATE TABLE {table} AS {query}")
                query = f"SELECT * FROM {table}"
            asset, batch = self._asset_for(file_id, query)
            try:
                name = f"{file_id}:{self.suite.name}"
                return run_batch(self.ctx, batch, self.suite, name, parameters)
            finally:
                if asset is self._kept:
                    asset.name, asset.query = _IDLE, _IDLE_QUERY
                else:
                    self.source.delete_asset(file_id)
        finally:
            gx_duckdb.forget_batches(self.source)
            if table is not None:
                self._run(f"DROP TABLE IF EXISTS {table}")

    def _asset_for(self, file_id: str, query: str) -> tuple[QueryAsset, BatchDefinition]:
        """The query asset named `file_id` reading `query`, and its whole-table batch.

        Adding an asset and its batch definition, and deleting it again, saves the context's
        whole configuration three times (~25 ms per file): the gate keeps one asset instead,
        named and pointed at each file's data in turn (the name is the data asset's and the
        batch's in the stored result). `KEEP_ASSET = False`: an asset per file."""
        if not KEEP_ASSET:
            asset = self.source.add_query_asset(file_id, query=query)
            return asset, asset.add_batch_definition_whole_table("all")
        if self._kept is None:
            self._kept = self.source.add_query_asset(_IDLE, query=_IDLE_QUERY)
            self._batch = self._kept.add_batch_definition_whole_table("all")
        asset, batch = self._kept, self._batch
        assert batch is not None
        asset.name, asset.query = file_id, query
        request = batch.build_batch_request()
        if self.source.get_asset(file_id) is not asset or request.data_asset_name != file_id:
            raise RuntimeError(
                "great_expectations changed: a renamed query asset is no longer found by its "
                "new name; revisit ChargesGate._asset_for in quality/gx_session.py"
            )
        return asset, batch

    def _run(self, sql: str) -> None:
        cursor = self._memory.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()
        self._memory.commit()


_current: ChargesGate | None = None


def charges_gate(docs: Path | None, price_ceiling: float) -> ChargesGate:
    """The process's `ChargesGate` for these Data Docs and this price ceiling (one is kept:
    a process validates into one warehouse's docs)."""
    global _current
    if _current is None or _current.key != (docs, price_ceiling):
        _current = ChargesGate(docs, price_ceiling)
    return _current


def drop() -> None:
    """Forget the kept gate (after an error: the next file starts from a fresh one)."""
    global _current
    _current = None
