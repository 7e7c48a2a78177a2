"""A small HTTP server for the demo universe, with the semantics downloads meet in the wild.

Files under `<folder>/sites/` are served at their path with ETag, Last-Modified (and 304 on
a matching conditional request), Range (206), HEAD and a Content-Type from the extension.
`<folder>/universe.json` adds per-path behaviour:

* `redirect` (+ `status`) — answer 302/301 to another path;
* `disposition` — `Content-Disposition: attachment; filename=…`;
* `gzip` — path of a gzip copy sent with `Content-Encoding: gzip` when the client accepts it;
* `html` — a captcha page with status 200 instead of the file;
* `flaky` — the first N requests get 503;
* `cut_once` — the first full GET is cut after this fraction of the body.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import mimetypes
import re
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.synthetic.universe import CAPTCHA

log = logging.getLogger("hpt.demo")
CHUNK = 1 << 20


class DemoServer(ThreadingHTTPServer):
    """Serves one universe folder; counts requests per path for the misbehaving routes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, folder: Path, address: tuple[str, int]) -> None:
        super().__init__(address, DemoHandler)
        self.folder = folder.resolve()
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # file bytes sent per path (not error pages)
        self._lock = threading.Lock()
        self._routes: tuple[float, dict[str, dict[str, Any]]] = (-1.0, {})

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-answer (a downloader that stops reading a 404's page, a
        cut transfer) is what clients do: not a traceback on stderr, which in a test lands in
        the output of the command being run. Anything else is reported as usual."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionResetError | BrokenPipeError):
            log.debug("demo server: %s hung up", client_address)
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def routes(self) -> dict[str, dict[str, Any]]:
        """`universe.json` routes, re-read when the file changes (a regenerated universe)."""
        manifest = self.folder / "universe.json"
        mtime = manifest.stat().st_mtime if manifest.exists() else 0.0
        if mtime != self._routes[0]:
            data = json.loads(manifest.read_text()) if manifest.exists() else {}
            self._routes = (mtime, data.get("routes", {}))
        return self._routes[1]

    def count_sent(self, path: str, size: int) -> None:
        with self._lock:
            self.sent[path] += size

    def hit(self, path: str) -> int:
        with self._lock:
            self.hits[path] += 1
            return self.hits[path]


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DemoServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # the client's delayed ACK add 40 ms to every small response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _small(self, status: int, body: bytes, ctype: str = "text/plain", **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, path: str) -> Path | None:
        target = (self.server.folder / "sites" / path.lstrip("/")).resolve()
        root = self.server.folder / "sites"
        return target if target.is_file() and target.is_relative_to(root) else None

    def _serve(self, body: bool) -> None:
        path = urlsplit(self.path).path
        route = self.server.routes().get(path, {})
        count = self.server.hit(path) if body else 0
        if count and count <= int(route.get("flaky", 0)):
            return self._small(503, b"Service temporarily unavailable\n")
        if "redirect" in route:
            return self._small(int(route.get("status", 302)), b"", Location=route["redirect"])
        if route.get("html"):
            return self._small(200, CAPTCHA, "text/html; charset=utf-8")
        target = self._file(path)
        if target is None:
            return self._small(404, b"Not Found\n")
        encoded = bool(route.get("gzip")) and "gzip" in self.headers.get("Accept-Encoding", "")
        if encoded and (gz := self._file(route["gzip"])):
            target = gz
        stat = target.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}{"-gzip" if encoded else ""}"'
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
        if "disposition" in route:
            headers["Content-Disposition"] = f'attachment; filename="{route["disposition"]}"'
        if self._not_modified(etag, stat.st_mtime):
            self.send_response(304)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            return None
        start, end = 0, stat.st_size - 1
        status = 200
        wanted = self._range(stat.st_size, etag, modified)
        if wanted and not encoded:
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{stat.st_size}"
        length = end - start + 1
        self.send_response(status)
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if encoded:
            headers["Content-Encoding"] = "gzip"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not body:
            return None
        cut = route.get("cut_once")
        limit = int(length * float(cut)) if cut and count == 1 and status == 200 else length
        with target.open("rb") as handle:
            handle.seek(start)
            left = limit
            while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                self.wfile.write(chunk)
                left -= len(chunk)
        self.server.count_sent(path, limit - left)
        if limit < length:  # promised more than sent: the client sees a cut transfer
            self.close_connection = True
        return None

    def _not_modified(self, etag: str, mtime: float) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return etag in [m.strip() for m in match.split(",")] or match.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            with contextlib.suppress(TypeError, ValueError):
                parsed = email.utils.parsedate_to_datetime(since)
                return int(mtime) <= parsed.timestamp()
        return False

    def _range(self, size: int, etag: str, modified: str) -> tuple[int, int] | None:
        """The single byte range asked for, if it still applies (If-Range)."""
        header = self.headers.get("Range", "")
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if not match or size == 0:
            return None
        if_range = self.headers.get("If-Range")
        if if_range and if_range not in (etag, modified):
            return None
        first, last = match.groups()
        if not first:  # suffix range: the last N bytes
            return max(size - int(last or 0), 0), size - 1
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
        return (start, end) if start <= end else None


@contextlib.contextmanager
def running(folder: Path, port: int = 0, host: str = "127.0.0.1") -> Iterator[DemoServer]:
    """The server running in a background thread (tests and benchmarks)."""
    server = DemoServer(folder, (host, port))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve(folder: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM or Ctrl-C, then close cleanly."""
    server = DemoServer(folder, (host, port))

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
