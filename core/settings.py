"""Every setting in one typed place: name, type, default and help, read from the environment.

A setting `HPT_X` is the field `x` of `Settings`; its default and help are written here
once. The CLI, the Airflow DAG and the dashboard read them through `current()`, so an
operator configures a deployment in one place. `docs/settings.md` documents each one (a
test checks that it lists every name with its default).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.storage import Storage, storage

PREFIX = "HPT_"
_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 hpt-price-transparency/0.1"
)


class SettingError(ValueError):
    """A setting's value from the environment cannot be used; the message names it."""


class Settings(BaseSettings):
    """The pipeline's settings; each field `x` is read from the variable `HPT_X`."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    db: Path = Field(
        Path("data/hpt.duckdb"),
        description="Warehouse catalog file; charges and snapshots sit beside it.",
    )
    storage: str = Field(
        "",
        description="Where the per-file data (charges and per-file marts Parquet) lives: a "
        "local folder or `s3://bucket/prefix` (credentials and endpoint from the standard AWS "
        "variables); empty: beside the catalog.",
    )
    catalog: str = Field(
        "",
        description="The shared catalog: empty, the catalog file `HPT_DB` alone (one "
        "machine); `postgresql://user:password@host:port/database`, the catalog of record in "
        "PostgreSQL: workers commit files and logs there and share no disk, the warehouse "
        "host (`HPT_DB`) applies them, owns the marts and publishes snapshots to "
        "`HPT_STORAGE`.",
    )
    catalog_wait: float = Field(
        60.0,
        ge=0,
        description="Seconds to keep trying to reach the shared catalog (`HPT_CATALOG`) "
        "while its server is down or restarting, before failing.",
    )
    work_dir: Path = Field(
        Path("data/work"),
        description="Scratch space for transcoded or unpacked copies of files, and JSON "
        "item-array pieces.",
    )
    findings_cap: int = Field(
        1000, ge=0, description="Findings stored per rule per file (counts stay exact)."
    )
    landing: str = Field(
        "data/landing",
        description="Where downloaded files land before ingestion: a local folder or "
        "`s3://bucket/prefix` (shared by workers that share no disk; each streams a download "
        "into `HPT_WORK_DIR` first, then uploads it, and fetches a landed file there to read "
        "it).",
    )
    sources: Path = Field(
        Path("sources.csv"),
        description="Source registry: the facilities `hpt run` tracks (CSV).",
    )
    sources_state: str = Field(
        "",
        description="Only the registry entries of these states (comma-separated two-letter "
        "codes, e.g. `MN,WI`) are run by `hpt run` and the nightly DAG; empty: all.",
    )
    sources_limit: int = Field(
        0,
        ge=0,
        description="At most this many registry entries per run, in file order after the state "
        "filter; 0: all.",
    )
    sources_check_interval: float = Field(
        1.0,
        ge=0,
        description="Seconds between two requests of the online `hpt sources check` (politeness).",
    )
    http_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait to connect or for the next bytes of a response."
    )
    download_max_seconds: float = Field(
        7200.0, gt=0, description="Wall-clock limit for one file download, in seconds."
    )
    download_max_bytes: int = Field(
        20_000_000_000, gt=0, description="Largest file downloaded (decoded bytes)."
    )
    gzip_max_ratio: float = Field(
        200.0, gt=0, description="Largest gzip/zip expansion ratio (refuses archive bombs)."
    )
    http_retries: int = Field(
        3, ge=0, description="Retries after a 5xx/429 answer, a timeout or a cut transfer."
    )
    http_backoff: float = Field(
        1.0, ge=0, description="Backoff factor in seconds between retries (doubles each)."
    )
    http_max_redirects: int = Field(
        10, ge=0, description="Redirects followed before a URL is declared a loop."
    )
    http_allowed_networks: str = Field(
        "",
        description="Non-public networks a redirect to another host may lead to "
        "(comma-separated CIDRs, e.g. `10.0.0.0/8,127.0.0.0/8`); by default a redirect from one "
        "host to a loopback, private, link-local or reserved address is refused.",
    )
    user_agent: str = Field(
        _USER_AGENT,
        description="User-Agent sent with every request (browser-like: some sites block others).",
    )
    demo_port: int = Field(8765, description="Port of the demo universe server (`hpt demo serve`).")
    quality_gate: bool = Field(
        True, description="Data-quality gate before loading a file (`off` loads unchecked)."
    )
    quality_truncation: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A file with at most this fraction of its predecessor's rows is held as "
        "truncated.",
    )
    quality_price_ceiling: float = Field(
        10_000_000.0, gt=0, description="Dollar amount above which a price is implausible."
    )
    quality_max_age_days: int = Field(
        365, ge=0, description="Days after which a current file's last_updated_on is stale."
    )
    quality_docs: Path | None = Field(
        None, description="Data Docs folder; default `<db stem>-quality` beside the catalog."
    )
    quality_docs_index_minutes: float = Field(
        60.0,
        ge=0,
        description="A publish renders the new Data Docs pages, and their index (which reads "
        "every stored result) at most this often; `hpt quality docs` always does. 0: always.",
    )
    validate_files: bool = Field(
        True,
        alias="HPT_VALIDATE",
        description="Check every ingested file against the CMS rules in the same pass (0 "
        "turns it off).",
    )
    validate_json_schema: bool = Field(
        True,
        description="With `HPT_VALIDATE`, also check JSON files against the official CMS JSON "
        "schema of their version (0 skips only that part).",
    )
    airflow_schedule: str = Field(
        "0 3 * * *",
        description="Cron schedule of the nightly Airflow DAG (UTC); empty: only triggered runs.",
    )
    airflow_retries: int = Field(
        3,
        ge=0,
        description="Airflow retries of each task of the nightly DAG after an error another "
        "try may fix (a bad file fails at once).",
    )
    airflow_retry_delay: float = Field(
        300.0,
        ge=0,
        description="Seconds before the first Airflow retry of a task (1-2x that; doubles each "
        "time, max 1 h).",
    )
    airflow_download_slots: int = Field(
        4, ge=1, description="Size of the Airflow pool `hpt_downloads`."
    )
    airflow_warehouse_slots: int = Field(
        1,
        ge=1,
        description="Size of the Airflow pool `hpt_warehouse` (the registry sync and the "
        "publish: they hold the catalog long).",
    )
    airflow_warehouse_queue: str = Field(
        "default",
        min_length=1,
        description="Executor queue of the tasks that open the catalog file `HPT_DB` (the "
        "registry sync and the publish): with `HPT_CATALOG` set, only the warehouse host's "
        "Celery worker serves it; `default` is Airflow's default queue (one machine). Read "
        "when the DAG file is parsed.",
    )
    airflow_ingest_slots: int = Field(
        2,
        ge=1,
        description="Size of the Airflow pool `hpt_ingest`: facilities parsed at once (each "
        "holds the catalog only for its brief commits).",
    )
    airflow_max_mapped: int = Field(
        1000,
        ge=1,
        description="Most mapped facility tasks per nightly run; a larger registry is split "
        "into this many batches of facilities (Airflow maps at most `max_map_length`, 1,024).",
    )
    dashboard_port: int = Field(8501, description="Port `hpt dashboard` serves the dashboard on.")
    dashboard_address: str = Field(
        "localhost",
        description="Address `hpt dashboard` listens on (0.0.0.0 to serve other machines).",
    )
    sql_timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds an `hpt sql` query may run before it is stopped."
    )
    sql_max_rows: int = Field(
        10_000, gt=0, description="Rows an `hpt sql` query fetches at most (the rest is cut)."
    )
    mart_memory_limit: str = Field(
        "1GB",
        description="Memory a comparison-mart build (per file at ingest, and the fold at "
        "publish) may use before it spills to disk (DuckDB size).",
    )
    retention_history_files: int = Field(
        3,
        ge=0,
        description="Previous files per facility kept queryable in `charge_history` beside the "
        "current one; older ones expire (`hpt prune`, nightly).",
    )
    retention_snapshots: int = Field(
        3, ge=1, description="Published read snapshots kept (the current one and older ones)."
    )
    retention_quarantine_days: int = Field(
        30,
        ge=0,
        description="Days the data of a quarantined file (or a held file a newer one replaced) "
        "is kept for inspection.",
    )
    retention_log_days: int = Field(
        365,
        ge=1,
        description="Days ingest and download logs, run records and GX validation results are "
        "kept (each facility's newest attempt stays).",
    )
    retention_grace_hours: float = Field(
        24.0,
        ge=0,
        description="Landing copies of superseded downloads and scratch leftovers are deleted "
        "once untouched this long.",
    )

    @field_validator("http_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # a bad one: ValueError
        return value

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        storage(value, Path.cwd())  # a bad URL: StorageError, a ValueError
        return value

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: str) -> str:
        if value:
            parsed = urlsplit(value)
            if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname:
                raise ValueError("must be empty or postgresql://user:password@host:port/database")
            if not parsed.path.strip("/") or any(c.isspace() for c in value):
                raise ValueError("must name a database: postgresql://…@host:port/database")
        return value

    @field_validator("landing")
    @classmethod
    def _landing(cls, value: str) -> str:
        storage(value, Path.cwd(), "landing")  # a bad URL: StorageError, a ValueError
        return value

    @property
    def landing_area(self) -> Storage:
        """The landing area: a local folder (relative to the working folder) or an object
        store prefix."""
        return storage(self.landing, Path.cwd(), "landing")

    @field_validator("quality_docs", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


@dataclass(frozen=True)
class Documented:
    """One setting as the docs show it: variable name, default (as text) and help."""

    name: str
    default: str
    help: str


def env_name(field: str) -> str:
    """The environment variable of a field."""
    info = Settings.model_fields[field]
    return info.alias or f"{PREFIX}{field.upper()}"


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def documented() -> list[Documented]:
    """Every setting, in declaration order, as `docs/settings.md` documents it."""
    return [
        Documented(env_name(field), _as_text(info.default), info.description or "")
        for field, info in Settings.model_fields.items()
    ]


def names() -> set[str]:
    """The environment variable names of all settings."""
    return {env_name(field) for field in Settings.model_fields}


#: The last settings read, and the `HPT_*` environment they were read from.
_last: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def current() -> Settings:
    """The settings now: each from its environment variable if set, else the default.

    Read anew whenever the `HPT_*` environment changed, so a changed environment (the DAG's
    `hpt_settings` Variable, a test) takes effect at once; otherwise the last (frozen)
    settings are returned: building them costs ~1 ms, and an ingest asks a few times per
    file. A bad value raises `SettingError` naming it.
    """
    global _last
    # Names are matched without case, as pydantic-settings reads them.
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX)))
    if _last is not None and _last[0] == env:
        return _last[1]
    try:
        read = Settings()
        _last = (env, read)
        return read
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = env_name(field) if field in Settings.model_fields else field
        raise SettingError(f"setting {name}: {first['msg']} (got {first.get('input')!r})") from None


def markdown_table() -> str:
    """The settings as the Markdown table in `docs/settings.md` (`python -m core.settings`)."""
    lines = ["| Setting | Default | What it does |", "| --- | --- | --- |"]
    for s in documented():
        default = f"`{s.default}`" if s.default else "(empty)"
        text = s.help.replace("|", r"\|")
        lines.append(f"| `{s.name}` | {default} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
