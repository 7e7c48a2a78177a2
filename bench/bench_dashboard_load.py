"""The dashboard under load: concurrent simulated users against a local Streamlit server.

    python bench/bench_dashboard_load.py [--users 50] [--seconds 60] [--think 5 20]
                                         [--db PATH | --url http://127.0.0.1:PORT]

Each simulated user speaks the browser's own protocol — a websocket to `/_stcore/stream`
carrying protobuf `BackMsg`/`ForwardMsg` — with no browser: it opens a page (a new session,
a rerun with the page and its query string, as a shared link opens it), waits for the
script-finished message, thinks, changes one widget (a rerun with the new widget value),
waits again, thinks, and starts over with the next page. Timed:

* page load — connect → script finished (the whole page sent);
* interaction — widget change sent → script finished.

Think time (`--think`, uniform between the two values) is what a patient spends on a page
before the next click. The default, 5–20 s, is on the busy side of real use: the result line
("Lowest cash price for … at …") takes a few seconds to read, scanning a ranked table of up to
25 hospitals with their cash, gross and insured prices 10–20 s, and after a change the user
reads the new ranking again. `--think 1 3` is a stress setting (a user clicking through
without reading), not a patient.

A page counts as an error when the socket fails, the run does not finish successfully
within `--timeout`, the page shows a traceback (`exception` element) or an `st.error`, or
the text the page must render (a heading, a table's title, a price line) is missing.

Without `--url`, the demo universe (25 hospitals, as `make run` builds it) is ingested once
into bench/out/dashboard-load/ (kept for later runs) and `hpt dashboard` serves it on a
free loopback port for the run. Figures go to bench/out/dashboard_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websockets
from google.protobuf.message import Message
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import BIN, OUT

TARGET_P95 = 2.0
THINK = (5.0, 20.0)  # seconds between a page and the next click: see the module docstring


@dataclass(frozen=True)
class Scenario:
    """A page opened from a link, then one widget changed."""

    name: str
    page: str  # the page's URL path ('' = the default page, Find a price)
    query: str  # the link's query string
    expect: str  # text the loaded page must render
    widget: str  # label of the widget the user changes
    pick: Callable[[list[str]], str]  # the new value among the widget's options
    expect_after: str  # text the page must render after the change


def _second(options: list[str]) -> str:
    return options[1]


SCENARIOS = [
    Scenario("find a price", "", "code=CPT%3A73721", "Lowest cash price for", "How will you pay?",
             lambda _: "Paying cash", "Lowest cash price for"),
    Scenario("compare", "compare", "codes=CPT%3A73721", "Spread between facilities", "State",
             _second, "Distribution of rates"),
    Scenario("facility", "facility", "", "Price position against other hospitals", "Facility",
             _second, "Coverage"),
    Scenario("map", "map", "code=CPT%3A73721", "Green is the cheapest", "State", _second,
             "Map of hospitals coloured by price"),
    Scenario("data quality", "quality", "", "Show outcomes", "Show", lambda _: "Quality checks",
             "Failed expectations"),
]  # fmt: skip


@dataclass
class Rendered:
    """What one script run sent: its text, its widgets, and what went wrong."""

    texts: list[str] = field(default_factory=list)
    widgets: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # label → id, options
    problems: list[str] = field(default_factory=list)

    def has(self, text: str) -> bool:
        return any(text in t for t in self.texts)


def _strings(message: Message) -> Iterator[str]:
    """Every text field of a protobuf element, recursively (labels, bodies, options)."""
    for descriptor, value in message.ListFields():
        if descriptor.type == descriptor.TYPE_STRING:
            yield from (value if descriptor.is_repeated else [value])
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            for item in value if descriptor.is_repeated else [value]:
                yield from _strings(item)


def _take(rendered: Rendered, msg: ForwardMsg) -> bool:
    """Record one ForwardMsg; True once the script run finished."""
    kind = msg.WhichOneof("type")
    if kind == "script_finished":
        if msg.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
            name = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            rendered.problems.append(f"script finished: {name}")
        return True
    if kind == "page_not_found":
        rendered.problems.append(f"page not found: {msg.page_not_found.page_name}")
    if kind != "delta" or msg.delta.WhichOneof("type") != "new_element":
        return False
    element = msg.delta.new_element
    name = element.WhichOneof("type")
    if name is None:
        return False
    body = getattr(element, name)
    texts = list(_strings(body))
    rendered.texts.extend(texts)
    if name == "exception":
        rendered.problems.append(f"traceback: {body.type}: {body.message}"[:200])
    elif name == "alert" and body.format == Alert.ERROR:
        rendered.problems.append(f"error shown: {body.body}"[:200])
    elif hasattr(body, "label") and hasattr(body, "id") and hasattr(body, "options"):
        rendered.widgets[body.label] = (body.id, list(body.options))
    return False


async def _run(ws: Any, state: BackMsg, timeout: float) -> Rendered:
    """Send a rerun and read ForwardMsgs until the run finishes."""
    rendered = Rendered()
    await ws.send(state.SerializeToString())
    async with asyncio.timeout(timeout):
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await ws.recv())
            if _take(rendered, msg):
                return rendered


def _rerun(scenario: Scenario, widget: WidgetState | None = None) -> BackMsg:
    back = BackMsg()
    back.rerun_script.query_string = scenario.query
    back.rerun_script.page_name = scenario.page
    if widget is not None:
        back.rerun_script.widget_states.widgets.append(widget)
    return back


@dataclass
class Results:
    page_load: list[float] = field(default_factory=list)
    interaction: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # error kind → first message
    by_scenario: Counter[str] = field(default_factory=Counter)

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, message[:300])

    def summary(self) -> dict[str, Any]:
        return {
            "page_loads": len(self.page_load),
            "interactions": len(self.interaction),
            "page_load_p50": _pct(self.page_load, 50),
            "page_load_p95": _pct(self.page_load, 95),
            "page_load_max": max(self.page_load, default=None),
            "interaction_p50": _pct(self.interaction, 50),
            "interaction_p95": _pct(self.interaction, 95),
            "interaction_max": max(self.interaction, default=None),
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
            "error_samples": self.samples,
            "by_scenario": dict(self.by_scenario),
        }


def _pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


async def visit(ws_url: str, scenario: Scenario, results: Results, timeout: float,
                think: Callable[[], float]) -> None:  # fmt: skip
    """One visit: open the page, think, change a widget, think."""
    started = time.monotonic()
    try:
        async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol("streamlit")],
                                      max_size=None, open_timeout=timeout) as ws:  # fmt: skip
            page = await _run(ws, _rerun(scenario), timeout)
            loaded = time.monotonic() - started
            if _checked(results, scenario, "page load", page, scenario.expect):
                results.page_load.append(loaded)
                results.by_scenario[scenario.name] += 1
            else:
                return
            await asyncio.sleep(think())
            if scenario.widget not in page.widgets:
                results.error("widget missing", f"{scenario.name}: no widget {scenario.widget!r}")
                return
            widget_id, options = page.widgets[scenario.widget]
            change = WidgetState(id=widget_id, string_value=scenario.pick(options))
            sent = time.monotonic()
            after = await _run(ws, _rerun(scenario, change), timeout)
            if _checked(results, scenario, "interaction", after, scenario.expect_after):
                results.interaction.append(time.monotonic() - sent)
            await asyncio.sleep(think())
    except TimeoutError:
        results.error("timeout", f"{scenario.name}: no script-finished within {timeout} s")
    except (OSError, websockets.WebSocketException) as error:
        results.error("connection", f"{scenario.name}: {type(error).__name__}: {error}")


def _checked(results: Results, scenario: Scenario, step: str, rendered: Rendered,
             expect: str) -> bool:  # fmt: skip
    """Count what went wrong in a run; True when it rendered cleanly."""
    for problem in rendered.problems:
        results.error(problem.split(":")[0], f"{scenario.name} {step}: {problem}")
    if not rendered.has(expect):
        results.error("content missing", f"{scenario.name} {step}: no {expect!r} on the page")
        return False
    return not rendered.problems


async def load(base_url: str, users: int, seconds: float, think: tuple[float, float] = THINK,
               timeout: float = 60.0, seed: int = 1) -> Results:  # fmt: skip
    """`users` simulated users for `seconds` against the dashboard at `base_url`; each user
    starts on its own page (user n on scenario n) and goes through them all in turn."""
    ws_url = base_url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
    results = Results()
    deadline = time.monotonic() + seconds
    rng = random.Random(seed)

    def pause() -> float:
        return rng.uniform(*think)

    async def user(number: int) -> None:
        await asyncio.sleep(number * min(think[0], 1.0) / max(users, 1))  # ramp up over ~1 s
        visit_no = 0
        while time.monotonic() < deadline:
            scenario = SCENARIOS[(number + visit_no) % len(SCENARIOS)]
            await visit(ws_url, scenario, results, timeout, pause)
            visit_no += 1

    await asyncio.gather(*(user(n) for n in range(users)))
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: Path, startup: float = 120.0) -> Iterator[str]:
    """`hpt dashboard` serving `db` on a free loopback port; its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "hpt"), "dashboard", "--db", str(db), "--port", str(port),
         "--address", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup
        while True:
            try:
                if requests.get(f"{base}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start (exit {process.poll()})")
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm(base_url: str, timeout: float = 120.0) -> Results:
    """Each page once, one after the other: the first visit's imports are not measured."""

    async def run() -> Results:
        results = Results()
        ws_url = base_url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        for scenario in SCENARIOS:
            await visit(ws_url, scenario, results, timeout, lambda: 0.0)
        return results

    return asyncio.run(run())


def demo_warehouse(folder: Path) -> Path:
    """The demo universe ingested by `hpt run` into `folder` (built once, then reused)."""
    from devtools.demo_server import running
    from devtools.synthetic.universe import generate

    db = folder / "hpt.duckdb"
    if (folder / "hpt-published" / "current.duckdb").exists():
        return db
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HPT_WORK_DIR": str(folder / "work"),
           "HPT_LANDING": str(folder / "landing"), "HPT_HTTP_BACKOFF": "0.2"}  # fmt: skip
    with running(folder / "universe") as server:
        (folder / "universe").mkdir(exist_ok=True)
        generate(folder / "universe", server.base_url)
        command = [str(BIN / "hpt"), "run", "--sources", str(folder / "universe" / "sources.csv"),
                   "--db", str(db)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if not (folder / "hpt-published" / "current.duckdb").exists():
        raise RuntimeError(f"hpt run published nothing (exit {done.returncode}):\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")  # fmt: skip
    return db


def report(summary: dict[str, Any], users: int, seconds: float) -> str:
    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    verdict = ("OK" if summary["errors"] == 0 and (summary["page_load_p95"] or 0) <= TARGET_P95
               and (summary["interaction_p95"] or 0) <= TARGET_P95 else "MISSED")  # fmt: skip
    lines = [
        f"{users} users for {seconds:.0f} s: {summary['page_loads']} page loads, "
        f"{summary['interactions']} interactions, {summary['errors']} errors",
        f"page load    p50 {s(summary['page_load_p50'])}  p95 {s(summary['page_load_p95'])}  "
        f"max {s(summary['page_load_max'])}",
        f"interaction  p50 {s(summary['interaction_p50'])}  p95 {s(summary['interaction_p95'])}  "
        f"max {s(summary['interaction_max'])}",
        f"target: 0 errors, p95 ≤ {TARGET_P95:.0f} s: {verdict}",
    ]
    for kind, count in summary["errors_by_kind"].items():
        lines.append(f"  {count} × {kind}: {summary['error_samples'][kind]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--think", type=float, nargs=2, default=THINK, metavar=("MIN", "MAX"),
        help="seconds a user pauses after each page and change (uniform; default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60.0, help="per script run")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--db", type=Path, help="serve this warehouse (default: the demo one)")
    group.add_argument("--url", help="a dashboard already running (loopback)")
    args = parser.parse_args()

    def measured(base: str) -> dict[str, Any]:
        warmed = warm(base, args.timeout)
        if warmed.errors:
            raise SystemExit(f"warm-up failed: {dict(warmed.samples)}")
        load_avg = os.getloadavg()
        results = asyncio.run(load(base, args.users, args.seconds, tuple(args.think),
                                   args.timeout))  # fmt: skip
        return {**results.summary(), "users": args.users, "seconds": args.seconds,
                "think": list(args.think), "load_average_before": list(load_avg),
                "load_average_after": list(os.getloadavg()), "cpus": os.cpu_count()}  # fmt: skip

    if args.url:
        summary = measured(args.url)
    else:
        db = args.db or demo_warehouse(OUT / "dashboard-load")
        with serving(db) as base:
            summary = measured(base)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dashboard_load.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(report(summary, args.users, args.seconds))
    print(
        f"load average (1, 5, 15 min) before {summary['load_average_before']}, "
        f"after {summary['load_average_after']}, {summary['cpus']} CPUs"
    )
    if summary["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
