"""Running suites over SQL queries with GX and turning results into plain, JSON-safe rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
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
    """Validate one batch definition against a suite already added to `ctx`.

    The first pass only counts unexpected rows (each unexpected-values query is another
    scan of the batch); failing expectations are then run again for a few sample values.
    The validation definitions and the sample suite added here are removed again, so a
    context kept for many files (`quality.gx_session`) does not grow.
    """
    import great_expectations as gx

    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    try:
        result = definition.run(expectation_parameters=parameters or {}, result_format=COUNTS_ONLY)
    finally:
        ctx.validation_definitions.delete(name)
    found = outcomes(result, suite.name)
    failing = [
        item.expectation_config
        for item in result.results
        if not item.success and (item.result or {}).get("unexpected_count")
    ]
    if failing:
        retry = ctx.suites.add(gx.ExpectationSuite(name=f"{suite.name}:unexpected"))
        again = gx.ValidationDefinition(name=f"{name}:unexpected", data=batch, suite=retry)
        try:
            for config in failing:
                assert config is not None
                config.id = None  # type: ignore[assignment]  # a new id in the new suite
                retry.add_expectation(config.to_domain_obj())
            samples = outcomes(again.run(result_format=SAMPLES), suite.name)
        finally:  # run() added the definition to the context's store
            with contextlib.suppress(Exception):
                ctx.validation_definitions.delete(again.name)
            ctx.suites.delete(retry.name)
        by_key = {(o.expectation, o.column): o.observed_value for o in samples}
        for outcome in found:
            if outcome.observed_value is None:
                outcome.observed_value = by_key.get((outcome.expectation, outcome.column))
    return found
