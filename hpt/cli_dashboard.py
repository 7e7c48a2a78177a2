"""`hpt dashboard`: serve the Streamlit dashboard over a warehouse's published snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from core import settings
from hpt.cli import DbOption, app, console, db_path, plain

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def streamlit_command(port: int, address: str) -> list[str]:
    """The headless `streamlit run` of the dashboard (through `dashboard.serve`, which
    preloads its libraries): no browser, no usage statistics, no file watcher (nothing
    reaches the internet and a served app does not reload itself)."""
    return [
        sys.executable, "-m", "dashboard.serve", "run", str(APP),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", address,
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


@app.command()
def dashboard(
    db: DbOption = None,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on (env HPT_DASHBOARD_PORT, default 8501).")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Address to listen on (env HPT_DASHBOARD_ADDRESS, default localhost)."),
    ] = None,
) -> None:
    """Serve the price dashboard (Find a price, Compare, Facility, Map, Data quality)."""
    from warehouse.db import Warehouse

    wh = Warehouse.at(db_path(db))
    port = port or settings.current().dashboard_port
    address = address or settings.current().dashboard_address
    if not wh.catalog and not wh.published_path.exists():  # with one, the dashboard fetches
        console.print(Text.assemble(("note:", "yellow"), " nothing published at "
                                    f"{wh.published_path} yet; the dashboard will say so "
                                    "until a load publishes."))  # fmt: skip
    host = "localhost" if address in ("0.0.0.0", "::") else address
    console.print(
        plain(f"Dashboard: http://{host}:{port}  (warehouse {wh.db_path}; Ctrl-C stops it)")
    )
    env = {**os.environ, "HPT_DB": str(wh.db_path)}
    process = subprocess.Popen(streamlit_command(port, address), env=env)

    def stop(signum: int, frame: object) -> None:
        # Ctrl-C (or a service manager's SIGTERM): stop Streamlit and wait for it. Set
        # explicitly: a shell starting us in the background leaves SIGINT ignored.
        process.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        code = process.wait(timeout=None)
    finally:
        if process.poll() is None:
            process.kill()
    if code in (0, -signal.SIGTERM, -signal.SIGINT):
        console.print("Dashboard stopped.")
        code = 0
    raise typer.Exit(code)
