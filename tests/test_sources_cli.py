"""`hpt sources list|add|check` on a registry file, checked against the demo server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from devtools.demo_server import running
from devtools.synthetic.universe import generate
from hpt.cli import app
from ingest.registry import load_sources

runner = CliRunner()


def test_add_then_list(tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    args = ["sources", "add", "--sources", str(registry)]
    first = runner.invoke(app, [*args, "Mercy Hospital", "--facility-id", "050001",
                                "--state", "ca", "--website", "mercy.example.org"])  # fmt: skip
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "Valley Clinic", "--mrf-url", "https://v.org/p.csv"])
    assert second.exit_code == 0, second.output
    again = runner.invoke(app, [*args, "Mercy again", "--facility-id", "050001", "--website", "m"])
    assert again.exit_code == 2 and "already in" in again.output
    assert [(e.key, e.state) for e in load_sources(registry)] == [
        ("050001", "CA"), ("valley-clinic", "")
    ]  # fmt: skip
    listed = runner.invoke(app, ["sources", "list", "--sources", str(registry)])
    assert listed.exit_code == 0
    assert "Mercy Hospital" in listed.output and "valley-clinic" in listed.output


def test_check_discovers_and_asks_for_headers_only(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    with running(folder) as server:
        generate(folder, server.base_url, only=(501, 404, 506))  # good, captcha, prose
        result = runner.invoke(
            app, ["sources", "check", "--sources", str(folder / "sources.csv")],
            env={"COLUMNS": "200"},
        )  # fmt: skip
        fetched = {path for path, n in server.sent.items() if n and "/files/" in path}
    assert result.exit_code == 1, result.output
    assert "HTTP 200 text/csv" in result.output  # Erie
    assert "text/html" in result.output  # the captcha page answers 200, but not a file
    assert "hpt.no_entries" in result.output  # Laurel's prose
    assert fetched == set()  # HEAD requests only: no file content was sent
