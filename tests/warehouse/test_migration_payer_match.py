"""Migration 018: an existing catalog's payer_map gains match_method and match_score."""

from __future__ import annotations

import duckdb

from transform.payers import PAYER_MAP_SCHEMA
from warehouse.db import migrations


def test_payer_map_gains_the_match_columns_in_the_staged_order() -> None:
    con = duckdb.connect()
    for version, _, sql in migrations():
        if version <= 17:
            con.execute(sql)
    con.execute("INSERT INTO payer_map VALUES ('AETNA', 'PPO', 'Aetna', true, 'commercial', 'x')")
    for version, _, sql in migrations():
        if version == 18:
            con.execute(sql)
            con.execute(sql)  # idempotent
    columns = [row[0] for row in con.execute("DESCRIBE payer_map").fetchall()]
    # The fold-in inserts the per-file Parquet maps by position: same columns, same order.
    assert columns == list(PAYER_MAP_SCHEMA.names())
    assert con.execute("SELECT match_method, match_score FROM payer_map").fetchall() == [
        (None, None)
    ]
