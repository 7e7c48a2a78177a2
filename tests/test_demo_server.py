"""The demo server speaks real HTTP: validators, ranges, encodings, redirects, misbehaviour."""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.demo_server import DemoServer, running

DATA = b"description,code\n" + b"MRI brain,70551\n" * 1000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    sites = tmp_path / "u" / "sites" / "m"
    sites.mkdir(parents=True)
    (sites / "f.csv").write_bytes(DATA)
    (sites / "f.csv.gzip").write_bytes(gzip.compress(DATA))
    (sites / "blob").write_bytes(DATA)
    routes = {
        "/m/f.csv": {"gzip": "/m/f.csv.gzip"},
        "/m/blob": {"disposition": "1_m_standardcharges.csv"},
        "/m/old.csv": {"redirect": "/m/f.csv", "status": 301},
        "/m/wall.csv": {"html": True},
        "/m/flaky.csv": {"flaky": 1},
    }
    (sites / "flaky.csv").write_bytes(DATA)
    (tmp_path / "u" / "universe.json").write_text(json.dumps({"routes": routes}))
    with running(tmp_path / "u") as demo:
        yield demo


def get(server: DemoServer, path: str, **headers: str) -> requests.Response:
    headers.setdefault("Accept-Encoding", "identity")
    return requests.get(server.base_url + path, headers=headers, allow_redirects=False, timeout=5)


def raw_get(server: DemoServer, path: str) -> tuple[int, bytes]:
    """Status and body of a GET for `path` sent as written: `requests` would resolve `/../`
    away before sending, `http.client` does not."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_validators_and_conditional_requests(server: DemoServer) -> None:
    first = get(server, "/m/blob")
    assert first.status_code == 200 and first.content == DATA
    assert first.headers["Content-Disposition"] == 'attachment; filename="1_m_standardcharges.csv"'
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert get(server, "/m/blob", **{"If-None-Match": etag}).status_code == 304
    assert get(server, "/m/blob", **{"If-Modified-Since": modified}).status_code == 304
    assert get(server, "/m/blob", **{"If-None-Match": '"other"'}).status_code == 200


def test_ranges_and_if_range(server: DemoServer) -> None:
    etag = get(server, "/m/blob").headers["ETag"]
    part = get(server, "/m/blob", Range="bytes=10-19", **{"If-Range": etag})
    assert part.status_code == 206 and part.content == DATA[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert get(server, "/m/blob", Range="bytes=100-").content == DATA[100:]
    stale = get(server, "/m/blob", Range="bytes=10-19", **{"If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == DATA


def test_gzip_only_when_accepted(server: DemoServer) -> None:
    plain = get(server, "/m/f.csv")
    assert "Content-Encoding" not in plain.headers and plain.content == DATA
    encoded = get(server, "/m/f.csv", **{"Accept-Encoding": "gzip"})
    assert encoded.headers["Content-Encoding"] == "gzip"
    assert int(encoded.headers["Content-Length"]) < len(DATA) / 5
    assert encoded.content == DATA  # requests decodes it
    assert encoded.headers["ETag"] != plain.headers["ETag"]


def test_head_redirect_404_captcha_and_flaky(server: DemoServer) -> None:
    head = requests.head(server.base_url + "/m/blob", timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(DATA)
    moved = get(server, "/m/old.csv")
    assert moved.status_code == 301 and moved.headers["Location"] == "/m/f.csv"
    assert get(server, "/m/none.csv").status_code == 404
    wall = get(server, "/m/wall.csv")
    assert wall.status_code == 200 and wall.headers["Content-Type"].startswith("text/html")
    assert [get(server, "/m/flaky.csv").status_code for _ in range(2)] == [503, 200]


@pytest.mark.parametrize("path", ["/../universe.json", "/m/../../universe.json"])
def test_paths_out_of_the_sites_folder_are_refused(server: DemoServer, path: str) -> None:
    """`universe.json` sits beside `sites/`: a `..` in the raw request must not reach it."""
    assert (server.folder / "universe.json").is_file()
    status, body = raw_get(server, path)
    assert status == 404 and b"routes" not in body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "u" / "sites" / "m").mkdir(parents=True)
    (tmp_path / "u" / "sites" / "m" / "f.csv").write_bytes(DATA)
    port = _free_port()
    hpt = Path(sys.executable).parent / "hpt"  # the installed console script
    command = [str(hpt), "demo", "serve", str(tmp_path / "u"), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        waited = subprocess.run([str(hpt), "demo", "wait", "--port", str(port)], timeout=60)
        assert waited.returncode == 0, process.poll() is None or process.communicate()
        response = requests.get(f"http://127.0.0.1:{port}/m/f.csv", timeout=5)
        assert response.content == DATA
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert b"Traceback" not in process.communicate()[1]
    finally:
        if process.poll() is None:
            process.kill()


def test_generating_again_is_no_change_upstream(tmp_path: Path) -> None:
    """Same bytes and modification times, so the server's ETags and Last-Modified stay."""
    from devtools.synthetic.universe import generate

    def state() -> dict[str, tuple[float, bytes]]:
        files = (p for p in (tmp_path / "sites").rglob("*") if p.is_file())
        return {str(p): (p.stat().st_mtime, p.read_bytes()) for p in files}

    generate(tmp_path, "http://127.0.0.1:1", only=(102, 201, 502))  # gzip, redirect, zip
    first = state()
    time.sleep(1.1)
    generate(tmp_path, "http://127.0.0.1:1", only=(102, 201, 502))
    assert state() == first and len(first) >= 6


def test_a_scaled_universe_adds_healthy_hospitals_the_same_each_time(tmp_path: Path) -> None:
    from devtools.synthetic.universe import HOSPITALS, SCALED_SEED, generate, scaled

    extra = scaled(300)
    assert extra == scaled(300) and extra[:40] == scaled(40)
    assert len({h.ccn for h in (*HOSPITALS, *extra) if h.ccn}) == len(HOSPITALS) - 2 + 300
    assert {h.layout for h in extra} == {"tall", "wide", "json"}
    assert {h.version for h in extra} == {"2.2.0", "3.0.0"} and not any(h.broken for h in extra)
    seeds = range(SCALED_SEED, SCALED_SEED + 4)
    entries = generate(tmp_path, "http://127.0.0.1:1", facilities=len(HOSPITALS) + 4, only=seeds)
    assert [e.facility_id for e in entries] == [h.ccn for h in extra[:4]]
    assert len(list((tmp_path / "sites").rglob("*_standardcharges.*"))) == 4


def test_a_client_hanging_up_is_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A downloader that resets the connection mid-answer (it stopped reading) is logged,
    not printed: printed, it landed in the output of the command a test ran."""
    sites = tmp_path / "u" / "sites" / "m"
    sites.mkdir(parents=True)
    (sites / "big.csv").write_bytes(DATA * 400)  # ~6 MB: still being sent when reset
    with running(tmp_path / "u") as demo:
        for _ in range(3):
            sock = socket.create_connection(demo.server_address[:2], timeout=5)
            sock.sendall(b"GET /m/big.csv HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1024)  # the answer has started
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()  # a reset, not a clean close
        deadline = time.monotonic() + 5
        while demo.hits["/m/big.csv"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the handlers meet the reset on their next write
    assert demo.hits["/m/big.csv"] == 3
    assert "Traceback" not in capsys.readouterr().err
