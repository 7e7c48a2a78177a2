"""Text from files, URLs and servers is shown literally by `hpt`: a `[/]` in a hospital name
does not end the command with a traceback, a `[x]` is not swallowed as Rich markup."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.synthetic.tall import tall_file
from hpt.cli import app
from warehouse.db import Warehouse

runner = CliRunner()
NAME = "Mercy [/] [x] [bold]Bold[/bold] Hospital"
PAYER = "Payer [/] [red]Red[/red]"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def hostile_file(path: Path, seed: int = 1) -> Path:
    """A valid MRF whose hospital name and first payer name are Rich markup."""
    tall_file(path, n_items=5, seed=seed)
    text = path.read_text()
    assert ",Blue Cross Blue Shield," in text
    path.write_text(text.replace("Riverside General Hospital", NAME)
                    .replace(",Blue Cross Blue Shield,", f",{PAYER},"))  # fmt: skip
    return path


@pytest.fixture
def loaded(tmp_path: Path, wh: Warehouse) -> Warehouse:
    code, out = invoke("ingest", str(hostile_file(tmp_path / "mercy.csv")), "--db",
                       str(wh.db_path))  # fmt: skip
    assert code == 0, out
    assert "[/]" in out and "[x]" in out and "[bold]Bold[/bold]" in out
    return wh


def test_ingest_summary_summary_and_sql_show_names_literally(loaded: Warehouse) -> None:
    db = str(loaded.db_path)
    code, out = invoke("summary", "--db", db)
    assert code == 0 and "[/]" in out and "[x]" in out
    code, out = invoke("sql", "SELECT DISTINCT hospital_name AS \"[/]\" FROM facilities "
                       "WHERE hospital_name IS NOT NULL", "--db", db)  # fmt: skip
    assert code == 0 and NAME.split()[1] in out and "[x]" in out
    code, out = invoke("sql", "SELECT DISTINCT payer_name FROM standard_charges "
                       "WHERE payer_name LIKE 'Payer%'", "--db", db)  # fmt: skip
    assert code == 0 and "[red]Red[/red]" in out


def test_compare_shows_names_literally(loaded: Warehouse) -> None:
    code, out = invoke("compare", "99203", "--db", str(loaded.db_path))
    assert code == 0, out
    assert "[/]" in out and "[x]" in out


def test_error_lines_show_paths_and_messages_literally(tmp_path: Path, wh: Warehouse) -> None:
    (tmp_path / "[").mkdir()
    bad = tmp_path / "[" / "]bad[x].csv"  # …/[/]bad[x].csv
    bad.write_bytes(b"")
    code, out = invoke("ingest", str(bad), "--db", str(wh.db_path))
    assert code == 1 and "[/]bad[x].csv" in out and "empty file" in out
    assert len(out.strip().splitlines()) == 1
    code, out = invoke("validate", str(bad))
    assert code == 1 and "[/]bad[x].csv" in out


def test_validate_and_batch_show_file_text_literally(tmp_path: Path, wh: Warehouse) -> None:
    (tmp_path / "[").mkdir()
    first = hostile_file(tmp_path / "[" / "]one.csv", seed=1)  # …/[/]one.csv
    second = hostile_file(tmp_path / "two.csv", seed=2)
    code, out = invoke("validate", str(first))
    assert "[/]one.csv" in out
    code, out = invoke("ingest", str(first), str(second), "--db", str(wh.db_path))
    assert code == 0, out
    assert "]one.csv" in out  # the table shows the file name


class _Gone(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404, "[/] Gone [x]")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gone_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gone)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_run_shows_registry_names_and_http_reasons_literally(
    tmp_path: Path, wh: Warehouse, gone_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPT_HTTP_RETRIES", "0")
    sources = tmp_path / "sources.csv"
    sources.write_text(
        f'facility_id,name,state,mrf_url\n990001,"Mercy [/] [x]",CA,{gone_server}/prices.csv\n'
    )
    code, out = invoke("sources", "list", "--sources", str(sources))
    assert code == 0 and "Mercy [/] [x]" in out
    code, out = invoke("run", "--sources", str(sources), "--db", str(wh.db_path))
    assert code == 1
    assert "Mercy [/] [x]" in out and "HTTP 404 [/] Gone [x]" in out
