"""Every case of the bad-input catalogue (see `tests.catalogue`), as data."""

from __future__ import annotations

import re

from tests.catalogue import Case, Kept
from tests.catalogue import inputs as i
from tests.catalogue.server import Reply, Request

GOOD, GOOD_ROWS = i.good()
JSON = "application/json"
HTML = "text/html; charset=utf-8"
SLOW = {"HPT_DOWNLOAD_MAX_SECONDS": "2"}


def _file(data: bytes, **headers: str) -> Reply:
    return Reply(data, headers=headers)


def _then_file(bad: Reply, times: int = 1) -> object:
    """`bad` for the first `times` requests, then the good file."""

    def route(request: Request) -> Reply:
        return bad if request.hit <= times else Reply(GOOD)

    return route


def _cut_then_resumed(request: Request) -> Reply:
    """Half the file (promising all of it), then the rest to a Range request."""
    headers = {"ETag": '"v1"', "Accept-Ranges": "bytes"}
    half = len(GOOD) // 2
    wanted = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
    if wanted and request.headers.get("If-Range") == '"v1"':
        start = int(wanted.group(1))
        return Reply(GOOD[start:], 206, {**headers, "Content-Range":
                     f"bytes {start}-{len(GOOD) - 1}/{len(GOOD)}"})  # fmt: skip
    return Reply(GOOD[:half], headers=headers, length=len(GOOD))


OLD, _ = i.baseline()


def _changing(request: Request) -> Reply:
    """Version 1 cut short; then, ignoring If-Range, the tail of version 2 as a 206; then
    version 2 whole: only the last gives a consistent file."""
    ranges = {"Accept-Ranges": "bytes"}
    if request.hit == 1:
        return Reply(OLD[: len(OLD) // 2], headers={**ranges, "ETag": '"v1"'}, length=len(OLD))
    wanted = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
    if wanted:
        start = int(wanted.group(1))
        return Reply(GOOD[start:], 206, {**ranges, "ETag": '"v2"', "Content-Range":
                     f"bytes {start}-{len(GOOD) - 1}/{len(GOOD)}"})  # fmt: skip
    return Reply(GOOD, headers={**ranges, "ETag": '"v2"'})


def _hop(request: Request) -> Reply:
    """/hop/N redirects to /hop/N+1, up to 10,000."""
    n = int(request.path.rsplit("/", 1)[1])
    if n >= 10_000:
        return Reply(GOOD)
    return Reply(status=302, headers={"Location": f"/hop/{n + 1}"})


def _redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location})


def _txt(text: str) -> Reply:
    return Reply(text.encode(), headers={"Content-Type": "text/plain"})


_MARKUP = "[bold red]St. [/] *Evil* `Hospital` [link=http://x]<b>x</b>[/link] [/]"
_LONG_PAYER = "P" * 1_000_000
_NAMED = "attachment; filename={}"

CASES: list[Case] = [
    # --- HTTP answers -------------------------------------------------------------------
    Case("http-404", "the file's URL answers 404", {}, "refused, not retried", r"HTTP 404"),
    Case("http-410", "the file's URL answers 410 Gone", {"/f.csv": Reply(b"gone", 410)},
         "refused, not retried", r"HTTP 410"),
    Case("http-500-always", "the server answers 500 every time",
         {"/f.csv": Reply(b"oops", 500)}, "retried with backoff, then refused", r"HTTP 500"),
    Case("http-503-then-file", "503 once, then the file",
         {"/f.csv": _then_file(Reply(b"busy", 503))}, "retried; the file loads", "loaded",
         Kept.NEW, GOOD_ROWS),
    Case("host-down", "nothing listens at the URL", {}, "connection refused, retried, refused",
         r"connection refused", path="http://127.0.0.1:9/f.csv"),
    Case("slow-headers", "the server waits before answering",
         {"/f.csv": Reply(GOOD, wait=3.0)}, "read timeout, retried, refused",
         r"timed out waiting for the server"),
    Case("stall-after-headers", "the server stalls after the headers",
         {"/f.csv": Reply(GOOD, stall=5.0)}, "read timeout, retried, refused",
         r"timed out waiting for the server"),
    Case("drip", "the body drips at 1 byte/s", {"/f.csv": Reply(GOOD[:40], drip=1.0)},
         "the download's wall clock (HPT_DOWNLOAD_MAX_SECONDS) stops it",
         r"download took longer than 2 s .*too slowly", env=SLOW),
    Case("length-too-large", "Content-Length larger than the body",
         {"/f.csv": Reply(GOOD, length=len(GOOD) + 1000)},
         "cut transfer, retried from the start (no ranges), refused", r"transfer cut short"),
    Case("cut-then-resumed", "the transfer is cut halfway, ranges allowed",
         {"/f.csv": _cut_then_resumed}, "resumed with Range + If-Range; the file loads",
         "loaded", Kept.NEW, GOOD_ROWS),
    Case("etag-changes", "the file changes during the download (ETag differs on resume)",
         {"/f.csv": _changing}, "the spliced bytes are thrown away, the new version is "
         "downloaded whole", "loaded", Kept.NEW, GOOD_ROWS, env={"HPT_HTTP_RETRIES": "2"}),
    # --- not the file -------------------------------------------------------------------
    Case("captcha-html", "a captcha page with status 200",
         {"/f.csv": _file(i.CAPTCHA, **{"Content-Type": HTML})},
         "refused from its first bytes", r"HTML page, not the file"),
    Case("captcha-json", "a captcha page served as application/json",
         {"/f.csv": _file(i.CAPTCHA, **{"Content-Type": JSON})},
         "refused from its first bytes, whatever the Content-Type", r"HTML page, not the file"),
    Case("html-gzip-encoded", "an HTML page with status 200, gzip Content-Encoding",
         {"/f.csv": _file(i.gzipped(i.CAPTCHA), **{"Content-Encoding": "gzip"})},
         "decoded, then refused", r"HTML page, not the file"),
    Case("html-in-gz-file", "an HTML page inside a .gz file",
         {"/f.csv.gz": _file(i.gzipped(i.CAPTCHA), **{"Content-Type": "application/gzip"})},
         "lands as served; unpacked, then refused", r"not a CMS machine-readable file "
         r"\(found: an HTML page\)", path="/f.csv.gz"),
    Case("empty", "an empty body", {"/f.csv": Reply(b"")}, "refused", r"empty file"),
    Case("two-rows", "a CSV of two rows", {"/f.csv": Reply(b"hospital_name,version\nX,3.0.0\n")},
         "refused", r"only 2 row\(s\)"),
    Case("not-cms-csv", "a CSV that is not a CMS file", {"/f.csv": Reply(b"a,b\n1,2\nx,y\n1,2\n")},
         "refused, named", r"not a CMS machine-readable file \(found: a CSV"),
    Case("legacy-chargemaster", "an old chargemaster CSV",
         {"/f.csv": Reply(b"Code,Description,Price\n1,MRI knee,1050\n2,X-ray,120\n3,CT,9\n")},
         "refused, named", r"not a CMS machine-readable file"),
    Case("xlsx", "an Excel workbook", {"/f.csv": Reply(i.xlsx())}, "refused, named",
         r"found: an XLSX workbook"),
    # --- caps and bombs -----------------------------------------------------------------
    Case("over-cap-declared", "a file over HPT_DOWNLOAD_MAX_BYTES (Content-Length)",
         {"/f.csv": Reply(GOOD)}, "refused before the body", r"over the cap of 10,000",
         env={"HPT_DOWNLOAD_MAX_BYTES": "10000"}),
    Case("over-cap-streamed", "a file over the cap, no Content-Length",
         {"/f.csv": Reply(GOOD, length=-1)}, "refused as the bytes pass the cap",
         r"larger than the cap of 10,000", env={"HPT_DOWNLOAD_MAX_BYTES": "10000"}),
    Case("gzip-bomb-encoded", "a gzip bomb as Content-Encoding",
         {"/f.csv": _file(i.zeros_gz(60_000_000), **{"Content-Encoding": "gzip"})},
         "refused while decoding", r"gzip bomb", env={"HPT_GZIP_MAX_RATIO": "100"}),
    Case("gzip-bomb-file", "a gzip bomb served as a .gz file",
         {"/f.gz": _file(i.zeros_gz(60_000_000), **{"Content-Type": "application/gzip"})},
         "refused while downloading (measured, not unpacked)", r"gzip bomb", path="/f.gz",
         env={"HPT_GZIP_MAX_RATIO": "100"}),
    Case("zip-bomb", "a zip bomb", {"/f.zip": Reply(i.zipped({"f.csv": b"\0" * 60_000_000}))},
         "refused while unpacking", r"refused as an archive bomb", path="/f.zip"),
    Case("nested-bomb", "gzip in gzip, each level under the ratio, both over it",
         {"/f.gz": Reply(i.gzipped(i.zeros_gz(20_000_000)))},
         "one ratio for every level, against the bytes downloaded", r"refused as an archive bomb",
         path="/f.gz", env={"HPT_GZIP_MAX_RATIO": "1100"}),
    Case("corrupt-gzip", "a corrupt gzip file",
         {"/f.gz": Reply(i.gzipped(GOOD)[:-200] + b"garbage")}, "refused",
         r"corrupt gzip archive", path="/f.gz"),
    Case("zip-two-files", "a zip with two data files",
         {"/f.zip": Reply(i.zipped({"a.csv": GOOD, "b.csv": GOOD}))}, "refused, files named",
         r"holds 2 data files", path="/f.zip"),
    Case("zip-slip", "a zip member named ../../../evil.csv",
         {"/f.zip": Reply(i.zipped({"../../../evil.csv": GOOD}))},
         "refused, the member named; member names never become paths", r"zip slip",
         path="/f.zip"),
    Case("zip-absolute", "a zip member named /etc/evil.csv",
         {"/f.zip": Reply(i.zipped({"/etc/evil.csv": GOOD}))},
         "refused, the member named", r"zip slip", path="/f.zip"),
    # --- CSV and JSON content -----------------------------------------------------------
    Case("csv-cut-mid-row", "a CSV cut off mid-row", {"/f.csv": Reply(GOOD[:-25])},
         "refused: nothing half-loaded", r"truncated"),
    Case("csv-open-quote", "a quote that never closes",
         {"/f.csv": Reply(GOOD + b'Office visit,99213,CPT,"never closed\n' + GOOD[-300:])},
         "refused, the row named", r"row \d+: a quoted cell opened in this row never closes"),
    Case("nul-bytes", "NUL bytes in cells",
         {"/f.csv": Reply(i.edited(lambda r: i.cell(r, 0, "description", "MRI\0knee\0"))[0])},
         "read; the NULs are kept as text", "loaded", Kept.NEW, GOOD_ROWS),
    Case("bad-utf8-header", "invalid UTF-8 in the header rows",
         {"/f.csv": Reply(GOOD.replace(b"\n", b"\xff\xfe \x92Saint\x92\n", 1))},
         "each bad byte read as Windows-1252", "loaded", Kept.NEW, GOOD_ROWS),
    Case("columns-50000", "a header of 50,000 columns",
         {"/f.csv": Reply(i.edited(lambda r: i.wide_header(r, 50_000))[0])},
         "unknown columns are findings; every row loads", "loaded", Kept.NEW, GOOD_ROWS),
    Case("line-2gb", "a 2 GB CSV of one line (streamed, never stored)",
         {"/f.csv": Reply(i.endless_line(2 << 30), length=2 << 30)},
         "refused after 16 MiB without a line break", r"no line break in the first 16,777,216"),
    Case("payer-1mb", "a payer name of 1 MB",
         {"/f.csv": Reply(i.edited(lambda r: i.cell(r, 0, "payer_name", _LONG_PAYER))[0])},
         "kept whole", "loaded", Kept.NEW, GOOD_ROWS),
    Case("markup-name", "a hospital name with Rich and Markdown markup",
         {"/f.csv": Reply(i.edited(lambda r: i.hospital(r, _MARKUP))[0])},
         "loaded; the name is shown literally", _MARKUP, Kept.NEW, GOOD_ROWS),
    Case("json-truncated", "a JSON file cut mid-item",
         {"/f.json": Reply(i.good_json()[:-300])}, "refused: nothing half-loaded",
         r"JSON is truncated", path="/f.json"),
    Case("json-two-documents", "two JSON documents concatenated",
         {"/f.json": Reply(i.good_json() + i.good_json())}, "refused", r".",
         path="/f.json"),
    Case("json-root-array", "a JSON array at the root", {"/f.json": Reply(b"[1, 2, 3]")},
         "refused", r"root", path="/f.json"),
    Case("json-no-items", "a JSON object without standard_charge_information",
         {"/f.json": Reply(b'{"hospital_name": "x", "version": "2.2.0"}')},
         "refused", r"standard_charge_information", path="/f.json"),
    Case("json-item-shape", "a JSON item that is not an object",
         {"/f.json": Reply(i.json_doc([1, 2]))}, "refused, the item named", r"item",
         path="/f.json"),
    Case("json-deep", "a JSON file nested 100,000 deep",
         {"/f.json": Reply(i.deep_json(100_000))}, "refused, no recursion error", r".",
         path="/f.json"),
    # --- redirects ----------------------------------------------------------------------
    Case("redirect-loop", "a redirect loop",
         {"/f.csv": _redirect("/g.csv"), "/g.csv": _redirect("/f.csv")},
         "stopped at HPT_HTTP_MAX_REDIRECTS", r"more than 10 redirects"),
    Case("redirects-10000", "10,000 redirects", {"/hop/*": _hop}, "stopped at "
         "HPT_HTTP_MAX_REDIRECTS", r"more than 10 redirects", path="/hop/1"),
    Case("redirect-file", "a redirect to file:///etc/passwd",
         {"/f.csv": _redirect("file:///etc/passwd")}, "refused: http(s) only",
         r"redirect to 'file:///etc/passwd' refused"),
    Case("redirect-metadata", "a redirect to 169.254.169.254 (cloud metadata)",
         {"/f.csv": _redirect("http://169.254.169.254/latest/meta-data/")},
         "refused: another host, not public", r"to 169\.254\.169\.254 .*non-public"),
    Case("redirect-private", "a redirect to another host on loopback",
         {"/f.csv": _redirect("http://localhost:{port}/g.csv"), "/g.csv": Reply(GOOD)},
         "refused by default", r"to localhost .*non-public"),
    Case("redirect-private-allowed", "the same, its network allowed",
         {"/f.csv": _redirect("http://localhost:{port}/g.csv"), "/g.csv": Reply(GOOD)},
         "followed (HPT_HTTP_ALLOWED_NETWORKS)", "loaded", Kept.NEW, GOOD_ROWS,
         env={"HPT_HTTP_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}),
    # --- names ------------------------------------------------------------------------
    Case("named-state-tmp", "a file served as state.json.tmp",
         {"/f.csv": _file(GOOD, **{"Content-Disposition": _NAMED.format("state.json.tmp")})},
         "lands under its name; the state file's name is reserved", "loaded", Kept.NEW,
         GOOD_ROWS),
    Case("named-state", "a file served as state.json",
         {"/f.csv": _file(GOOD, **{"Content-Disposition": _NAMED.format("state.json")})},
         "lands renamed file-state.json", "loaded", Kept.NEW, GOOD_ROWS),
    Case("named-traversal", "a file served as ../../x.csv",
         {"/f.csv": _file(GOOD, **{"Content-Disposition": _NAMED.format("../../x.csv")})},
         "lands as x.csv in its landing folder", "loaded", Kept.NEW, GOOD_ROWS),
    Case("facility-traversal", "a facility id of ../../x", {"/f.csv": Reply(GOOD)},
         "refused before anything is fetched or written", r"'\.\./\.\./x' is not a valid "
         r"facility id", facility_id="../../x", recorded=False, exit_code=2),
    # --- discovery (hpt run) --------------------------------------------------------------
    Case("no-cms-hpt", "no cms-hpt.txt on the site (404)", {}, "a discovery failure",
         r"cms-hpt\.txt answered HTTP 404", command="run", site=True),
    Case("cms-hpt-prose", "a cms-hpt.txt of prose",
         {"/cms-hpt.txt": _txt("Our prices are on our website. Call us!\n")},
         "a discovery failure, the lines findings", r"names no machine-readable file",
         command="run", site=True),
    Case("cms-hpt-html", "a cms-hpt.txt that is an HTML page",
         {"/cms-hpt.txt": _file(i.CAPTCHA, **{"Content-Type": HTML})},
         "a discovery failure", r"cms-hpt\.txt is an HTML page", command="run", site=True),
    Case("cms-hpt-50mb", "a cms-hpt.txt of 50 MB",
         {"/cms-hpt.txt": Reply(i.big_text(50 << 20, b"mrf-url: http://x/f.csv\n"),
                                length=50 << 20)},
         "1 MB read, then refused", r"cms-hpt\.txt is over 1,048,576 bytes", command="run",
         site=True),
    Case("cms-hpt-drip", "a cms-hpt.txt dripping 2 bytes/s",
         {"/cms-hpt.txt": Reply(b"location-name: x\nmrf-url: /f.csv\n", drip=0.5)},
         "stopped after 4 read timeouts", r"took longer than 4 s", command="run", site=True),
    Case("cms-hpt-file-url", "a cms-hpt.txt naming a file:// URL",
         {"/cms-hpt.txt": _txt("location-name: Catalogue Hospital\nmrf-url: file:///etc/passwd\n")},
         "refused, a finding", r"refused URL scheme", command="run", site=True),
    Case("registry-ftp", "a registry entry with an ftp:// file URL", {},
         "refused before any request", r"refused URL scheme", command="run",
         path="ftp://127.0.0.1/f.csv"),
    Case("run-captcha", "hpt run meets a captcha page", {"/f.csv": _file(i.CAPTCHA)},
         "a download failure, the previous data kept", r"HTML page", command="run"),
    Case("registry-broken", "a registry entry with neither website nor mrf_url", {},
         "the run stops before any request", r"give a `website` or an `mrf_url`",
         command="run", registry="name,state\nMercy,CA\n", exit_code=2, recorded=False),
]  # fmt: skip
