"""The bad-input catalogue: what hostile or broken input the pipeline meets, as data.

Each `Case` (in `cases.py`) says what a server serves (`server.Reply` per path), which
command meets it (`hpt ingest URL` or `hpt run` over a one-entry registry), the one line it
must print and what the warehouse must hold afterwards. `test_catalogue.py` runs every case
over real HTTP and the real CLI; `docs/robustness.md` lists them (`python -m
tests.catalogue.doc` writes it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.catalogue.server import Route

#: The facility every case is about; it has a good file loaded before the case runs.
FACILITY = "cat-hosp"


class Kept(enum.StrEnum):
    """What the warehouse holds for the facility after the case."""

    PREVIOUS = "the previous file stays current, every row"
    NEW = "the new file is current, every row"


@dataclass(frozen=True)
class Case:
    """One bad input: how it is served, what `hpt` must say and keep."""

    name: str  # short id, the test's parameter
    title: str  # the case, for the table
    routes: Mapping[str, Route]
    happens: str  # what happens, for the table
    #: Regex the one line must match (failures); for a load, a text the output must show.
    message: str
    kept: Kept = Kept.PREVIOUS
    rows: int | None = None  # data rows of the new file (Kept.NEW)
    command: str = "ingest"  # "ingest": `hpt ingest URL`; "run": `hpt run` over a registry
    path: str = "/f.csv"  # what the command is given: a path on the server (or a full URL)
    site: bool = False  # run: the registry names the site (its cms-hpt.txt), not the file
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # more arguments to `hpt ingest`
    facility_id: str = FACILITY
    registry: str | None = None  # run: the registry's text, when it is the bad input
    exit_code: int | None = None  # default: 0 for a load, 1 for a failure
    recorded: bool = True  # a download attempt is recorded in `download_attempts`

    @property
    def fails(self) -> bool:
        return self.kept == Kept.PREVIOUS

    @property
    def expected_exit(self) -> int:
        return self.exit_code if self.exit_code is not None else (1 if self.fails else 0)
