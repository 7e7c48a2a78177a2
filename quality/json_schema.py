"""A JSON file checked against the official CMS JSON schema of its version, in the ingest's
one pass.

The root object (everything but the item array, a few KB that `ingest.json_locate` has
parsed) is checked whole when the check starts. The items of `standard_charge_information[]`
are checked while the reader parses them (`quality.json_schema_items`): in a thread for a
small array, in a process of its own for one of `PROCESS_BYTES` or more. Either reads the
array again, from the page cache, so the file is read from disk once. Findings are kept
apart until `close` adds them to the file's log: counts exact, detail capped per rule.

    check = JsonSchemaCheck(parsed.json_layout, "3.0.0", cap)
    check.start()            # the root now, the items in a thread or process
    …                        # the reader's batches go by; `check.errors` so far
    check.wait()             # the pass is complete: wait for the last piece
    check.close(log)         # the findings join the file's log (also after a stop)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

import msgspec

from core.findings import FindingLog, Severity
from ingest.json_locate import CHUNK_BYTES, JsonLayout
from quality.json_schema_items import ItemCheck, ItemFindings, Stored, shown
from quality.json_schema_versions import ARRAY_KEY, schema

#: Item arrays of this many bytes or more are checked in a process of their own.
PROCESS_BYTES = 32 << 20
_ROOT = Path(__file__).resolve().parents[1]  # where `quality` is
_PATCH = re.compile(r"v?2\.2\.([0-9]+)")


def schema_version(template: str, claimed: str | None) -> str:
    """The schema to check a file against: its template version (`2.0.0`, `2.1.0`,
    `2.2.0`, `3.0.0`), and v2.2.1 for a file that declares 2.2.1 (or a later 2.2 patch)."""
    patch = _PATCH.fullmatch((claimed or "").strip().lower())
    if template == "2.2.0" and patch and int(patch.group(1)) >= 1:
        return "2.2.1"
    return template


class JsonSchemaCheck:
    """The schema of one version checked over one JSON file: the root, then the items."""

    def __init__(
        self,
        layout: JsonLayout,
        version: str,
        cap: int,
        chunk_bytes: int = CHUNK_BYTES,
        in_process: bool | None = None,
    ) -> None:
        assert layout.path is not None
        self.layout = layout
        self.version = version
        self.cap = cap
        self.chunk_bytes = chunk_bytes
        size = layout.end - layout.start
        self.in_process = size >= PROCESS_BYTES if in_process is None else in_process
        self._root = FindingLog(cap_per_rule=cap)
        self._item_errors = 0  # so far (an int, set by one thread and read by another)
        self._found: ItemFindings | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._failure: BaseException | None = None
        self._merged = False

    @property
    def errors(self) -> int:
        """Schema errors found so far."""
        return self._root.count() + self._item_errors

    def start(self) -> None:
        """Check the root now; start checking the items."""
        root = {key: value for key, value in self.layout.root.items() if key != ARRAY_KEY}
        for error in schema(self.version).root.check(root, ""):
            self._root.add(
                error.rule,
                Severity.ERROR,
                error.message,
                column=error.path,
                value=shown(error.value),
            )
        target = self._read_process if self.in_process else self._check_here
        if self.in_process:
            # The process finds this package where this one did, whatever its directory.
            path = os.pathsep.join(filter(None, (str(_ROOT), os.environ.get("PYTHONPATH"))))
            self._process = subprocess.Popen(
                [sys.executable, "-m", "quality.json_schema_items", str(self.layout.path),
                 str(self.layout.start), str(self.layout.end), self.version, str(self.cap),
                 str(self.chunk_bytes)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": path},
            )  # fmt: skip
        self._thread = threading.Thread(target=target, name="hpt-json-schema", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait until every item is checked; an error of the check itself is raised here."""
        if self._thread is not None:
            self._thread.join()
        if self._failure is not None:
            raise self._failure

    def close(self, log: FindingLog) -> None:
        """Stop checking (if still running) and add the findings so far to `log`, once."""
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # stopped early (`--max-errors`, a failed pass)
        if self._thread is not None:
            self._thread.join()
        if self._merged:
            return
        self._merged = True
        log.merge(self._root)
        if self._found is not None:
            log.merge(_as_log(self._found, self.cap))

    def _progress(self, check: ItemCheck) -> None:
        self._item_errors = check.errors

    def _check_here(self) -> None:
        """The items, in this process (the thread's body)."""
        assert self.layout.path is not None
        check = ItemCheck(self.version, self.cap, self._progress)
        try:
            self._found = check.run(
                self.layout.path, self.layout.start, self.layout.end, self.chunk_bytes,
                self._stop.is_set,
            )  # fmt: skip
        except BaseException as error:  # raised by `wait`, in the pass's thread
            self._found = check.found
            self._failure = error

    def _read_process(self) -> None:
        """What the process says (the thread's body): findings as they come, counts."""
        assert self._process is not None and self._process.stdout is not None
        found = self._found = ItemFindings()
        other: deque[bytes] = deque(maxlen=5)  # anything else: the end of a traceback
        for line in self._process.stdout:
            try:
                if line.startswith(b"F"):
                    found.stored.append(msgspec.json.decode(line[1:], type=Stored))
                elif line.startswith(b"C"):
                    found.counts = msgspec.json.decode(line[1:], type=dict[str, int])
                    self._item_errors = sum(found.counts.values())
                elif line.startswith(b"I"):
                    found.items = int(line[1:])
                else:
                    other.append(line)
            except (msgspec.DecodeError, ValueError):  # a line cut short by a stop
                other.append(line)
        code = self._process.wait()
        if code != 0 and not self._stop.is_set():
            last = b"".join(other).decode(errors="replace").strip().splitlines()
            why = last[-1] if last else f"exit status {code}"
            self._failure = RuntimeError(f"the JSON schema check of the items failed: {why}")


def _as_log(found: ItemFindings, cap: int) -> FindingLog:
    """The items' findings as a log: the stored ones, and the exact counts."""
    log = FindingLog(cap_per_rule=cap)
    for rule, row, path, value, message in found.stored:
        log.add(rule, Severity.ERROR, message, row=row, column=path, value=value)
    for rule, count in found.counts.items():
        log.severities.setdefault(rule, Severity.ERROR)
        log.counts[rule] = count
    return log
