"""Every setting is typed once, read from the environment and documented in docs/settings.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import settings

ROOT = Path(__file__).resolve().parents[1]


def test_docs_list_every_setting_as_the_model_defines_it() -> None:
    docs = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in docs, "docs/settings.md: run `python -m core.settings`"
    documented = {s.name for s in settings.documented()}
    assert documented == settings.names()
    assert {"HPT_DB", "HPT_VALIDATE", "HPT_QUALITY_GATE", "HPT_USER_AGENT"} <= documented


def test_environment_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_FINDINGS_CAP", "7")
    monkeypatch.setenv("HPT_VALIDATE", "0")
    monkeypatch.setenv("HPT_QUALITY_GATE", "off")
    now = settings.current()
    assert (now.findings_cap, now.validate_files, now.quality_gate) == (7, False, False)
    monkeypatch.delenv("HPT_FINDINGS_CAP")
    monkeypatch.delenv("HPT_VALIDATE")
    monkeypatch.delenv("HPT_QUALITY_GATE")
    now = settings.current()
    assert (now.findings_cap, now.validate_files, now.quality_gate) == (1000, True, True)


def test_empty_docs_folder_means_the_default_and_empty_schedule_stays_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HPT_QUALITY_DOCS", "")
    monkeypatch.setenv("HPT_AIRFLOW_SCHEDULE", "")
    now = settings.current()
    assert now.quality_docs is None
    assert now.airflow_schedule == ""


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPT_HTTP_TIMEOUT", "soon")
    with pytest.raises(settings.SettingError, match=r"^setting HPT_HTTP_TIMEOUT: .*'soon'"):
        settings.current()


def test_read_again_only_when_the_environment_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingest asks for the settings a few times per file: the same environment gives
    the same (frozen) settings without building them again; any change is seen at once,
    whatever the case of the variable's name."""
    monkeypatch.setenv("HPT_FINDINGS_CAP", "5")
    first = settings.current()
    assert settings.current() is first
    monkeypatch.setenv("hpt_findings_cap", "6")
    monkeypatch.delenv("HPT_FINDINGS_CAP")
    assert settings.current().findings_cap == 6
    monkeypatch.setenv("HPT_FINDINGS_CAP", "5")
    monkeypatch.delenv("hpt_findings_cap")
    again = settings.current()
    assert again.findings_cap == 5 and again == first
    monkeypatch.setenv("HPT_FINDINGS_CAP", "lots")
    with pytest.raises(settings.SettingError):
        settings.current()
    with pytest.raises(settings.SettingError):  # a bad value is never remembered as good
        settings.current()
