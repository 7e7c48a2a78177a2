"""Run a server again whenever it fails, as a service manager does (systemd's
`Restart=on-failure`, a Kubernetes pod's restart policy).

`python -m devtools.supervise NAME -- COMMAND...` runs COMMAND; when it ends with an error
(a non-zero status or a signal it did not get from here) it is started again after a pause
of 2 s, doubling up to 30 s while it keeps failing within a minute. SIGTERM or SIGINT is
passed on to it, and then nothing is restarted. The Airflow scheduler and DAG processor
end on purpose when they lose the metadata database (a restart of PostgreSQL, say): they
are meant to be started again, and here they are.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

FIRST_PAUSE, LONGEST_PAUSE = 2.0, 30.0
STABLE = 60.0  # seconds of running after which a failure counts as the first again


def supervise(name: str, command: list[str]) -> int:
    """Run `command` until it ends well or a stop is asked; its last exit status."""
    stop: list[int] = []  # the signal asking to stop, once received

    def asked(signum: int, _frame: FrameType | None) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, asked)
    signal.signal(signal.SIGINT, asked)
    pause = FIRST_PAUSE
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = _wait(child, stop)
        if stop or code == 0:
            return code
        pause = FIRST_PAUSE if time.monotonic() - started > STABLE else pause
        print(f"supervise: {name} exited with status {code}; starting it again in "
              f"{pause:.0f} s", flush=True)  # fmt: skip
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not stop:  # a stop may be on its way
            time.sleep(0.2)
        if stop:
            return code
        pause = min(pause * 2, LONGEST_PAUSE)


def _wait(child: subprocess.Popen[bytes], stop: list[int]) -> int:
    """The child's exit status. A stop signal is passed on to it unless it got its own
    (its whole process group is usually signalled) and acts on it within 2 s."""
    passed_on, asked_at = False, 0.0
    while (code := child.poll()) is None:
        if stop and not asked_at:
            asked_at = time.monotonic()
        if asked_at and not passed_on and time.monotonic() - asked_at > 2:
            child.send_signal(stop[0])
            passed_on = True
        time.sleep(0.2)
    return code


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        raise SystemExit("usage: python -m devtools.supervise NAME -- COMMAND...")
    raise SystemExit(supervise(args[0], args[2:]))


if __name__ == "__main__":
    main()
