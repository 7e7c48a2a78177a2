"""cms-hpt.txt discovery: the spec's format and what real sites publish instead."""

from __future__ import annotations

import requests
from pytest_httpserver import HTTPServer

from ingest.discover import cms_hpt_url, fetch_cms_hpt, parse_cms_hpt, pick_mrf_url

BASE = "https://www.example-hospital.org/cms-hpt.txt"
SPEC = """location-name: West Mercy Hospital
source-page-url: https://www.example-hospital.org/price-transparency
mrf-url: https://www.example-hospital.org/files/123456789_west-mercy_standardcharges.json
contact-name: Jane Doe
contact-email: jane.doe@example-hospital.org
"""
TWO_SHARING = SPEC + "\n" + SPEC.replace("West Mercy Hospital", "East Mercy Clinic")


def rules(found: object) -> set[str]:
    return {f.rule for f in found.findings}  # type: ignore[attr-defined]


def test_spec_example_gives_one_entry_with_every_field() -> None:
    found = parse_cms_hpt(SPEC.encode(), BASE)
    assert len(found.entries) == 1
    entry = found.entries[0]
    assert entry.location_name == "West Mercy Hospital"
    assert entry.mrf_url.endswith("123456789_west-mercy_standardcharges.json")
    assert entry.contact_email == "jane.doe@example-hospital.org"
    assert found.findings == []


def test_locations_sharing_one_file_give_one_url_and_an_info_finding() -> None:
    found = parse_cms_hpt(TWO_SHARING.encode(), BASE)
    assert [e.location_name for e in found.entries] == ["West Mercy Hospital", "East Mercy Clinic"]
    assert len(found.mrf_urls) == 1
    assert rules(found) == {"hpt.shared_mrf_url"}


def test_extra_blank_lines_inside_blocks_do_not_split_them() -> None:
    text = TWO_SHARING.replace("\nmrf-url", "\n\n\nmrf-url").replace("\ncontact", "\n\ncontact")
    found = parse_cms_hpt(text.encode(), BASE)
    assert len(found.entries) == 2
    assert all(e.mrf_url and e.contact_name == "Jane Doe" for e in found.entries)


def test_utf16_with_and_without_bom_is_read_and_noted() -> None:
    for data in (SPEC.encode("utf-16"), SPEC.replace("\n", "\r\n").encode("utf-16-le")):
        found = parse_cms_hpt(data, BASE)
        assert found.entries[0].location_name == "West Mercy Hospital"
        assert "hpt.encoding" in rules(found)


def test_prose_instead_of_entries_is_an_error_finding() -> None:
    text = (
        "Price Transparency\n\nOur standard charges file is available on our website.\n"
        "Please call the billing office: (555) 010-0000.\n"
    )
    found = parse_cms_hpt(text.encode(), BASE)
    assert found.entries == [] and found.mrf_urls == []
    assert {"hpt.not_key_value", "hpt.no_entries"} <= rules(found)
    no_entries = next(f for f in found.findings if f.rule == "hpt.no_entries")
    assert no_entries.severity == "error"


def test_url_without_scheme_takes_the_sites_scheme() -> None:
    text = SPEC.replace("https://www.example-hospital.org/files", "www.example-hospital.org/files")
    found = parse_cms_hpt(text.encode(), "http://www.example-hospital.org/cms-hpt.txt")
    assert found.mrf_urls == [
        "http://www.example-hospital.org/files/123456789_west-mercy_standardcharges.json"
    ]
    finding = next(f for f in found.findings if f.rule == "hpt.url_no_scheme")
    assert finding.line_no == 3


def test_host_and_port_without_scheme_is_not_mistaken_for_a_scheme() -> None:
    found = parse_cms_hpt(b"location-name: A\nmrf-url: localhost:8080/f.csv\n", BASE)
    assert found.mrf_urls == ["https://localhost:8080/f.csv"]


def test_file_and_other_schemes_are_refused() -> None:
    for url in ("file:///C:/Finance/prices.csv", "ftp://files.example.org/prices.csv"):
        found = parse_cms_hpt(f"location-name: A\nmrf-url: {url}\n".encode(), BASE)
        assert found.mrf_urls == []
        assert {"hpt.url_scheme", "hpt.missing_mrf_url", "hpt.no_entries"} <= rules(found)


def test_key_spellings_and_comments_are_tolerated() -> None:
    text = "# our file\nLocation Name: A\nMRF_URL : https://x.org/a.csv\nwebsite: https://x.org\n"
    found = parse_cms_hpt(text.encode(), BASE)
    assert found.mrf_urls == ["https://x.org/a.csv"]
    assert rules(found) == {"hpt.not_key_value"}  # `website:` is not a spec key


def test_pick_matches_location_names_exactly_then_closely() -> None:
    text = (
        "location-name: St. Luke's Hospital\nmrf-url: https://x.org/luke.csv\n\n"
        "location-name: Mercy Medical Center\nmrf-url: https://x.org/mercy.csv\n"
    )
    found = parse_cms_hpt(text.encode(), BASE)
    assert pick_mrf_url(found, "Mercy Medical Center")[0] == "https://x.org/mercy.csv"
    assert pick_mrf_url(found, "Saint Luke's Hospital")[0] == "https://x.org/luke.csv"
    assert pick_mrf_url(found, "x", location="mercy medical center")[0].endswith("mercy.csv")
    url, why = pick_mrf_url(found, "Riverside General Hospital")
    assert url == "" and "no location-name matches" in why


def test_one_file_needs_no_name_match() -> None:
    found = parse_cms_hpt(TWO_SHARING.encode(), BASE)
    assert pick_mrf_url(found, "Something Else Entirely")[0] == found.mrf_urls[0]


def test_cms_hpt_url_is_at_the_given_root() -> None:
    assert cms_hpt_url("example.org") == "https://example.org/cms-hpt.txt"
    assert cms_hpt_url("https://example.org/") == "https://example.org/cms-hpt.txt"
    assert cms_hpt_url("http://127.0.0.1:8765/mercy/") == "http://127.0.0.1:8765/mercy/cms-hpt.txt"


def test_fetch_reads_a_utf16_file_from_a_real_server(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cms-hpt.txt").respond_with_data(
        SPEC.encode("utf-16"), content_type="text/plain"
    )
    with requests.Session() as session:
        found, status = fetch_cms_hpt(httpserver.url_for("/cms-hpt.txt"), session, 5)
    assert status == 200
    assert found.entries[0].location_name == "West Mercy Hospital"


def test_fetch_turns_404_and_html_into_error_findings(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a/cms-hpt.txt").respond_with_data("gone", status=404)
    httpserver.expect_request("/b/cms-hpt.txt").respond_with_data(
        "<!DOCTYPE html><html><body>Access denied</body></html>", content_type="text/html"
    )
    with requests.Session() as session:
        missing, status = fetch_cms_hpt(httpserver.url_for("/a/cms-hpt.txt"), session, 5)
        html, _ = fetch_cms_hpt(httpserver.url_for("/b/cms-hpt.txt"), session, 5)
        refused, _ = fetch_cms_hpt("file:///etc/passwd", session, 5)
    assert status == 404 and rules(missing) == {"hpt.unreachable"}
    assert rules(html) == {"hpt.html"}
    assert rules(refused) == {"hpt.url_scheme"}
