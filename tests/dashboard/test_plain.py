"""Names from hospitals' files reach the dashboard's Markdown as literal text: a link, an
image, HTML or LaTeX in a hospital name shows as typed, never as what it would render."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.ui import plain
from tests.warehouse.charges import load_facility, rate
from warehouse.db import Warehouse
from warehouse.publish import publish

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "views"
HOSTILE = "West Mercy [click](http://evil.example/x) ![i](x) Hospital"
NASTY = [
    HOSTILE,
    "<img src=x onerror=alert(1)> & &amp; <b>bold</b>",
    "**bold** _it_ `code` ~~gone~~ $x^2$ :red[red] :smile:",
    "# Heading\n- item\n> quote | a | b |",
    "www.evil.example, mail@evil.example, https://evil.example",
    "back\\slash\\ [x]\\",
]


def rendered_text(markdown: str) -> tuple[str, str]:
    """(HTML, its text) as a GFM renderer with autolinks makes them."""
    markdown_it = pytest.importorskip("markdown_it")
    pytest.importorskip("linkify_it")
    page = markdown_it.MarkdownIt("gfm-like").render(markdown)
    # The word joiner `plain` puts into addresses is invisible: read without it.
    return page, html.unescape(re.sub(r"<[^>]+>", "", page)).replace(ui.WORD_JOINER, "").strip()


@pytest.mark.parametrize("text", NASTY)
def test_plain_renders_as_the_text_itself(text: str) -> None:
    page, shown = rendered_text(f"Lowest price at **{plain(text)}**.")
    assert "<a " not in page and "<img" not in page and "<h1" not in page
    assert "<code" not in page and "<s>" not in page and "<li" not in page
    assert shown == f"Lowest price at {' '.join(text.split())}."


@given(st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=60))
def test_plain_round_trips_any_ascii_text(text: str) -> None:
    _, shown = rendered_text(plain(text))
    assert shown == " ".join(text.split())


@pytest.fixture(scope="module")
def hostile_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    wh = Warehouse.at(tmp_path_factory.mktemp("hostile") / "hpt.duckdb")
    for facility, name, dollar in (("tx-h", HOSTILE, 100.0), ("tx-i", "Plain Hospital", 140.0)):
        load_facility(wh, facility, [
            rate("99213", "Aetna [x](http://evil.example)", "PPO", dollar, discounted_cash=dollar),
        ], name=name)  # fmt: skip
    publish(wh)
    return wh


def run(wh: Warehouse, monkeypatch: pytest.MonkeyPatch, page: str, **params: str) -> AppTest:
    monkeypatch.setenv("HPT_DB", str(wh.db_path))
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_find_price_escapes_names_in_the_message_and_table(
    hostile_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run(hostile_wh, monkeypatch, "find_price", code="CPT:99213", pay="cash")
    [success] = [e.value for e in at.success]
    assert plain(HOSTILE) in success
    # Each name links to its Facility page: the escaped name is the link's text.
    cells = list(at.table[0].value["Hospital"])
    links = [re.fullmatch(r"\[(.*)\]\(\./facility\?facility=([a-z0-9-]+)\)", c) for c in cells]
    assert all(links), cells
    assert [m.group(1) for m in links if m] == [plain(HOSTILE), plain("Plain Hospital")]
    _, shown = rendered_text(success)
    assert HOSTILE in shown


def test_find_price_escapes_a_payer_from_a_link(
    hostile_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer = "Aetna [x](http://evil.example)"
    at = run(hostile_wh, monkeypatch, "find_price", code="CPT:99213", payer=payer + " ![i](x)")
    for message in [e.value for e in (*at.warning, *at.success)]:
        page, _ = rendered_text(message)
        assert "<a " not in page and "<img" not in page, message


def test_facility_page_escapes_an_id_from_a_link(
    hostile_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run(hostile_wh, monkeypatch, "facility", id="[click](http://evil.example/x)")
    [warning] = [e.value for e in at.warning]
    page, shown = rendered_text(warning)
    assert "<a " not in page and "[click](http://evil.example/x)" in shown


def test_csv_downloads_neutralise_spreadsheet_formulas() -> None:
    frame = pl.DataFrame(
        {
            "hospital_name": ["=HYPERLINK(\"http://evil.example\")", "+1", "-2", "@SUM(A1)",
                              "\tx", "Mercy - West", None],
            "median_dollar": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, None],
        }
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(ui.csv_bytes(frame).decode())))
    assert [r[0] for r in rows[1:]] == [
        "'=HYPERLINK(\"http://evil.example\")", "'+1", "'-2", "'@SUM(A1)", "'\tx",
        "Mercy - West", "",
    ]  # fmt: skip
    assert [r[1] for r in rows[1:]][:1] == ["-1.5"], "numbers stay numbers"


def test_links_carry_the_selection_under_the_shared_names() -> None:
    assert ui.link("compare", code=["CPT:73721", "HCPCS:J1100"], state="") == (
        "./compare?code=CPT%3A73721&code=HCPCS%3AJ1100"
    )
    assert ui.link("facility", facility="ca-1 [x](y)") == "./facility?facility=ca-1+%5Bx%5D%28y%29"
    assert ui.link("facility") == "./facility"


# Every page over a warehouse whose hospital, service description, payer and plan are
# hostile: nothing a file says may render as a link, an image, HTML or LaTeX.
EVIL_NAME = (
    "West Mercy [x](http://evil.example) ![i](http://evil.example/i.png) <b>bold</b> $x$ Hospital"
)
EVIL_DESCRIPTION = "Knee scan [x](http://evil.example) ![i](http://evil.example/i.png) $5 $6"
MARKDOWN_KINDS = ("markdown", "caption", "info", "warning", "error", "success", "title",
                  "header", "subheader")  # fmt: skip
WIDGETS = ("selectbox", "multiselect", "text_input", "radio", "toggle", "checkbox", "button")


@pytest.fixture(scope="module")
def evil_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    wh = Warehouse.at(tmp_path_factory.mktemp("evil") / "hpt.duckdb")
    payer = "Evil [x](http://evil.example) Health"
    for facility, name, dollar in (("tx-e", EVIL_NAME, 100.0), ("tx-f", "Plain Hospital", 300.0)):
        load_facility(wh, facility, [
            rate("12345", payer, "PPO [x](http://evil.example)", dollar, discounted_cash=dollar,
                 description=EVIL_DESCRIPTION),
            rate("99213", payer, "HMO", dollar, discounted_cash=dollar),
        ], name=name)  # fmt: skip
    publish(wh)
    return wh


def markdown_shown(at: AppTest) -> list[str]:
    """Every text of the run that Streamlit renders as Markdown: messages, titles, captions,
    table cells, metric, tab, expander and widget labels."""
    out = [e.value for kind in MARKDOWN_KINDS for e in getattr(at, kind)]
    out += [str(v) for t in at.table for v in t.value.to_numpy().ravel().tolist()]
    out += [e.label for kind in (*WIDGETS, "metric", "expander") for e in getattr(at, kind)]
    out += [e.label for e in at.tabs]
    return out


def assert_inert(texts: list[str]) -> None:
    for text in texts:
        page, _ = rendered_text(text)
        targets = re.findall(r'(?:href|src)="([^"]*)"', page)
        assert not [t for t in targets if "evil" in t], text
        assert "<img" not in page and "<b>" not in page, text
        # Two unescaped `$` would render what lies between them as LaTeX.
        assert len(re.findall(r"(?<!\\)\$", text)) < 2, text


@pytest.mark.parametrize(
    ("page", "params"),
    [
        ("find_price", {"code": "CPT:12345", "pay": "cash"}),
        ("find_price", {"q": EVIL_DESCRIPTION, "code": "CPT:12345"}),
        ("find_price", {"q": "knee scan", "code": "CPT:99213", "payer": "Evil"}),
        ("find_price", {"q": EVIL_NAME}),
        ("map", {"code": "CPT:12345"}),
        ("map", {"q": EVIL_NAME, "code": "CPT:12345"}),
        ("compare", {"code": "CPT:12345"}),
        ("facility", {"facility": "tx-e"}),
        ("facility", {"facility": EVIL_NAME}),
        ("quality", {}),
        ("quality", {"view": "checks"}),
        ("quality", {"view": "rules"}),
        ("quality", {"view": "payers"}),
    ],
)
def test_every_page_shows_hostile_text_inert(
    evil_wh: Warehouse, monkeypatch: pytest.MonkeyPatch, page: str, params: dict[str, str]
) -> None:
    at = run(evil_wh, monkeypatch, page, **params)
    shown = markdown_shown(at)
    assert_inert(shown)
    if page == "find_price" and params.get("pay") == "cash":
        assert any(plain(EVIL_NAME) in t for t in shown), "the hospital is named, escaped"


def test_the_app_shell_shows_hostile_text_inert(
    evil_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_DB", str(evil_wh.db_path))
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert_inert([*markdown_shown(at), *(e.value for e in at.sidebar.caption)])


def test_addresses_never_become_links() -> None:
    # Streamlit's Markdown links any `http://…`, `www.…` or mail address in the text, escaped
    # or not: `plain` breaks them with an invisible word joiner.
    for text in ("http://evil.example/x", "see WWW.evil.example", "me@evil.example"):
        assert re.search(r"https?://|www\\?\.|\\?@\w", plain(text), re.IGNORECASE) is None
        assert plain(text).replace(ui.WORD_JOINER, "").replace("\\", "") == text


def test_the_check_itself_catches_a_raw_name() -> None:
    with pytest.raises(AssertionError):
        assert_inert([f"Lowest price at {EVIL_NAME}"])
    assert_inert([f"Lowest price at {plain(EVIL_NAME)}"])
