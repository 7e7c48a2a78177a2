"""Real local servers the tests share: an S3 server (moto) and the served demo universe."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

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
