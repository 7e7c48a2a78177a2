"""The nightly run's Airflow-free parts: which failures are retried, run-time overrides."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer, RequestHandler
from werkzeug import Request, Response

from core import settings
from hpt.pipeline.tasks import FacilityFailed, acquired, overrides
from ingest.registry import SourceEntry

BODY = b"hospital_name,last_updated_on,version\nMercy,2026-01-01,3.0.0\n" * 100
CAPTCHA = "<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head></html>"


def _slow(request: Request) -> Response:
    time.sleep(0.6)  # past HPT_HTTP_TIMEOUT below
    return Response(BODY)


# How each failure is served (by a real local server), and whether it is worth a retry.
FAILURES: dict[str, tuple[Callable[[RequestHandler], None], bool]] = {
    "503": (lambda h: h.respond_with_data("busy", status=503), True),
    "timeout": (lambda h: h.respond_with_handler(_slow), True),
    "404": (lambda h: h.respond_with_data("no", status=404), False),
    "html page": (lambda h: h.respond_with_data(CAPTCHA, content_type="text/html"), False),
    "over the cap": (lambda h: h.respond_with_data(BODY), False),
}


# The file, and the site's cms-hpt.txt on the way to it (the size cap is the file's).
CASES = [(f, "file") for f in FAILURES] + [
    (f, "cms-hpt.txt") for f in ("503", "timeout", "404", "html page")
]


@pytest.mark.parametrize(("failure", "where"), CASES)
def test_only_transient_acquisition_failures_are_retried(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, failure: str, where: str
) -> None:
    serve, transient = FAILURES[failure]
    monkeypatch.setenv("HPT_HTTP_RETRIES", "0")
    monkeypatch.setenv("HPT_HTTP_TIMEOUT", "0.2")
    monkeypatch.setenv("HPT_DOWNLOAD_MAX_BYTES", str(len(BODY) - 1))
    if where == "file":
        serve(httpserver.expect_request("/prices.csv"))
        entry = SourceEntry("Mercy", "990001", mrf_url=httpserver.url_for("/prices.csv"))
    else:
        serve(httpserver.expect_request("/cms-hpt.txt"))
        entry = SourceEntry("Mercy", "990001", website=httpserver.url_for("/"))
    with pytest.raises(FacilityFailed) as failed:
        acquired(entry.as_dict())
    assert failed.value.transient is transient, str(failed.value)
    assert failed.value.stage == ("download" if where == "file" else "discover")
    if failure == "timeout":
        time.sleep(0.6)  # let the single-threaded server finish its slow answer


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
