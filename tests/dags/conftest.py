"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a migrated SQLite metadata
database and the pools, and the demo universe served on localhost.

Airflow reads its configuration when first imported, so the environment is set here, at
collection time, before any test module imports it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hpt-airflow-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
}
assert "airflow" not in sys.modules, "airflow was imported before its test configuration"
os.environ.update(AIRFLOW_ENV)
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the AIRFLOW_HOME when the session ends: the root conftest ends the process
    with `os._exit` right after (see hpt.quiet_exit), so `atexit` handlers never run."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database with the DAG's pools; the AIRFLOW_HOME."""
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    from hpt.airflow_pools import ensure_pools

    ensure_pools()
    return AIRFLOW_HOME


@dataclass(frozen=True)
class Demo:
    folder: Path
    base_url: str

    @property
    def sources(self) -> Path:
        return self.folder / "sources.csv"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo universe (25 fictional hospitals, 7 of them broken) served on localhost."""
    from devtools.demo_server import running
    from devtools.synthetic.universe import generate

    folder = tmp_path_factory.mktemp("universe")
    port = free_port()
    generate(folder, f"http://127.0.0.1:{port}")
    with running(folder, port) as server:
        yield Demo(folder, server.base_url)
