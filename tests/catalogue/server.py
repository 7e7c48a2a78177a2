"""A misbehaving web server on loopback: each path answers as a catalogue case says.

A route is a `Reply` (or a function of the request giving one): status, headers, a body
(bytes, or a generator streamed as it is made — 2 GB are never held or written), the
Content-Length it claims (true or not), a stall after the headers, a drip of single bytes.
Every connection is closed after its answer, so a lying Content-Length stays a lie.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One answer. `length`: the Content-Length sent (None: the body's, when it is bytes;
    -1: none, the body ends when the connection closes). Header values may hold `{base}`
    (this server's root URL) and `{port}`."""

    body: bytes | Callable[[], Iterable[bytes]] = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    length: int | None = None
    wait: float = 0.0  # seconds of silence before the headers
    stall: float = 0.0  # seconds of silence after the headers
    drip: float = 0.0  # seconds between single bytes of the body


@dataclass(frozen=True)
class Request:
    """What a route function sees: the path, the request headers, the hit count."""

    path: str
    headers: Mapping[str, str]
    hit: int


Route = Reply | Callable[[Request], Reply]


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, path: str) -> Route | None:
        """The route of `path`: exact, else the longest `prefix*` that matches."""
        if path in self.routes:
            return self.routes[path]
        prefixes = [p for p in self.routes if p.endswith("*") and path.startswith(p[:-1])]
        return self.routes[max(prefixes, key=len)] if prefixes else None

    def hit(self, path: str) -> int:
        with self._lock:
            self.hits[path] += 1
            return self.hits[path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        self.close_connection = True
        path = urlsplit(self.path).path
        route = self.server.route(path)
        if route is None:
            route = Reply(b"Not Found\n", status=404)
        elif not isinstance(route, Reply):
            route = route(Request(path, dict(self.headers.items()), self.server.hit(path)))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, socket.timeout):
            self._send(route, body)

    def _send(self, reply: Reply, body: bool) -> None:
        if reply.wait:
            time.sleep(reply.wait)
        self.send_response(reply.status)
        values = {"base": self.server.base, "port": str(self.server.port)}
        headers = {k: v.format(**values) for k, v in reply.headers.items()}
        length = reply.length
        if length is None and isinstance(reply.body, bytes):
            length = len(reply.body)
        if length is not None and length >= 0:
            headers.setdefault("Content-Length", str(length))
        headers.setdefault("Content-Type", "text/csv")
        headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        if not body:
            return
        if reply.stall:
            time.sleep(reply.stall)
        for chunk in _chunks(reply.body):
            if reply.drip:
                for i in range(len(chunk)):
                    self.wfile.write(chunk[i : i + 1])
                    self.wfile.flush()
                    time.sleep(reply.drip)
            else:
                self.wfile.write(chunk)
        self.wfile.flush()


def _chunks(body: bytes | Callable[[], Iterable[bytes]]) -> Iterable[bytes]:
    return (body,) if isinstance(body, bytes) else body()


@contextlib.contextmanager
def serving(routes: Mapping[str, Route]) -> Iterator[HostileServer]:
    """A `HostileServer` with `routes`, running in a thread until the block ends."""
    server = HostileServer()
    server.routes.update(routes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
