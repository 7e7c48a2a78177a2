"""What readers and the catalog hold of a facility: the facts the fault tests compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warehouse.db import Warehouse, reader, writer


def published(wh: Warehouse, facility_id: str) -> dict[str, Any]:
    """A facility as readers see it through the published snapshot: its current file, the
    rows of that file (each once) and their totals."""
    con = reader(wh)
    try:
        file_ids, rows, distinct, dollars, gross = con.execute(
            "SELECT list(DISTINCT file_id ORDER BY file_id), count(*), count(DISTINCT row_no), "
            "round(sum(negotiated_dollar), 2), round(sum(gross_charge), 2) "
            "FROM standard_charges WHERE facility_id = ?",
            [facility_id],
        ).fetchone() or (None, 0, 0, None, None)
        current = con.execute(
            "SELECT file_id, row_count FROM current_files WHERE facility_id = ?", [facility_id]
        ).fetchall()
    finally:
        con.close()
    return {"files": file_ids, "rows": rows, "distinct_rows": distinct, "dollars": dollars,
            "gross": gross, "current": current}  # fmt: skip


def catalog(wh: Warehouse, facility_id: str) -> dict[str, Any]:
    """The writer's catalog and the charge folders of a facility: its files and their
    status, every loaded file's rows in `charge_history`, and the folders on disk."""
    with writer(wh) as con:
        files = con.execute(
            "SELECT file_id, status, row_count FROM files WHERE facility_id = ? ORDER BY 1",
            [facility_id],
        ).fetchall()
        facilities = con.execute(
            "SELECT count(*) FROM facilities WHERE facility_id = ?", [facility_id]
        ).fetchall()[0][0]
    folder = wh.charges_dir / facility_id
    folders = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return {"files": files, "facilities": facilities, "folders": folders}


def history(wh: Warehouse, facility_id: str) -> dict[str, int]:
    """Rows per file of a facility in the published `charge_history`."""
    con = reader(wh)
    try:
        rows = con.execute(
            "SELECT file_id, count(*) FROM charge_history WHERE facility_id = ? GROUP BY 1",
            [facility_id],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def snapshot_target(wh: Warehouse) -> Path:
    """The snapshot file readers open now."""
    return wh.published_path.resolve()
