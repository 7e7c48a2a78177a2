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
from hpt.pipeline.tasks import (
    FacilityFailed,
    acquired,
    acquired_batch,
    batch_label,
    batches,
    flattened,
    overrides,
)
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


def test_a_national_registry_maps_within_airflows_limit() -> None:
    keys = [f"{n:06d}" for n in range(6000)]
    mapped = batches(keys, 1000)
    assert len(mapped) == 1000 and {len(b) for b in mapped} == {6}
    assert [k for b in mapped for k in b] == keys  # every facility once, in order
    odd = batches([*keys, "x"], 1000)  # 6,001: batches of 7
    assert len(odd) == 858 and [k for b in odd for k in b] == [*keys, "x"]
    assert batches(keys[:25], 1000) == [[k] for k in keys[:25]]  # one facility per task
    assert batches([], 1000) == []
    assert batch_label(["050101"]) == "050101" and batch_label(["050101", "2", "3"]) == "050101 +2"


def test_flattened_takes_what_mapped_tasks_return() -> None:
    one, two = {"facility_id": "a"}, {"facility_id": "b"}
    assert flattened(None) == []
    assert flattened(one) == [one]
    assert flattened([[one], [two]]) == [one, two]
    assert flattened([one, two]) == [one, two]


def test_a_batch_keeps_what_worked_and_retries_only_while_it_may(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_HTTP_RETRIES", "0")
    httpserver.expect_request("/good.csv").respond_with_data(BODY)
    httpserver.expect_request("/busy.csv").respond_with_data("busy", status=503)
    httpserver.expect_request("/gone.csv").respond_with_data("no", status=404)
    good, busy, gone = (
        SourceEntry(name, key, mrf_url=httpserver.url_for(path)).as_dict()
        for name, key, path in [("Good", "990001", "/good.csv"), ("Busy", "990002", "/busy.csv"),
                                ("Gone", "990003", "/gone.csv")]
    )  # fmt: skip
    # A transient failure with tries left: the whole batch is tried again later.
    with pytest.raises(FacilityFailed) as retry:
        acquired_batch([good, busy, gone], give_up=False)
    assert retry.value.transient and "2 of 3 failed" in str(retry.value)
    # On the last try, or with only permanent failures, what worked goes on to be ingested.
    kept = acquired_batch([good, busy, gone], give_up=True)
    assert [a["facility_id"] for a in kept] == ["990001"]
    assert [a["facility_id"] for a in acquired_batch([gone, good], give_up=False)] == ["990001"]
    # A batch where nothing worked fails, like a task per facility.
    with pytest.raises(FacilityFailed) as alone:
        acquired_batch([gone], give_up=False)
    assert not alone.value.transient and alone.value.facility_id == "990003"
