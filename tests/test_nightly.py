"""The nightly run's Airflow-free parts: which failures are retried, run-time overrides."""

from __future__ import annotations

import json
import os

import pytest

from core import settings
from hpt.nightly import TRANSIENT, overrides


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("timed out waiting for the server", True),
        ("connection refused", True),
        ("gave up after 4 attempts: transfer cut short by the server", True),
        ("http://x/cms-hpt.txt: cms-hpt.txt answered HTTP 503", True),
        ("HTTP 429 Too Many Requests", True),
        ("HTTP 404 Not Found", False),
        ("server sent an HTML page, not the file (bot wall or error?)", False),
        ("refused URL scheme 'file': only http and https", False),
        ("cms-hpt.txt names no machine-readable file", False),
        ("file is 30,000,000,000 bytes, over the cap of 20,000,000,000", False),
    ],
)
def test_only_transient_acquisition_errors_are_retried(message: str, transient: bool) -> None:
    assert bool(TRANSIENT.search(message)) is transient


def test_overrides_apply_inside_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_HTTP_RETRIES", "3")
    monkeypatch.delenv("HPT_HTTP_TIMEOUT", raising=False)
    raw = json.dumps({"HPT_HTTP_RETRIES": 0, "HPT_HTTP_TIMEOUT": "5"})
    with overrides(raw) as applied:
        assert applied == {"HPT_HTTP_RETRIES": "0", "HPT_HTTP_TIMEOUT": "5"}
        assert settings.current().http_retries == 0
        assert settings.current().http_timeout == 5.0
    assert settings.current().http_retries == 3
    assert "HPT_HTTP_TIMEOUT" not in os.environ
    with overrides(None) as applied:
        assert applied == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [('{"HPT_NO_SUCH": "1"}', "unknown setting"), ('["HPT_DB"]', "JSON object")],
)
def test_bad_overrides_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message), overrides(raw):
        pass
