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
register("HPT_WORK_DIR", "data/work", "Scratch space for transcoded or unpacked copies of files.")
register("HPT_FINDINGS_CAP", "1000", "Findings stored per rule per file (counts stay exact).")
register("HPT_LANDING", "data/landing", "Where downloaded files land before ingestion.")
