"""Every setting in one registry: name, default and help. Read from the environment.

The CLI flags, the Airflow DAG and the dashboard all read settings through `get()`, so an
operator configures a deployment in one place. Each setting is documented in the README
(a test checks that).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


_REGISTRY: dict[str, Setting] = {}


def register(name: str, default: str, help: str) -> Setting:
    """Add a setting to the registry (modules register theirs at import)."""
    setting = Setting(name, default, help)
    _REGISTRY[name] = setting
    return setting


def get(name: str) -> str:
    """The setting's value: the environment variable if set, else the default."""
    return os.environ.get(name, _REGISTRY[name].default)


def get_int(name: str) -> int:
    return int(get(name))


def get_float(name: str) -> float:
    return float(get(name))


def all_settings() -> list[Setting]:
    return list(_REGISTRY.values())


register(
    "HPT_DB", "data/hpt.duckdb", "Warehouse catalog file; charges and snapshots sit beside it."
)
register(
    "HPT_WORK_DIR",
    "data/work",
    "Scratch space for transcoded or unpacked copies of files, and JSON item-array pieces.",
)
register("HPT_FINDINGS_CAP", "1000", "Findings stored per rule per file (counts stay exact).")
register("HPT_LANDING", "data/landing", "Where downloaded files land before ingestion.")
register("HPT_SOURCES", "sources.csv", "Source registry: the facilities `hpt run` tracks (CSV).")
register(
    "HPT_HTTP_TIMEOUT", "30", "Seconds to wait to connect or for the next bytes of a response."
)
register("HPT_DOWNLOAD_MAX_SECONDS", "7200", "Wall-clock limit for one file download, in seconds.")
register("HPT_DOWNLOAD_MAX_BYTES", "20000000000", "Largest file downloaded (decoded bytes).")
register("HPT_GZIP_MAX_RATIO", "200", "Largest gzip/zip expansion ratio (refuses archive bombs).")
register("HPT_HTTP_RETRIES", "3", "Retries after a 5xx/429 answer, a timeout or a cut transfer.")
register("HPT_HTTP_BACKOFF", "1.0", "Backoff factor in seconds between retries (doubles each).")
register("HPT_HTTP_MAX_REDIRECTS", "10", "Redirects followed before a URL is declared a loop.")
register(
    "HPT_USER_AGENT",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 hpt-price-transparency/0.1",
    "User-Agent sent with every request (browser-like: some sites block others).",
)
register("HPT_DEMO_PORT", "8765", "Port of the demo universe server (`hpt demo serve`).")
register(
    "HPT_QUALITY_GATE", "on", "Data-quality gate before loading a file (`off` loads unchecked)."
)
register(
    "HPT_QUALITY_TRUNCATION",
    "0.5",
    "A file with at most this fraction of its predecessor's rows is held as truncated.",
)
register(
    "HPT_QUALITY_PRICE_CEILING", "10000000", "Dollar amount above which a price is implausible."
)
register(
    "HPT_QUALITY_MAX_AGE_DAYS", "365", "Days after which a current file's last_updated_on is stale."
)
register(
    "HPT_QUALITY_DOCS", "", "Data Docs folder; default `<db stem>-quality` beside the catalog."
)
register(
    "HPT_VALIDATE",
    "1",
    "Check every ingested file against the CMS rules in the same pass (0 turns it off).",
)
register(
    "HPT_AIRFLOW_SCHEDULE",
    "0 3 * * *",
    "Cron schedule of the nightly Airflow DAG (UTC); empty: only triggered runs.",
)
register(
    "HPT_AIRFLOW_RETRIES",
    "3",
    "Airflow retries of a facility's acquisition after a transient error.",
)
register(
    "HPT_AIRFLOW_RETRY_DELAY",
    "300",
    "Seconds before the first Airflow retry of an acquisition (doubles each time, max 1 h).",
)
register("HPT_AIRFLOW_DOWNLOAD_SLOTS", "4", "Size of the Airflow pool `hpt_downloads`.")
register(
    "HPT_AIRFLOW_WAREHOUSE_SLOTS",
    "1",
    "Size of the Airflow pool `hpt_warehouse` (ingest tasks; DuckDB has one writer).",
)
register("HPT_DASHBOARD_PORT", "8501", "Port `hpt dashboard` serves the dashboard on.")
register(
    "HPT_DASHBOARD_ADDRESS",
    "localhost",
    "Address `hpt dashboard` listens on (0.0.0.0 to serve other machines).",
)
register(
    "HPT_MART_MEMORY_LIMIT",
    "1GB",
    "Memory the comparison-mart rebuild may use before it spills to disk (DuckDB size).",
)
register(
    "HPT_MART_PART_ROWS",
    "1500000",
    "Rate × code rows per part of the comparison-mart rebuild (bounds its memory).",
)
