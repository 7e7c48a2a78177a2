"""Many files in one process (`hpt ingest PATH_OR_URL...`): each read, checked, gated and
loaded as `ingest_source` does, then one publish at the end.

What does not depend on a file's bytes is paid once for the batch, not per file: the
imports, the Great Expectations context and suite (`quality.gx_session`, built at the
first file that reaches the gate), and the catalog connection, held open for the whole
loop (each step's own connection is then a cursor of it, `warehouse.db.writer`), and the
charge views, refreshed once by the publish instead of after each load. One bad file fails
alone, with its one-line message; the others load.
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.outcomes import IngestOutcome
from hpt.pipeline.read import Progress
from hpt.pipeline.steps import IngestResult, _publish, ingest_source
from warehouse.db import Warehouse, writer
from warehouse.views import views_deferred

log = logging.getLogger("hpt")

#: What a machine-readable file is named like, when a folder is given (case ignored):
#: CMS allows CSV and JSON, delivered as is or compressed.
MRF_SUFFIXES = (".csv", ".json", ".gz", ".zip")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Listed:
    """One file to ingest, or a named argument that yielded none (`problem` says why)."""

    source: str
    problem: str | None = None


def _is_url(text: str) -> bool:
    return "://" in text


def _looks_like_mrf(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(MRF_SUFFIXES)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def expand(arguments: Iterable[str]) -> list[Listed]:
    """The files the arguments name, in order, each once: a file or URL as given; a
    folder's MRF-looking files (`MRF_SUFFIXES`, recursively, hidden ones skipped), sorted;
    a glob's matches, sorted. A folder or glob that yields nothing is listed with the
    reason, so it fails like a missing file instead of passing unnoticed."""
    listed: list[Listed] = []
    seen: set[str] = set()

    def add(source: str) -> None:
        key = source if _is_url(source) else str(Path(source).resolve())
        if key not in seen:
            seen.add(key)
            listed.append(Listed(source))

    for argument in arguments:
        path = Path(argument).expanduser()
        if _is_url(argument):
            add(argument)
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if _looks_like_mrf(p) and not _hidden(p, path)
            )
            if not found:
                suffixes = ", ".join(MRF_SUFFIXES)
                listed.append(Listed(argument, f"no file named {suffixes} in this folder"))
            for p in found:
                add(str(p))
        elif not path.exists() and _GLOB_CHARS & set(argument):
            matches = sorted(glob.glob(str(path), recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            if not files:
                listed.append(Listed(argument, "no file matches this pattern"))
            for match in files:
                add(match)
        else:  # a file, or a missing path: `ingest_source` says "no such file"
            add(argument)
    return listed


@dataclass
class BatchRun:
    """What one batch did: a result per file, and the one publish at the end."""

    results: list[IngestResult] = field(default_factory=list)
    snapshot: Path | None = None  # the published snapshot; None when not published
    publish_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.outcome == IngestOutcome.FAILED]

    def counts(self) -> dict[str, int]:
        """Files per outcome, in the outcomes' order."""
        found = {str(o): 0 for o in IngestOutcome}
        for result in self.results:
            found[str(result.outcome)] += 1
        return {k: v for k, v in found.items() if v}


def ingest_many(
    listed: Sequence[Listed],
    wh: Warehouse,
    *,
    facility_id: str | None = None,
    publish_after: bool = True,
    on_start: Callable[[Listed], None] | None = None,
    on_done: Callable[[IngestResult], None] | None = None,
    progress: Progress | None = None,
    on_publish: Callable[[], None] | None = None,
) -> BatchRun:
    """Ingest every listed file in this process, the catalog held open, then publish once
    (`publish_after`; also when files failed: their attempts are shown to operators).
    Never raises for a bad file; `on_start`/`on_done` see each file go by, `on_publish`
    the publish begin."""
    started = time.monotonic()
    run = BatchRun()
    with writer(wh), views_deferred():
        for item in listed:
            if on_start:
                on_start(item)
            result = _ingest_one(item, wh, facility_id, progress)
            run.results.append(result)
            if on_done:
                on_done(result)
    # Publish also when files failed (operators see their attempts), but not for a list
    # that named no file at all: nothing was attempted.
    if publish_after and any(_exists(item) for item in listed):
        if on_publish:
            on_publish()
        published = time.monotonic()
        run.snapshot = _publish(wh)
        run.publish_seconds = time.monotonic() - published
    run.seconds = time.monotonic() - started
    return run


def _exists(item: Listed) -> bool:
    return item.problem is None and (_is_url(item.source) or Path(item.source).is_file())


def single(arguments: Sequence[str], listed: Sequence[Listed]) -> bool:
    """Whether the arguments name one file (or URL) as such — not through a folder or a
    pattern: it is reported as `hpt ingest FILE` always has."""
    return (
        len(arguments) == 1
        and len(listed) == 1
        and listed[0].problem is None
        and listed[0].source == arguments[0]
    )


def _ingest_one(
    item: Listed, wh: Warehouse, facility_id: str | None, progress: Progress | None
) -> IngestResult:
    if item.problem is not None:
        return IngestResult(item.source, IngestOutcome.FAILED, item.problem)
    try:
        return ingest_source(
            item.source, wh, facility_id=facility_id, publish_after=False, progress=progress
        )
    except Exception as error:  # a bug on one file must not stop the others
        log.exception("ingest %s", item.source)
        message = f"internal error: {type(error).__name__}: {error}".splitlines()[0]
        return IngestResult(item.source, IngestOutcome.FAILED, message, facility_id)
