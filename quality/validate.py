"""Running suites over SQL queries with GX and turning results into plain, JSON-safe rows."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import math
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent import SQLDatasource

#: Unexpected values kept per expectation as its observed value.
SAMPLE_VALUES = 5
#: Counts only: no query for unexpected values (a second scan per expectation).
COUNTS_ONLY: Any = {"result_format": "BASIC", "partial_unexpected_count": 0}
SAMPLES: Any = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_VALUES}


class ExpectationSeverity(StrEnum):
    """What a failed expectation means (its `meta.severity`, see `quality.suites`)."""

    BLOCKING = "blocking"  # the batch is not fit to compare: quarantined
    HOLD = "hold"  # the batch looks truncated: held until an operator accepts it
    WARNING = "warning"  # recorded and shown; the batch is published
    ERROR = "error"  # (warehouse suite) an invariant of the published warehouse is broken


@dataclass
class Outcome:
    """One expectation's result: what was expected, of which column, and what was seen."""

    suite: str
    expectation: str
    column: str | None
    severity: ExpectationSeverity
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    why: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for operators: what failed and what was seen."""
        where = f"{self.column}: " if self.column else ""
        seen = ""
        if self.unexpected_count:
            seen = f" ({self.unexpected_count:,} unexpected"
            if self.unexpected_percent is not None:
                seen += f", {self.unexpected_percent:.1f}%"
            seen += ")"
        elif self.observed_value is not None:
            seen = f" (observed {json.dumps(self.observed_value)})"
        return f"{self.suite}.{self.expectation} {where}{self.why}{seen}"


def _plain(value: Any) -> Any:
    """A JSON-safe copy: dates as ISO text, NaN as None, unknown objects as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def raised(exception_info: Any) -> str | None:
    """The exception message GX caught while computing an expectation, if any.

    GX reports either one `{raised_exception, exception_message}` dict or one per metric.
    """
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info, *[v for v in exception_info.values() if isinstance(v, dict)]]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "exception")
    return None


def outcomes(result: ExpectationSuiteValidationResult, suite: str) -> list[Outcome]:
    """The outcomes of one suite validation, in suite order."""
    found = []
    for item in result.results:
        config = item.expectation_config
        assert config is not None
        kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id"}}
        column = kwargs.get("column")
        if column is None and "column_A" in kwargs:
            column = f"{kwargs['column_A']},{kwargs['column_B']}"
        res = dict(item.result or {})
        observed = res.get("observed_value")
        if observed is None and res.get("partial_unexpected_list"):
            observed = res["partial_unexpected_list"][:SAMPLE_VALUES]
        meta = config.meta or {}
        error = raised(item.exception_info)
        if error:
            observed = {"exception": error}
        found.append(
            Outcome(
                suite=suite,
                expectation=config.type,
                column=column,
                severity=ExpectationSeverity(meta.get("severity", ExpectationSeverity.WARNING)),
                success=bool(item.success),
                observed_value=_plain(observed),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=_plain(res.get("unexpected_percent")),
                why=str(meta.get("why", "")),
                kwargs=_plain(kwargs),
            )
        )
    return found


def run_suite(
    ctx: AbstractDataContext,
    source: SQLDatasource,
    query: str,
    suite: ExpectationSuite,
    parameters: dict[str, Any] | None = None,
) -> list[Outcome]:
    """Validate `query` against `suite`. The result is kept in the context's results store
    (on disk for a context with a docs folder: `quality.gate.build_docs` renders it later).
    """
    asset = source.add_query_asset(suite.name, query=query)
    batch = asset.add_batch_definition_whole_table("all")
    suite = ctx.suites.add(suite)
    return run_batch(ctx, batch, suite, f"{asset.name}:{suite.name}", parameters)


def run_batch(
    ctx: AbstractDataContext,
    batch: BatchDefinition,
    suite: ExpectationSuite,
    name: str,
    parameters: dict[str, Any] | None = None,
) -> list[Outcome]:
    """Validate one batch definition against a suite already added to `ctx`; the result is
    stored in the context's results store under `name`'s validation.

    The first pass only counts unexpected rows (each unexpected-values query is another
    scan of the batch); failing expectations are then run again for a few sample values.
    The sample suite added here is removed again, so a context kept for many files
    (`quality.gx_session`) does not grow.
    """
    import great_expectations as gx

    result = _run(ctx, batch, suite, name, parameters or {}, COUNTS_ONLY)
    found = outcomes(result, suite.name)
    failing = [
        item.expectation_config
        for item in result.results
        if not item.success and (item.result or {}).get("unexpected_count")
    ]
    if failing:
        retry = ctx.suites.add(gx.ExpectationSuite(name=f"{suite.name}:unexpected"))
        try:
            for config in failing:
                assert config is not None
                config.id = None  # type: ignore[assignment]  # a new id in the new suite
                retry.add_expectation(config.to_domain_obj())
            again = _run(ctx, batch, retry, f"{name}:unexpected", {}, SAMPLES)
            samples = outcomes(again, suite.name)
        finally:
            ctx.suites.delete(retry.name)
        by_key = {(o.expectation, o.column): o.observed_value for o in samples}
        for outcome in found:
            if outcome.observed_value is None:
                outcome.observed_value = by_key.get((outcome.expectation, outcome.column))
    return found


#: Whether a validation runs as `ValidationDefinition.run` does, without the definition's
#: store round trips (see `_run`); False: through a definition added to the context.
DIRECT_RUN = True
#: `ValidationDefinition.run` (and the ids it names results by) as `_direct` repeats them.
_RUN_SOURCE = "441a2a0ad9ab9a5d413066eb25b4a648b4262789a1dd62fd073b48559f46c90e"
_IDS_SOURCE = "43ff5278970b50bf34e1e56e4f1695485e09d32b6494d2545436a66e8aa7e78c"


def _run(
    ctx: AbstractDataContext,
    batch: BatchDefinition,
    suite: ExpectationSuite,
    name: str,
    parameters: dict[str, Any],
    result_format: Any,
) -> ExpectationSuiteValidationResult:
    """Validate and store the result, as a validation definition `name` would.

    `ValidationDefinition.run` first checks that the definition, its suite and its batch
    definition are as stored (the suite's check renders every expectation), then validates
    and stores the result. Adding the definition, that check and deleting it again cost
    ~45 ms per file; here the suite is the one just added and the batch definition the one
    just made, so `_direct` skips them and does the rest as `run` does: the same result,
    meta and result key (the definition's name is in neither)."""
    import great_expectations as gx

    if DIRECT_RUN and direct_run() and not ctx.validation_results_store.cloud_mode:
        return _direct(ctx, batch, suite, parameters, result_format)
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    try:
        return definition.run(expectation_parameters=parameters, result_format=result_format)
    finally:
        ctx.validation_definitions.delete(name)


@functools.cache
def direct_run() -> bool:
    """True when GX's `ValidationDefinition.run` is the one `_direct` repeats.

    Raises RuntimeError when it changed, so an upgrade fails loudly instead of storing
    results that differ from GX's own."""
    from great_expectations.core.validation_definition import ValidationDefinition

    for method, digest in (
        (ValidationDefinition.run, _RUN_SOURCE),
        (ValidationDefinition._get_expectation_suite_and_validation_result_ids, _IDS_SOURCE),
    ):
        source = inspect.getsource(method).encode()
        if hashlib.sha256(source).hexdigest() != digest:
            raise RuntimeError(
                f"great_expectations changed: ValidationDefinition.{method.__name__} is not "
                "the one quality/validate.py repeats; revisit `_direct` (or set DIRECT_RUN "
                "= False)"
            )
    return True


def _direct(
    ctx: AbstractDataContext,
    batch: BatchDefinition,
    suite: ExpectationSuite,
    parameters: dict[str, Any],
    result_format: Any,
) -> ExpectationSuiteValidationResult:
    """`ValidationDefinition.run` of a definition just added (a new id), without its checks."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition=batch, result_format=result_format)
    results = validator.validate_expectation_suite(suite, parameters)
    results.meta["validation_id"] = str(uuid.uuid4())  # as the definitions store's add
    results.meta["checkpoint_id"] = None
    run_id = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
    results.meta["run_id"] = run_id
    results.meta["validation_time"] = run_id.run_time
    results.meta["batch_parameters"] = None
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    result_id = ValidationResultIdentifier(
        batch_identifier=validator.active_batch_id,
        expectation_suite_identifier=suite_id,
        run_id=run_id,
    )
    ctx.validation_results_store.store_validation_results(
        suite_validation_result=results,
        suite_validation_result_identifier=result_id,
        expectation_suite_identifier=suite_id,
    )
    return results
