"""Downloads against real local HTTP servers: pytest-httpserver and the demo server."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devtools.demo_server import DemoServer, running
from ingest.download import Limits, download

BODY = b"hospital_name,last_updated_on,version\nMercy,2026-01-01,3.0.0\n" * 2000
FAST = Limits.from_settings(timeout=2.0, retries=2, backoff=0.01, max_redirects=5)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[DemoServer, Path]]:
    """The demo server over an empty folder; tests put files under `sites/` and routes."""
    folder = tmp_path / "universe"
    (folder / "sites").mkdir(parents=True)
    with running(folder) as server:
        yield server, folder


def put(folder: Path, path: str, data: bytes, **route: object) -> None:
    target = folder / "sites" / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    manifest = folder / "universe.json"
    routes = json.loads(manifest.read_text())["routes"] if manifest.exists() else {}
    if route:
        routes[path] = route
    manifest.write_text(json.dumps({"routes": routes}))


def test_download_lands_the_file_as_named_and_hashes_it(
    site: tuple[DemoServer, Path], landing: Path
) -> None:
    server, folder = site
    put(folder, "/m/cdn/0001", BODY, disposition="123_mercy_standardcharges.csv")
    got = download(f"{server.base_url}/m/cdn/0001", landing, limits=FAST)
    assert got.outcome == "downloaded", got.message
    assert got.file_name == "123_mercy_standardcharges.csv"
    assert got.path is not None and Path(got.path).read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    assert got.downloaded_bytes == got.bytes == len(BODY)
    assert got.etag and got.last_modified


def test_unchanged_file_costs_a_304_and_no_bytes(
    site: tuple[DemoServer, Path], landing: Path
) -> None:
    server, folder = site
    put(folder, "/m/prices.csv", BODY)
    first = download(f"{server.base_url}/m/prices.csv", landing, limits=FAST)
    second = download(f"{server.base_url}/m/prices.csv", landing, limits=FAST)
    assert (first.outcome, second.outcome) == ("downloaded", "not_modified")
    assert second.status == 304 and second.downloaded_bytes == 0
    assert (second.path, second.sha256) == (first.path, first.sha256)


def test_changed_file_replaces_the_old_one(site: tuple[DemoServer, Path], landing: Path) -> None:
    server, folder = site
    put(folder, "/m/get", BODY, disposition="old_standardcharges.csv")
    first = download(f"{server.base_url}/m/get", landing, limits=FAST)
    time.sleep(0.01)
    put(folder, "/m/get", BODY + b"more\n", disposition="new_standardcharges.csv")
    second = download(f"{server.base_url}/m/get", landing, limits=FAST)
    assert second.outcome == "downloaded" and second.sha256 != first.sha256
    assert first.path is not None and not Path(first.path).exists()
    assert second.path is not None and Path(second.path).read_bytes().endswith(b"more\n")


def test_gzip_transfer_encoding_is_decoded(site: tuple[DemoServer, Path], landing: Path) -> None:
    server, folder = site
    put(folder, "/m/p.csv.gzip", gzip.compress(BODY))
    put(folder, "/m/p.csv", BODY, gzip="/m/p.csv.gzip")
    got = download(f"{server.base_url}/m/p.csv", landing, limits=FAST)
    assert got.outcome == "downloaded", got.message
    assert got.path is not None and Path(got.path).read_bytes() == BODY
    assert got.downloaded_bytes < len(BODY) / 10  # compressed on the wire


def test_cut_transfer_is_resumed_with_a_range_request(
    site: tuple[DemoServer, Path], landing: Path
) -> None:
    server, folder = site
    put(folder, "/m/big.csv", BODY, cut_once=0.4)
    got = download(f"{server.base_url}/m/big.csv", landing, limits=FAST)
    assert got.outcome == "downloaded", got.message
    assert got.path is not None and Path(got.path).read_bytes() == BODY
    assert got.retries == 1
    assert got.downloaded_bytes == len(BODY)  # 40% + the remaining 60%, nothing twice


def test_transient_503s_are_retried(site: tuple[DemoServer, Path], landing: Path) -> None:
    server, folder = site
    put(folder, "/m/flaky.csv", BODY, flaky=2)
    got = download(f"{server.base_url}/m/flaky.csv", landing, limits=FAST)
    assert got.outcome == "downloaded", got.message
    assert got.retries == 2 and server.hits["/m/flaky.csv"] == 3


@pytest.mark.parametrize("status", [404, 410])
def test_gone_file_fails_without_retrying(
    httpserver: HTTPServer, landing: Path, status: int
) -> None:
    httpserver.expect_request("/f.csv").respond_with_data("no", status=status)
    got = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    assert (got.outcome, got.status, got.path) == ("failed", status, None)
    assert got.message.startswith(f"HTTP {status}")
    assert len(httpserver.log) == 1


def test_500_then_success(httpserver: HTTPServer, landing: Path) -> None:
    httpserver.expect_ordered_request("/f.csv").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/f.csv").respond_with_data(BODY)
    got = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    assert got.outcome == "downloaded", got.message
    assert got.retries == 1
    assert got.path is not None and Path(got.path).read_bytes() == BODY


def test_500_for_ever_gives_up_with_one_line(httpserver: HTTPServer, landing: Path) -> None:
    httpserver.expect_request("/f.csv").respond_with_data("oops", status=500)
    got = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    assert got.outcome == "failed" and got.status == 500
    assert len(httpserver.log) == FAST.retries + 1
    assert "\n" not in got.message


def test_timeout_is_retried_then_fails(httpserver: HTTPServer, landing: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(BODY)

    httpserver.expect_request("/slow.csv").respond_with_handler(slow)
    limits = Limits.from_settings(timeout=0.2, retries=1, backoff=0.01)
    got = download(httpserver.url_for("/slow.csv"), landing, limits=limits)
    assert got.outcome == "failed"
    assert "timed out" in got.message
    assert got.path is None
    time.sleep(1.5)  # let the single-threaded server finish its slow answers
    assert len(httpserver.log) == limits.retries + 1  # retried, but not retries of retries


def test_redirect_loop_fails(httpserver: HTTPServer, landing: Path) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    got = download(httpserver.url_for("/a"), landing, limits=FAST)
    assert got.outcome == "failed" and "redirect" in got.message


def test_captcha_page_fails_and_keeps_the_previous_file(
    httpserver: HTTPServer, landing: Path
) -> None:
    httpserver.expect_oneshot_request("/f.csv").respond_with_data(BODY)
    first = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    captcha = "<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head></html>"
    httpserver.expect_request("/f.csv").respond_with_data(captcha, content_type="text/html")
    second = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    assert first.outcome == "downloaded"
    assert second.outcome == "failed" and "HTML page" in second.message
    assert first.path is not None and Path(first.path).read_bytes() == BODY
    third = download(httpserver.url_for("/f.csv"), landing, limits=FAST)
    assert third.outcome == "failed"  # the kept file is not mistaken for the new one


def test_file_over_the_cap_is_refused(httpserver: HTTPServer, landing: Path) -> None:
    httpserver.expect_request("/f.csv").respond_with_data(BODY)
    limits = Limits.from_settings(max_bytes=len(BODY) - 1, retries=0)
    got = download(httpserver.url_for("/f.csv"), landing, limits=limits)
    assert got.outcome == "failed" and "cap" in got.message
    assert not list(landing.rglob("*.csv"))


def test_file_over_the_cap_without_content_length_is_cut_off(
    httpserver: HTTPServer, landing: Path
) -> None:
    def chunked(request: Request) -> Response:
        return Response(iter([BODY[:50_000]] * 100), direct_passthrough=True)

    httpserver.expect_request("/f.csv").respond_with_handler(chunked)
    got = download(
        httpserver.url_for("/f.csv"), landing, limits=Limits.from_settings(max_bytes=1_000_000)
    )
    assert got.outcome == "failed" and "cap" in got.message
    assert got.downloaded_bytes < 3_000_000


def test_truncated_transfer_without_ranges_fails(
    site: tuple[DemoServer, Path], landing: Path
) -> None:
    server, folder = site
    put(folder, "/m/cut.csv", BODY, cut_once=0.5)
    # The server promises Content-Length bytes and closes halfway; no retry is allowed.
    got = download(f"{server.base_url}/m/cut.csv", landing, limits=Limits.from_settings(retries=0))
    assert got.outcome == "failed"
    assert "cut short" in got.message
    assert got.path is None


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/f.csv", "javascript:alert(1)"]
)
def test_non_http_schemes_are_refused(url: str, landing: Path) -> None:
    got = download(url, landing, limits=FAST)
    assert got.outcome == "failed" and "refused URL scheme" in got.message
    assert not landing.exists()


def test_gzip_bomb_in_transfer_encoding_is_refused(httpserver: HTTPServer, landing: Path) -> None:
    bomb = gzip.compress(b"\0" * 60_000_000, compresslevel=9)
    httpserver.expect_request("/f.csv").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}
    )
    got = download(
        httpserver.url_for("/f.csv"), landing, limits=Limits.from_settings(gzip_ratio=100)
    )
    assert got.outcome == "failed" and "gzip bomb" in got.message
    assert not list(landing.rglob("*.csv")) and not list(landing.rglob(".partial"))


def test_gzip_bomb_served_as_a_gz_file_is_refused(httpserver: HTTPServer, landing: Path) -> None:
    bomb = gzip.compress(b"a,b\n" * 15_000_000, compresslevel=9)
    httpserver.expect_request("/prices.csv.gz").respond_with_data(
        bomb, content_type="application/gzip"
    )
    got = download(
        httpserver.url_for("/prices.csv.gz"), landing, limits=Limits.from_settings(gzip_ratio=100)
    )
    assert got.outcome == "failed" and "gzip bomb" in got.message


def test_honest_gz_file_is_kept_as_served(httpserver: HTTPServer, landing: Path) -> None:
    packed = gzip.compress(BODY)
    httpserver.expect_request("/prices.csv.gz").respond_with_data(
        packed, content_type="application/gzip"
    )
    got = download(httpserver.url_for("/prices.csv.gz"), landing, limits=FAST)
    assert got.outcome == "downloaded" and got.file_name == "prices.csv.gz"
    assert got.path is not None and Path(got.path).read_bytes() == packed


def test_browser_like_user_agent_is_sent(httpserver: HTTPServer, landing: Path) -> None:
    httpserver.expect_request("/f.csv").respond_with_data(BODY)
    download(httpserver.url_for("/f.csv"), landing)
    agent = httpserver.log[0][0].headers["User-Agent"]
    assert agent.startswith("Mozilla/5.0") and "hpt" in agent


@pytest.mark.parametrize("name", ["state.json.tmp", "state.json", ".lock"])
def test_a_served_file_cannot_take_the_state_files_name(
    site: tuple[DemoServer, Path], landing: Path, name: str
) -> None:
    server, folder = site
    put(folder, "/m/get", BODY, disposition=name)
    first = download(f"{server.base_url}/m/get", landing, limits=FAST)
    assert first.outcome == "downloaded" and first.path is not None
    assert Path(first.path).read_bytes() == BODY
    second = download(f"{server.base_url}/m/get", landing, limits=FAST)
    assert second.outcome == "not_modified" and second.path == first.path
    assert Path(first.path).read_bytes() == BODY
