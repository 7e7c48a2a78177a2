"""How a step ended, as enums: an ingest, an acquisition, a quality check, and the stage
where a facility's run stopped. StrEnums, so the values are the same strings the catalog,
the JSON summaries and the CLI show.
"""

from __future__ import annotations

from enum import StrEnum


class IngestOutcome(StrEnum):
    """What ingesting one file did (also `files.status` for `loaded` and `held`)."""

    LOADED = "loaded"
    UNCHANGED = "unchanged"  # same bytes as the file already loaded
    HELD = "held"  # loaded, not current: looks truncated until an operator accepts it
    QUARANTINED = "quarantined"  # failed a blocking expectation: never loaded
    FAILED = "failed"

    @property
    def ok(self) -> bool:
        """True when the facility's ingest ended well (held: the previous file stays current)."""
        return self in (IngestOutcome.LOADED, IngestOutcome.UNCHANGED, IngestOutcome.HELD)


class AcquireOutcome(StrEnum):
    """What fetching a facility's file did."""

    DOWNLOADED = "downloaded"
    NOT_MODIFIED = "not_modified"  # the landed file is still current upstream
    FAILED = "failed"


class CheckOutcome(StrEnum):
    """The verdict of the quality gate on a file, or of the warehouse check."""

    PASSED = "passed"
    HELD = "held"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"  # the gate is switched off
    FAILED = "failed"  # warehouse check: an invariant is broken, or the check could not run
    UNCHANGED = "unchanged"  # warehouse check: same state as a passing check, not run again


class Stage(StrEnum):
    """Where a facility's run ended."""

    DISCOVER = "discover"
    DOWNLOAD = "download"
    INGEST = "ingest"
