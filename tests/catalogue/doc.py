"""`docs/robustness.md`, written from the catalogue: `python -m tests.catalogue.doc`."""

from __future__ import annotations

from pathlib import Path

from tests.catalogue import FACILITY, Case, Kept
from tests.catalogue.cases import CASES

DOC = Path(__file__).resolve().parents[2] / "docs" / "robustness.md"

INTRO = f"""\
# Robustness: the bad-input catalogue

Hospital files and websites are written by thousands of strangers. Every way they are known
to go wrong is a case of the catalogue (`tests/catalogue/cases.py`): how a local server
misbehaves, which command meets it, the one line `hpt` must print and what the warehouse
must hold afterwards. One test (`tests/catalogue/test_catalogue.py`) runs every case over
real HTTP and the real CLI (`hpt ingest URL`, or `hpt run` over a one-entry registry),
against a warehouse where the facility (`{FACILITY}`) already has a good file. For each case
it checks:

- the exit code, and no traceback;
- a failure is **one line** naming what went wrong and where (the URL, or the facility's
  row of `hpt run`'s table);
- **no row is lost**: after a failure the previous file stays current with every row; after
  a load the new file is current with every row;
- the attempt is a row of `download_attempts` (for `hpt ingest URL` as for `hpt run` and
  the DAG);
- nothing is written outside the warehouse, landing and scratch folders.

The limits involved are settings ([settings.md](settings.md)); the test makes them small
(a 1 s read timeout, one retry) so the catalogue runs in about a minute. This page is
generated from the catalogue (`python -m tests.catalogue.doc`); a test checks it is current.

## Limits worth knowing

- **Timeouts.** `HPT_HTTP_TIMEOUT` bounds each wait for bytes (connect, headers, the next
  bytes of a body); `HPT_DOWNLOAD_MAX_SECONDS` bounds a whole download however slowly the
  bytes drip in; a `cms-hpt.txt` must arrive within four read timeouts.
- **Sizes.** A download is capped at `HPT_DOWNLOAD_MAX_BYTES`, a `cms-hpt.txt` at 1 MB. A
  text file without a line break in its first 16 MiB is refused while it downloads (CMS
  header rows are short; JSON may be one line), and a CSV whose rows 1–3 don't end within
  16 MiB characters is refused by the reader.
- **Archives.** gzip and zip, nested up to three deep, share one size cap
  (`HPT_DOWNLOAD_MAX_BYTES`, counting every level) and one expansion ratio
  (`HPT_GZIP_MAX_RATIO`, against the bytes downloaded). A zip member's name is never used
  as a path.
- **Redirects.** At most `HPT_HTTP_MAX_REDIRECTS`; only to http(s); and a redirect to
  another host is refused when that host's address is not public (loopback, private,
  link-local — e.g. a cloud metadata service — or reserved), unless its network is listed in
  `HPT_HTTP_ALLOWED_NETWORKS`. A URL given in the registry or on the command line is
  fetched wherever it points: the operator chose it.
- **Landing names.** A served file keeps its name (sanitised to one path segment); the
  landing folder's own files (`state.json` and dot-files) can't be overwritten by it.

## The cases
"""


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def _how(case: Case) -> str:
    if case.registry is not None:
        return "`hpt run`, registry"
    if case.command == "run":
        return "`hpt run`, site" if case.site else "`hpt run`, file URL"
    return "`hpt ingest URL`"


def _kept(case: Case) -> str:
    if case.kept == Kept.NEW:
        return f"the new file, all {case.rows:,} rows"
    return "the previous file, all its rows"


def table() -> str:
    lines = [
        "| # | case | met by | what happens | what is kept |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, case in enumerate(CASES, 1):
        lines.append(
            f"| {number} | {_cell(case.title)} | {_how(case)} | {_cell(case.happens)} | "
            f"{_kept(case)} |"
        )
    return "\n".join(lines) + "\n"


def document() -> str:
    return INTRO + "\n" + table()


if __name__ == "__main__":
    DOC.write_text(document(), encoding="utf-8")
    print(f"wrote {DOC} ({len(CASES)} cases)")
