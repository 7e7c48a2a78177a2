"""Pieces every page shares: the URL-backed selections, the code picker, money columns and
the guard that turns a missing warehouse or table into a message instead of a traceback."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import duckdb
import polars as pl
import streamlit as st

from dashboard import reads
from dashboard.snapshot import NoSnapshot, Snapshot
from warehouse.queries import search_codes

PRICE_HELP = {
    "cash": "Discounted cash price: what the hospital says it charges a patient paying "
    "up front without insurance.",
    "negotiated": "Your plan's negotiated price: the rate the hospital agreed with your "
    "insurer for this service (the median when it has several). Your share depends on "
    "your deductible and coinsurance.",
    "gross": "Gross charge: the list price before any discount. Few people pay it.",
    "typical": "Typical insured price: the median of every insurer's negotiated rate at "
    "the hospital.",
}


ESTIMATE_HELP = (
    "**Estimated** rates are not a dollar amount in the hospital's file: they are worked "
    "out from a percentage of the gross charge, or are the median amount the hospital was "
    "actually paid. **Excluded** rates are left out of every price shown: placeholders "
    "(such as 999999), amounts of a cent or less, rates far outside what every other "
    "hospital charges (outliers), and rates given only as a formula."
)
PLAN_LABELS = {
    "commercial_ppo": "Commercial PPO",
    "commercial_hmo": "Commercial HMO",
    "commercial_epo": "Commercial EPO",
    "commercial_pos": "Commercial POS",
    "commercial_hdhp": "Commercial high-deductible (HDHP)",
    "commercial_other": "Commercial (other)",
    "medicare_advantage": "Medicare Advantage",
    "medicare_advantage_hmo": "Medicare Advantage HMO",
    "medicare_advantage_ppo": "Medicare Advantage PPO",
    "medicare_advantage_snp": "Medicare Advantage special needs (SNP)",
    "medicare": "Medicare",
    "medicaid_managed_care": "Medicaid managed care",
    "medicaid": "Medicaid",
    "chip": "CHIP (children's coverage)",
    "exchange": "Marketplace (exchange)",
    "tricare": "TRICARE",
    "va": "Veterans Affairs",
    "workers_comp": "Workers' compensation",
    "auto": "Auto insurance",
    "other": "Other",
    "unknown": "Not stated",
}


# Characters with a meaning in Streamlit's Markdown (CommonMark + GFM, HTML, LaTeX `$`,
# `:colour[…]` directives; `:` and `.` also end `http://` and `www.` autolinks). Commas,
# quotes, slashes and parentheses mean nothing without the brackets, so they stay as typed.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<>#|~$&:.!+=^@-])")


#: Streamlit's Markdown turns `http://…`, `www.…` and `name@host.…` in any text into links,
#: escaped or not (GFM autolink literals are found in the text after parsing). An invisible
#: word joiner (U+2060) after `:`, `www` and `@` keeps them text: they read the same.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=www))(?=\.)|(?<=@)")


def plain(text: object) -> str:
    """Text from a hospital's file, a server or the URL, for a Streamlit call that renders
    Markdown (`st.markdown`, `st.write`, `st.caption`, `st.info`/`warning`/`error`/
    `success`, `st.table` cells): every Markdown or HTML special is backslash-escaped and
    line breaks become spaces, so `[x](http://…)` shows as typed, never as a link (a word
    joiner, invisible, breaks web and mail addresses: `WORD_JOINER`). Not for
    `st.dataframe` cells, `selectbox` options or chart labels: those are not Markdown."""
    text = _AUTOLINK.sub(WORD_JOINER, " ".join(str(text).split()))
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def plan_label(plan_type: str | None) -> str:
    return PLAN_LABELS.get(plan_type or "", plan_type or "")


def plan_labels(plan_types: str | None) -> str:
    """`commercial_ppo, medicare` → `Commercial PPO, Medicare`."""
    return ", ".join(plan_label(t) for t in (plan_types or "").split(", ") if t)


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def mapped(
    column: pl.Series,
    function: Callable[[Any], Any],
    dtype: Any = pl.String,
    *,
    skip_nulls: bool = True,
) -> pl.Series:
    """`function` applied to each value of `column`, in Python — never as a Polars UDF
    (`map_elements`): Polars runs those on its thread pool, where each needs the GIL, while
    another session's thread may hold the GIL waiting for that pool (`DataFrame.to_pandas`
    does): the whole server then deadlocks (seen with 50 concurrent users)."""
    values = [None if v is None and skip_nulls else function(v) for v in column.to_list()]
    return pl.Series(column.name, values, dtype=dtype)


def money_column(label: str, help_key: str | None = None) -> Any:
    return st.column_config.NumberColumn(
        label, format="dollar", help=PRICE_HELP.get(help_key or "")
    )


#: Every page names a selection the same way in its URL: `q` (the words searched), `code`
#: (`CPT:73721`; repeated on Compare), `state`, `payer`, `plan`, `facility`. Names used by
#: older links, still understood: old → current.
URL_ALIASES = {"codes": "code", "payers": "payer", "plans": "plan", "facilities": "facility",
               "id": "facility"}  # fmt: skip
#: A link repeating a parameter, or with a very long value, is cut to these sizes.
URL_MAX_VALUES = 20
URL_MAX_LENGTH = 200


def url_values(name: str) -> list[str]:
    """The URL's values for `name` (and its older aliases), capped: at most
    `URL_MAX_VALUES` values of at most `URL_MAX_LENGTH` characters each."""
    names = [name, *(old for old, new in URL_ALIASES.items() if new == name)]
    values = [v for n in names for v in st.query_params.get_all(n)]
    return [v[:URL_MAX_LENGTH] for v in values[:URL_MAX_VALUES]]


def init_from_url(page: str, defaults: dict[str, Any]) -> None:
    """Seed this page's widget state from the URL once per session (a shared link)."""
    marker = f"{page}._seeded"
    if st.session_state.get(marker):
        return
    for name, default in defaults.items():
        key = f"{page}.{name}"
        given = url_values(name)
        raw = given[0] if given else None
        if isinstance(default, list):
            value: Any = list(dict.fromkeys(given)) or default
        elif isinstance(default, bool):
            value = default if raw is None else raw in ("1", "true", "yes")
        elif isinstance(default, int):
            value = int(raw) if raw and raw.isdigit() else default
        else:
            value = default if raw is None else raw
        st.session_state[key] = value
    st.session_state[marker] = True


def value(page: str, name: str) -> Any:
    return st.session_state.get(f"{page}.{name}")


def write_url(page: str, names: list[str], defaults: dict[str, Any]) -> None:
    """Mirror the page's selections in the query string, leaving defaults out."""
    wanted: dict[str, list[str]] = {}
    for name in names:
        current = value(page, name)
        if current in (None, "", []) or current == defaults.get(name):
            continue
        if isinstance(current, bool):
            current = "1" if current else "0"
        wanted[name] = [str(v) for v in current] if isinstance(current, list) else [str(current)]
    shown = {k: st.query_params.get_all(k) for k in st.query_params}
    if shown != wanted:  # rewriting an unchanged URL would add a browser history entry
        st.query_params.from_dict(wanted)


def link(page: str, **params: str | list[str] | None) -> str:
    """A relative link to another page carrying the selection under the shared parameter
    names: `link("compare", code="CPT:73721")` → `compare?code=CPT%3A73721`. Empty values
    are left out; `page` is the page's `url_path` ("" for Find a price)."""
    pairs = [
        (name, item)
        for name, given in params.items()
        for item in (given if isinstance(given, list) else [given])
        if item not in (None, "")
    ]
    query = urlencode(pairs)
    return f"./{page}?{query}" if query else f"./{page}"


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` for a CSV download: a text cell starting with `=`, `+`, `-`, `@`, a tab or a
    carriage return gets a leading `'`, so a spreadsheet shows it as text instead of
    running it as a formula. Numbers are left as they are."""
    texts = [n for n, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.any_horizontal(pl.col(n).str.starts_with(c) for c in _FORMULA_START))
        .then(pl.lit("'") + pl.col(n))
        .otherwise(pl.col(n))
        .alias(n)
        for n in texts
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The bytes of a CSV download, formulas neutralised (`csv_safe`)."""
    return csv_safe(frame).write_csv().encode()


def code_key(code_type: str, code: str) -> str:
    return f"{code_type}:{code}"


def split_key(key: str) -> tuple[str | None, str]:
    code_type, _, code = key.rpartition(":")
    return (code_type or None), code


def canonical_key(snap: Snapshot, key: str) -> str:
    """The catalog's key for a code from a link or typed by hand: `HCPCS:73721` is
    `CPT:73721` (one service, one key), a bare `99213` the type that prices it; the key as
    given when no hospital prices the code."""
    if not key:
        return key
    code_type, code = split_key(key.strip().upper())
    entry = snap.lookup(reads.code_entry, code_type, code)
    return code_key(entry["code_type"][0], entry["code"][0]) if entry.height else key


def canonical_keys(snap: Snapshot, page: str, name: str) -> None:
    """Rewrite the page's chosen code (or codes) as catalog keys, before its widget runs,
    so a link's `code=HCPCS:73721` selects the service the search lists as `CPT:73721`."""
    chosen = value(page, name)
    if isinstance(chosen, list):
        keys = list(dict.fromkeys(canonical_key(snap, c) for c in chosen if c))
        if keys != chosen:
            st.session_state[f"{page}.{name}"] = keys
    elif chosen and (key := canonical_key(snap, chosen)) != chosen:
        st.session_state[f"{page}.{name}"] = key


def code_label(snap: Snapshot, key: str) -> str:
    """`MRI of knee joint, without contrast — CPT 73721` for `CPT:73721`."""
    code_type, code = split_key(key)
    entry = snap.lookup(reads.code_entry, code_type, code)
    return _label(entry.row(0, named=True)) if entry.height else f"{key} (no prices)"


def code_labels(snap: Snapshot, keys: list[str]) -> dict[str, str]:
    return {key: code_label(snap, key) for key in keys}


def code_options(snap: Snapshot, text: str, keep: list[str]) -> dict[str, str]:
    """Codes matching the words typed (plus those already chosen): key → label."""
    found = (
        snap.lookup(search_codes, text, limit=30)
        if text.strip()
        else snap.lookup(reads.popular_codes)
    )
    options = code_labels(snap, keep)
    for row in found.iter_rows(named=True):
        options.setdefault(code_key(row["code_type"], row["code"]), _label(row))
    return options


def _label(row: dict[str, Any]) -> str:
    return f"{row['display_name']} — {row['code_type']} {row['code']}"


#: A Vega-Lite chart: the spec without its data (`chart` sends the frame alongside).
Spec = dict[str, Any]


def nominal(name: str, **props: Any) -> dict[str, Any]:
    return {"field": name, "type": "nominal", **props}


def quantitative(name: str, **props: Any) -> dict[str, Any]:
    return {"field": name, "type": "quantitative", **props}


def chart(data: pl.DataFrame, spec: Spec, height: int) -> None:
    """A Vega-Lite chart of a Polars frame, written as the spec Altair would produce: the
    frame goes to the browser as Arrow directly (no pandas copy) and no chart object is
    built and validated on every run. The height goes to Streamlit (a height set on the
    chart itself is not honoured everywhere)."""
    st.vega_lite_chart(data, spec, width="stretch", height=height)


def show_chart_and_table(
    data: pl.DataFrame, spec: Spec, table: pl.DataFrame, config: dict[str, Any], height: int
) -> None:
    """A chart with its table in a second tab: the table is the text equivalent."""
    chart_tab, table_tab = st.tabs(["Chart", "Table"])
    with chart_tab:
        chart(data, spec, height)
    with table_tab:
        st.dataframe(table, column_config=config, hide_index=True, width="stretch")


@contextmanager
def guarded() -> Iterator[None]:
    """Known failures become one clear line on the page, never a traceback."""
    try:
        yield
    except NoSnapshot as error:
        st.info(plain(error))
    except duckdb.CatalogException as error:
        first = str(error).splitlines()[0]
        st.warning(
            "This part of the warehouse is not available yet (it is built by the next "
            f"load and publish). Details: {plain(first)}"
        )
    except duckdb.Error as error:
        st.error(f"The warehouse could not be read: {plain(str(error).splitlines()[0])}")


def page(body: Callable[[], None]) -> Callable[[], None]:
    """Run a page body inside `guarded()`."""

    @functools.wraps(body)
    def run() -> None:
        with guarded():
            body()

    return run
