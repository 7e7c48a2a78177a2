"""Downloading a machine-readable file to the landing area: streamed, conditional, resumable.

One place per URL in the landing area (`ingest.landing`: a local folder, or a prefix on an
object store) holds the current file (named as the server names it) and `state.json` (its
validators and hash); its local folder holds, after a cut transfer, `.partial`.

* Conditional requests (ETag / Last-Modified): a 304 costs no bytes, hashing or parsing.
* Retries with backoff on 5xx/429 and timeouts (urllib3 `Retry`), and on a transfer cut
  short, resuming with a Range request when the server allows it.
* Bytes are kept as served (a `.gz` or `.zip` stays one; readers unwrap it); only a
  `Content-Encoding` is decoded, under a size cap and an expansion-ratio cap (gzip bombs).
* An HTML page served instead of the file (captcha, login, error page), or text without a
  line break in its first `FIRST_LINE_MAX` bytes (no CSV's header rows are that long; JSON
  may be one line), is a failure; the previous file stays.
* Redirects go to http(s) only, and never from one host into a non-public network (loopback,
  private, link-local, reserved) unless the network is allowed (`HPT_HTTP_ALLOWED_NETWORKS`).
* A download never outlasts `HPT_DOWNLOAD_MAX_SECONDS`, however slowly the bytes drip in.

`download()` never raises: every outcome is a `Download` value to record and show.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import re
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlparse

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core import settings
from core.outcomes import AcquireOutcome
from core.storage import Storage
from ingest.archive import GZIP_MAGIC, ZIP_MAGIC, Caps
from ingest.landing import STATE, LandingError, Place, local_copy
from ingest.landing import read_json as _read_json

CHUNK = 1 << 20
#: Text with no line break in this many bytes is not a CSV file (its header rows are short).
FIRST_LINE_MAX = 16 << 20


@dataclass(frozen=True)
class Limits:
    """Timeouts, caps and retry policy: the settings, some changed by the caller."""

    timeout: float
    max_seconds: float
    max_bytes: int
    gzip_ratio: float
    retries: int
    backoff: float
    max_redirects: int
    user_agent: str
    allowed_networks: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, **changes: Any) -> Limits:
        """The limits the settings give, with `changes` (field=value) applied."""
        now = settings.current()
        limits = cls(
            timeout=now.http_timeout,
            max_seconds=now.download_max_seconds,
            max_bytes=now.download_max_bytes,
            gzip_ratio=now.gzip_max_ratio,
            retries=now.http_retries,
            backoff=now.http_backoff,
            max_redirects=now.http_max_redirects,
            user_agent=now.user_agent,
            allowed_networks=tuple(
                n.strip() for n in now.http_allowed_networks.split(",") if n.strip()
            ),
        )
        return replace(limits, **changes)


@dataclass
class Download:
    """What one download did: a small, JSON-friendly value (XCom-safe)."""

    url: str
    outcome: AcquireOutcome = AcquireOutcome.FAILED
    message: str = ""
    #: A failure another try later could cure (5xx/429, timeout, connection refused or
    #: reset, cut transfer, unknown host); False for one it cannot (404, HTML page, a cap).
    transient: bool = False
    final_url: str | None = None
    status: int | None = None
    path: str | None = None  # the landed file, a path or object URL (also for not_modified)
    file_name: str | None = None
    sha256: str | None = None
    bytes: int = 0  # size of the landed file
    downloaded_bytes: int = 0  # bytes received over the wire in this attempt
    etag: str | None = None
    last_modified: str | None = None
    retries: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Refused(Exception):
    """The response is not the file (HTML page, over a cap, …): fail without retrying."""


class _Cut(Exception):
    """The transfer stopped early: retry, resuming if possible."""


class RedirectRefused(requests.RequestException):
    """A redirect to somewhere we do not go (another scheme, a non-public network)."""


def _non_public(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of `host` that are not on the public internet."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:  # unknown host: the request itself fails, saying so
        return []
    found = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return sorted((a for a in found if not a.is_global), key=str)


class _GuardedSession(requests.Session):
    """Follows a redirect only to http(s), and from one host into a non-public network
    only when that network is allowed: a public site can't point the pipeline at a
    machine of the local network (or a cloud metadata service)."""

    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        location = super().get_redirect_target(resp)
        if location is None:
            return None
        target = urljoin(resp.url, location)
        parts = urlparse(target)
        if parts.scheme.lower() not in {"http", "https"}:
            raise RedirectRefused(
                f"redirect to {target[:200]!r} refused: only http and https are fetched"
            )
        host = (parts.hostname or "").lower()
        if host and host != (urlparse(resp.url).hostname or "").lower():
            for address in _non_public(host):
                if not any(address in network for network in self.allowed):
                    raise RedirectRefused(
                        f"redirect from {urlparse(resp.url).hostname} to {host} ({address}, a "
                        "non-public address) refused; allow it with HPT_HTTP_ALLOWED_NETWORKS"
                    )
        return location


#: Answers that may well differ on a later try: the server is busy or failing for now.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


def http_session(limits: Limits) -> requests.Session:
    """A session retrying 5xx/429 answers and connect/read timeouts with backoff."""
    retry = Retry(
        total=limits.retries,
        connect=limits.retries,
        read=limits.retries,
        status=limits.retries,
        status_forcelist=TRANSIENT_STATUS,
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=limits.backoff,
        backoff_max=60.0,
        raise_on_status=False,
        # A Retry-After of hours would stall the whole night's run; our backoff is polite.
        respect_retry_after_header=False,
    )
    session = _GuardedSession()
    session.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in limits.allowed_networks)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = limits.max_redirects
    session.headers.update(
        {"User-Agent": limits.user_agent, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
    )
    return session


@contextlib.contextmanager
def using_session(session: requests.Session | None, limits: Limits) -> Iterator[requests.Session]:
    """The caller's session (a run shares one: keep-alive), or a new one closed after."""
    if session is not None:
        yield session
    else:
        with http_session(limits) as own:
            yield own


def file_name(response: requests.Response) -> str:
    """The file's real name: `Content-Disposition`, else the last URL segment."""
    name = ""
    disposition = response.headers.get("Content-Disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename() or ""
    if not name:
        name = unquote(Path(urlparse(response.url).path).name)
    name = re.sub(r"[^\w.+() -]+", "_", Path(name.replace("\\", "/")).name).strip(" .")
    return name[:200] or "download"


def looks_like_html(head: bytes) -> bool:
    """True for the start of an HTML page (a bot wall, login or error page)."""
    text = head.lstrip(b"\xef\xbb\xbf").replace(b"\x00", b"").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        text.startswith(b"<") and b"<html" in text[:1024]
    )


class _Inflater:
    """Bounded gzip/deflate decompression: never more than CHUNK bytes out per step."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, detected

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            out = self._d.decompress(data, CHUNK)
            data = self._d.unconsumed_tail
            if self._d.eof and self._d.unused_data:  # next gzip member
                data = self._d.unused_data + data
                self._d = zlib.decompressobj(47)
            if out:
                yield out
            elif not data:
                break


@dataclass
class _Stream:
    """Counters of one transfer, checked against the caps as bytes arrive."""

    limits: Limits
    deadline: float
    total_raw: int = 0  # over every attempt: what this download cost
    raw: int = 0  # of the current response
    decoded: int = 0
    expanded: int = 0  # inflated size of a gzip file served as is (bomb check only)

    def check(self, encoded: bool) -> None:
        if self.decoded > self.limits.max_bytes:
            raise _Refused(f"file is larger than the cap of {self.limits.max_bytes:,} bytes")
        caps = Caps(self.limits.max_bytes, self.limits.gzip_ratio)
        for size in (self.decoded if encoded else 0, self.expanded):
            if refusal := caps.refusal("gzip", size, self.raw, bomb="a gzip bomb"):
                raise _Refused(refusal)
        if time.monotonic() > self.deadline:
            raise _Refused(
                f"download took longer than {self.limits.max_seconds:g} s "
                f"({self.total_raw:,} bytes received): the server sends too slowly"
            )


def _pieces(response: requests.Response) -> Iterator[bytes]:
    """The raw body as it arrives: each piece as soon as the socket has some (a 1 MB read
    would wait for a 1 MB, however slowly the bytes come, and miss the deadline)."""
    while piece := response.raw.read1(CHUNK, decode_content=False):
        yield piece


def _textual(head: bytes) -> bool:
    """Whether the start of a file is text that should have line breaks: not an archive,
    not JSON (which may be one line), not binary."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return not text.startswith((b"{", b"[", GZIP_MAGIC, ZIP_MAGIC)) and b"\x00" not in head[:64]


def _copy_body(
    response: requests.Response, out: IO[bytes], digest: Any, stream: _Stream, fresh: bool
) -> None:
    """Stream the body to `out`, decoding a Content-Encoding, judging the first bytes."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip", "x-gzip", "deflate", ""}:
        raise _Refused(f"unsupported Content-Encoding {encoding!r}")
    decoder = _Inflater() if encoding not in {"identity", ""} else None
    side: _Inflater | None = None  # inflates a served .gz only to measure it
    head = b"" if fresh else b"x" * 4096
    line_open = fresh  # no line break yet (only judged from the start of the file)
    stream.raw = 0
    for raw in _pieces(response):
        stream.raw += len(raw)
        stream.total_raw += len(raw)
        pieces = decoder.feed(raw) if decoder else iter((raw,))
        for piece in pieces:
            if len(head) < 4096:
                head += piece[: 4096 - len(head)]
                if looks_like_html(head):
                    raise _Refused("server sent an HTML page, not the file (bot wall or error?)")
                if head.startswith(b"\x1f\x8b") and side is None:
                    side = _Inflater()
            if side is not None:
                stream.expanded += sum(len(p) for p in side.feed(piece))
            if line_open and (b"\n" in piece or b"\r" in piece or not _textual(head)):
                line_open = False
            elif line_open and stream.decoded + len(piece) > FIRST_LINE_MAX:
                raise _Refused(
                    f"no line break in the first {FIRST_LINE_MAX:,} bytes: not a CSV file "
                    "(CMS header rows are short) nor JSON"
                )
            out.write(piece)
            digest.update(piece)
            stream.decoded += len(piece)
            stream.check(decoder is not None)
    expected = response.headers.get("Content-Length")
    if expected and expected.isdigit() and stream.raw < int(expected):
        raise _Cut(f"transfer cut short: {stream.raw:,} of {int(expected):,} bytes")


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One download per URL at a time (parallel tasks may share a system's file)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def download(
    url: str,
    landing: Path | Storage | None = None,
    *,
    limits: Limits | None = None,
    session: requests.Session | None = None,
) -> Download:
    """Fetch `url` into the landing area (a local folder, or the setting's area: a folder
    or an object store) unless unchanged; never raises."""
    started = time.monotonic()
    result = Download(url=url)
    if urlparse(url).scheme.lower() not in {"http", "https"}:
        result.message = f"refused URL scheme {urlparse(url).scheme!r}: only http and https"
        return result
    limits = limits or Limits.from_settings()
    now = settings.current()
    area = Storage(str(landing), str(landing)) if isinstance(landing, Path) else landing
    place = Place.of(url, area or now.landing_area, now.work_dir)
    with using_session(session, limits) as http, _locked(place.folder):
        try:
            _download(url, place, limits, http, result, started)
        except LandingError as error:  # the object store failed: the download is not kept
            result.outcome, result.path = AcquireOutcome.FAILED, None
            result.message, result.transient = str(error), True
            (place.folder / ".partial").unlink(missing_ok=True)
            (place.folder / ".partial.json").unlink(missing_ok=True)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _download(
    url: str,
    place: Place,
    limits: Limits,
    session: requests.Session,
    result: Download,
    started: float,
) -> None:
    folder = place.folder
    state = place.state()
    stream = _Stream(limits, deadline=started + limits.max_seconds)
    partial, partial_meta = folder / ".partial", folder / ".partial.json"
    for attempt in range(limits.retries + 1):
        headers: dict[str, str] = {}
        resume = _read_json(partial_meta) if partial.exists() else None
        if resume and resume.get("url") == url and (resume.get("etag") or resume.get("lm")):
            headers["Range"] = f"bytes={partial.stat().st_size}-"
            headers["If-Range"] = resume.get("etag") or resume["lm"]
        elif state:
            resume = None
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("last_modified"):
                headers["If-Modified-Since"] = state["last_modified"]
        try:  # urllib3 has already retried 5xx answers and timeouts before any body
            response = session.get(url, headers=headers, stream=True, timeout=limits.timeout)
        except requests.TooManyRedirects:
            result.message = f"more than {limits.max_redirects} redirects (a redirect loop?)"
            result.transient = False
            return
        except RedirectRefused as error:
            result.message, result.transient = str(error), False
            return
        except requests.RequestException as error:
            result.message = one_line(error)
            result.transient = unreachable_for_now(error)
            return
        with response:
            result.status, result.final_url = response.status_code, response.url
            history = response.raw.retries.history if response.raw.retries else ()
            result.retries = attempt + len(history)
            try:
                _receive(response, place, state, resume, stream, result)
                return
            except _Refused as error:
                result.message, result.transient = str(error), False
                partial.unlink(missing_ok=True)
                partial_meta.unlink(missing_ok=True)
                return
            except (_Cut, urllib3.exceptions.HTTPError, requests.RequestException) as error:
                # The body stopped early: try again, from where it stopped if resumable.
                result.message, result.transient = one_line(error), True
                if not partial_meta.exists():
                    partial.unlink(missing_ok=True)
            finally:
                result.downloaded_bytes = stream.total_raw
        if attempt < limits.retries:
            time.sleep(min(limits.backoff * 2**attempt, 60.0))
    result.message = f"gave up after {limits.retries + 1} attempts: {result.message}"


def _receive(
    response: requests.Response,
    place: Place,
    state: dict[str, Any] | None,
    resume: dict[str, Any] | None,
    stream: _Stream,
    result: Download,
) -> None:
    """Act on one response: reuse (304), fail (4xx), or stream the body and land it."""
    folder = place.folder
    partial, partial_meta = folder / ".partial", folder / ".partial.json"
    status = response.status_code
    if status == 304 and state:
        result.outcome = AcquireOutcome.NOT_MODIFIED
        result.message = "not modified since last time"
        result.path = place.location(state["file_name"])
        result.file_name, result.sha256, result.bytes = (
            state["file_name"], state["sha256"], state["bytes"]
        )  # fmt: skip
        result.etag, result.last_modified = state.get("etag"), state.get("last_modified")
        return
    if status >= 400 or status not in (200, 206):
        result.message = f"HTTP {status} {response.reason or ''}".strip()
        result.transient = status in TRANSIENT_STATUS
        return
    length = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity") != "identity"
    cap = stream.limits.max_bytes
    if length.isdigit() and not encoded and int(length) > cap:
        raise _Refused(f"file is {int(length):,} bytes, over the cap of {cap:,}")
    appending = status == 206 and resume is not None
    if status == 206 and not appending:
        raise _Refused("server sent part of the file to a request for all of it")
    digest = hashlib.sha256()
    if appending:
        start = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
        if not start or int(start.group(1)) != partial.stat().st_size:
            partial.unlink()
            raise _Cut("server resumed at the wrong offset; starting over")
        if _changed(resume or {}, response):  # it ignored If-Range: the parts don't match
            partial.unlink()
            partial_meta.unlink(missing_ok=True)
            raise _Cut("file changed on the server during the download; starting over")
        with partial.open("rb") as done:  # the hash covers the bytes already there
            while block := done.read(CHUNK):
                digest.update(block)
        stream.decoded = partial.stat().st_size
    else:
        stream.decoded = stream.expanded = 0
        partial_meta.unlink(missing_ok=True)
        if response.headers.get("Accept-Ranges", "").lower() == "bytes" and not encoded:
            validators = {
                "url": result.url, "etag": response.headers.get("ETag"),
                "lm": response.headers.get("Last-Modified"), "file_name": file_name(response),
            }  # fmt: skip
            partial_meta.write_text(json.dumps(validators))
    name = str((_read_json(partial_meta) or {}).get("file_name") or file_name(response))
    with partial.open("ab" if appending else "wb") as out:
        _copy_body(response, out, digest, stream, fresh=not appending)
    _land(place, partial, name, response, digest.hexdigest(), result)
    partial_meta.unlink(missing_ok=True)


def _land(
    place: Place,
    partial: Path,
    name: str,
    response: requests.Response,
    sha256: str,
    result: Download,
) -> None:
    """Put a complete download in place and remember its validators."""
    if name == STATE or name.startswith("."):
        name = f"file-{name.strip('.')}"
    size = partial.stat().st_size
    etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    state = {
        "url": result.url, "final_url": response.url, "file_name": name, "sha256": sha256,
        "bytes": size, "etag": etag, "last_modified": last_modified,
    }  # fmt: skip
    place.keep(partial, name, state)
    result.outcome, result.message, result.transient = AcquireOutcome.DOWNLOADED, "", False
    result.path, result.file_name, result.sha256 = place.location(name), name, sha256
    result.bytes, result.etag, result.last_modified = size, etag, last_modified


def _changed(resume: dict[str, Any], response: requests.Response) -> bool:
    """Whether a 206 answer names another version of the file than the bytes we hold."""
    for ours, theirs in (("etag", "ETag"), ("lm", "Last-Modified")):
        if resume.get(ours) and response.headers.get(theirs) not in (None, resume[ours]):
            return True
    return False


def read_capped(response: requests.Response, cap: int, seconds: float) -> bytes:
    """At most `cap` + 1 bytes of a small (decoded) body, within `seconds` in all; a slower
    server is a `requests.ReadTimeout` (the read timeout alone waits for each byte)."""
    deadline = time.monotonic() + seconds
    data = b""
    while len(data) <= cap and (piece := response.raw.read1(CHUNK, decode_content=True)):
        data += piece
        if time.monotonic() > deadline:
            sent = f"{len(data):,} bytes"
            raise requests.ReadTimeout(f"took longer than {seconds:g} s to send {sent}")
    return data[: cap + 1]


def unreachable_for_now(error: BaseException) -> bool:
    """Refused, reset, unknown host, timed out, or kept answering 5xx: may pass later.

    Not a malformed URL or a certificate the server will go on presenting."""
    for_now = (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError)
    return isinstance(error, for_now) and not isinstance(error, requests.exceptions.SSLError)


def one_line(error: BaseException) -> str:
    """A short message for a network error (requests nests the useful part deep)."""
    text = str(error)
    for pattern, short in (
        (r"Read timed out|ReadTimeout", "timed out waiting for the server"),
        (r"ConnectTimeout|connect timeout", "timed out connecting"),
        (r"Max retries exceeded.*too many (5|error)", "server kept answering with errors"),
        (r"Connection refused", "connection refused"),
        (r"Name or service not known|nodename nor servname|getaddrinfo", "unknown host"),
        (r"IncompleteRead|Connection broken|ProtocolError", "transfer cut short by the server"),
    ):
        if re.search(pattern, text):
            return short
    return re.sub(r"\s+", " ", text)[:300]


@contextlib.contextmanager
def fetched(url: str) -> Iterator[Path]:
    """The landed file of `url` (downloaded into the landing area unless unchanged) as a
    local path while the block runs; `UnreadableFile` if none."""
    from core.errors import UnreadableFile

    result = download(url)
    if result.path is None:
        raise UnreadableFile(f"download failed: {result.message}")
    with local_copy(result.path, result.sha256, settings.current().work_dir) as path:
        yield path
