"""Real local servers the tests share: an S3 server (moto), PostgreSQL and the served demo
universe."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from devtools.cluster import PG_BIN, free_port, pg_data, pg_owner
from devtools.demo_server import DemoServer, running
from devtools.synthetic.universe import generate


def s3_server(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Iterator[Any]:
    """A real S3 server on a free loopback port holding one empty `bucket`, the standard AWS
    variables pointing at it; yields its S3 client (for a fixture)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    # The server keeps its buckets in this process's memory: start from none.
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=30).raise_for_status()
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    try:
        yield client
    finally:
        server.stop()


def served_universe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: tuple[int, ...]
) -> Iterator[tuple[DemoServer, Path]]:
    """The demo universe's hospitals `seeds`, served on loopback, with quick HTTP retries and
    without the quality checks (they have their own tests); yields the server and folder."""
    monkeypatch.setenv("HPT_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    monkeypatch.setenv("HPT_VALIDATE", "0")
    folder = tmp_path / "demo"
    folder.mkdir()
    with running(folder) as server:
        generate(folder, server.base_url, only=seeds)
        yield server, folder


@contextlib.contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """A real PostgreSQL 15 server (Debian's) on a free loopback port with its data in
    `folder`, stopped after; yields the URL of a database `hpt` (created by its first
    client: `warehouse.catalog`)."""
    owner = pg_owner()
    data = pg_data(folder, owner)
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "hpt", "--auth=trust", "-E", "UTF8",
         "--no-instructions"],
        check=True, env=env, user=owner, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    log = (folder / "postgres.log").open("ab")
    server = subprocess.Popen(
        [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", "", "-c", "fsync=off"],
        env=env, user=owner, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        ready = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        deadline = time.monotonic() + 60
        while subprocess.run(ready, check=False).returncode != 0:
            assert server.poll() is None, f"PostgreSQL stopped: see {folder / 'postgres.log'}"
            assert time.monotonic() < deadline, "PostgreSQL not ready in 60 s"
            time.sleep(0.2)
        yield f"postgresql://hpt@127.0.0.1:{port}/hpt"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()
