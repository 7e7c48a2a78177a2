"""Every setting in the registry is documented in the README's settings table."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from hpt import settings

ROOT = Path(__file__).resolve().parents[1]


def _import_everything() -> None:
    """Settings register at import: import every module of the packages that have any."""
    for package in ("hpt", "ingest", "transform", "quality", "warehouse"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            importlib.import_module(info.name)


def test_every_setting_is_documented() -> None:
    _import_everything()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in settings.all_settings() if f"`{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"
    assert len(settings.all_settings()) >= 4


def test_environment_overrides_default(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("HPT_FINDINGS_CAP", "7")
    assert settings.get_int("HPT_FINDINGS_CAP") == 7
    monkeypatch.delenv("HPT_FINDINGS_CAP")
    assert settings.get("HPT_FINDINGS_CAP") == "1000"
