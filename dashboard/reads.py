"""The dashboard's reads beyond the price comparison (`warehouse.queries`).

Every function takes a connection to the published snapshot and returns a Polars frame
(or a small dict). SQL text is fixed; user input travels only as parameters. A warehouse
built before a table existed (no quality run yet, no conformance view) is normal: the
functions that need such a table return None, and the page says "not available yet".
A code's type is matched by its service type, as in `warehouse.queries` (`HCPCS:73721`
reads the rows of `CPT:73721`).
"""

from __future__ import annotations

import duckdb
import polars as pl

from core.warehouse_files import snapshot_storage
from warehouse.marts import scoped_comparable

#: A US ZIP at the end of an address line ("…, Fresno, CA 93721" or "93721-1234").
_ZIP_PATTERN = r"(\d{5})(?:-\d{4})?\s*$"


def has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the snapshot has a table or view of this name."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = $n AND NOT temporary "
        "UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = $n AND NOT temporary",
        {"n": name},
    ).fetchall()
    return any(r[0] for r in rows)


def columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = $n AND NOT internal",
        {"n": name},
    ).fetchall()
    return {r[0] for r in rows}


def overview(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Facilities with a current file, codes with prices and when the marts were built."""
    out: dict[str, object] = {"facilities": 0, "codes": 0, "built_at": None}
    if has(con, "facility_summary"):
        out["facilities"] = con.sql("SELECT count(*) FROM facility_summary").fetchall()[0][0]
    if has(con, "code_catalog"):
        out["codes"] = con.sql("SELECT count(*) FROM code_catalog").fetchall()[0][0]
    if has(con, "mart_builds"):
        out["built_at"] = con.sql("SELECT max(built_at) FROM mart_builds").fetchall()[0][0]
    return out


def popular_codes(con: duckdb.DuckDBPyConnection, limit: int = 40) -> pl.DataFrame:
    """The common shoppable services with prices, most widely priced first (no search yet)."""
    return con.sql(
        "SELECT code_type, code, display_name, category, curated, facilities, rates "
        "FROM code_catalog ORDER BY curated DESC, facilities DESC, code LIMIT $limit",
        params={"limit": limit},
    ).pl()


def common_prices(con: duckdb.DuckDBPyConnection, limit: int = 8) -> pl.DataFrame:
    """The common shoppable services priced by the most hospitals, each with the spread of
    the hospitals' typical insured prices across all states (`code_summary`: its setting
    and unit priced by the most hospitals; a price of the whole service, not per day)."""
    return con.sql(
        """
        WITH common AS (
            SELECT code_type, code, display_name FROM code_catalog WHERE curated
            ORDER BY facilities DESC, code LIMIT $limit
        )
        SELECT c.code_type, c.code, c.display_name, s.setting, s.facilities, s.p10_dollar,
               s.median_dollar, s.p90_dollar, s.spread_ratio
        FROM common c
        JOIN code_summary s USING (code_type, code)
        WHERE s.state = 'ALL' AND s.price_unit IS NULL
        QUALIFY row_number() OVER (PARTITION BY c.code_type, c.code
                                   ORDER BY s.facilities DESC, s.setting) = 1
        ORDER BY s.facilities DESC, c.display_name, c.code
        """,
        params={"limit": limit},
    ).pl()


def code_entry(con: duckdb.DuckDBPyConnection, code_type: str | None, code: str) -> pl.DataFrame:
    """The catalog row of one code, of any type when none is given (empty when no hospital
    prices it)."""
    return con.sql(
        "SELECT code_type, code, display_name, category, curated, facilities, rates "
        "FROM code_catalog WHERE ($t IS NULL OR code_type = service_code_type($t, $c)) "
        "AND code = $c "
        "ORDER BY facilities DESC LIMIT 1",
        params={"t": code_type, "c": code},
    ).pl()


def states(con: duckdb.DuckDBPyConnection) -> list[str]:
    """States of the facilities with a current file."""
    rows = con.sql(
        "SELECT DISTINCT state FROM facility_summary WHERE state IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def payer_plans(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Canonical payers and the plan types they are published under."""
    return con.sql(
        "SELECT DISTINCT payer, plan_type FROM payer_map WHERE payer IS NOT NULL "
        "ORDER BY payer, plan_type"
    ).pl()


def facilities(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every facility with a current file, with a ZIP (the registry's, else the one ending
    the file's first address) for placing it on a map."""
    return con.sql(
        f"""
        SELECT s.facility_id, s.hospital_name, s.state, s.city,
               coalesce(s.zip, nullif(regexp_extract(f.addresses[1], '{_ZIP_PATTERN}', 1), ''))
                   AS zip,
               f.addresses[1] AS address, s.codes, s.rates, s.last_updated_on
        FROM facility_summary s
        LEFT JOIN facilities f USING (facility_id)
        ORDER BY s.state, s.hospital_name, s.facility_id
        """
    ).pl()


def facility_prices(
    con: duckdb.DuckDBPyConnection, code_type: str | None, code: str, state: str | None = None
) -> pl.DataFrame:
    """Per facility, one code: the median of all its comparable payer rates, its gross
    charge and its discounted cash price (per unit for drugs)."""
    return con.sql(
        """
        SELECT p.code_type, p.code, p.setting, p.price_unit, p.facility_id, l.hospital_name,
               l.state, l.city, p.rates, p.comparable_rates, p.median_dollar,
               p.gross_charge, p.discounted_cash, p.description
        FROM facility_code_prices p
        LEFT JOIN facility_locations l USING (facility_id)
        WHERE p.code = $code
          AND ($code_type IS NULL OR p.code_type = service_code_type($code_type, $code))
          AND ($state IS NULL OR l.state = $state)
        ORDER BY p.discounted_cash ASC NULLS LAST, p.facility_id
        """,
        params={"code": code, "code_type": code_type, "state": state},
    ).pl()


def rate_notes(
    con: duckdb.DuckDBPyConnection,
    code_type: str | None,
    code: str,
    facility_ids: list[str],
    payer: str | None = None,
) -> pl.DataFrame:
    """Per facility: how many of its rates for the code are estimates (derived from a
    percentage, or a median allowed amount) and how many were excluded, and why. Reads
    the named facilities' files only (`scoped_comparable`)."""
    return con.sql(
        scoped_comparable(con, facility_ids, code_type, code)
        + """
        SELECT facility_id,
               count(*) FILTER (exclusion_reason IS NULL
                   AND price_basis IN ('derived_from_percentage', 'median_allowed'))
                   AS estimated_rates,
               count(*) FILTER (exclusion_reason IS NOT NULL
                   AND exclusion_reason <> 'no_payer_rate') AS excluded_rates,
               string_agg(DISTINCT exclusion_reason, ', ' ORDER BY exclusion_reason)
                   FILTER (exclusion_reason <> 'no_payer_rate') AS exclusion_reasons
        FROM comparable_charge_codes
        WHERE code = $code
          AND ($code_type IS NULL OR code_type = service_code_type($code_type, $code))
          AND list_contains($ids::VARCHAR[], facility_id)
          AND ($payer IS NULL OR payer = $payer)
        GROUP BY facility_id
        """,
        params={"code": code, "code_type": code_type, "ids": facility_ids, "payer": payer},
    ).pl()


def facility_payers(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame:
    """The canonical payers and plan types a facility publishes rates for, with code counts.
    Reads the facility's own judged `price_compare` file: the view's runs are sorted by
    code, so a facility's rows are in all their row groups (at 200 facilities ~100 ms
    against ~15 ms)."""
    store = snapshot_storage(con)
    paths = [
        store.location(r[0])
        for r in con.execute(
            "SELECT price_compare_path FROM mart_files WHERE facility_id = ?", [facility_id]
        ).fetchall()
    ]
    source = "read_parquet($paths)" if paths else "price_compare"
    return con.sql(
        f"""
        SELECT payer, plan_type, count(DISTINCT (code_type, code)) AS codes,
               sum(rates)::BIGINT AS rates
        FROM {source}
        WHERE facility_id = $id AND payer IS NOT NULL
        GROUP BY ALL ORDER BY codes DESC, payer, plan_type
        """,
        params={"id": facility_id, **({"paths": paths} if paths else {})},
    ).pl()


def price_position(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame:
    """Per code the facility prices: its median against the median of all facilities, and
    its rank among them (1 = cheapest)."""
    return con.sql(
        """
        WITH ranked AS (
            SELECT code_type, code, setting, price_unit, facility_id, median_dollar,
                   rank() OVER (PARTITION BY code_type, code, setting, price_unit
                                ORDER BY median_dollar) AS rank
            FROM facility_code_prices WHERE median_dollar IS NOT NULL
        )
        SELECT r.code_type, r.code, c.display_name, r.setting, r.price_unit,
               r.median_dollar, s.median_dollar AS peers_median_dollar,
               r.median_dollar / s.median_dollar AS vs_peers, r.rank, s.facilities
        FROM ranked r
        JOIN code_summary s
          ON s.state = 'ALL' AND s.code_type = r.code_type AND s.code = r.code
         AND s.setting IS NOT DISTINCT FROM r.setting
         AND s.price_unit IS NOT DISTINCT FROM r.price_unit
        LEFT JOIN code_catalog c ON c.code_type = r.code_type AND c.code = r.code
        WHERE r.facility_id = $id AND s.facilities >= 2
        ORDER BY c.curated DESC NULLS LAST, s.facilities DESC, r.code
        """,
        params={"id": facility_id},
    ).pl()


#: Columns of `facility_compliance` the pages show, in this order (those present).
COMPLIANCE_COLUMNS = (
    "facility_id", "hospital_name", "compliance_score", "valid", "error_count", "alert_count",
    "days_since_update", "attestation", "score_valid", "score_header", "score_data",
    "score_freshness", "score_attestation",
)  # fmt: skip


def compliance(
    con: duckdb.DuckDBPyConnection, facility_id: str | None = None
) -> pl.DataFrame | None:
    """Rows of the conformance view (one facility's, or all, lowest score first), or None
    when the view is not built in this snapshot."""
    if not has(con, "facility_compliance"):
        return None
    present = columns(con, "facility_compliance")
    # Identifiers come from the fixed list above, never from the user.
    picked = ", ".join(f'"{c}"' for c in COMPLIANCE_COLUMNS if c in present) or "*"
    order = "compliance_score" if "compliance_score" in present else "facility_id"
    return con.sql(
        f"SELECT {picked} FROM facility_compliance "
        f"WHERE $id IS NULL OR facility_id = $id ORDER BY {order}, facility_id",
        params={"id": facility_id},
    ).pl()


def payer_mapping(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Per facility, its payer rates and the share whose payer name maps to a canonical
    payer, lowest share first (None before the marts exist)."""
    if "share_payer_mapped" not in columns(con, "facility_summary"):
        return None
    return con.sql(
        "SELECT facility_id, hospital_name, state, rates, share_payer_mapped, "
        "round(rates * (1 - share_payer_mapped))::BIGINT AS unmapped_rates "
        "FROM facility_summary ORDER BY share_payer_mapped NULLS LAST, facility_id"
    ).pl()


def last_pipeline_run(con: duckdb.DuckDBPyConnection) -> dict[str, object] | None:
    """The newest orchestrated (nightly) run's totals, or None when there is none."""
    if not has(con, "pipeline_runs"):
        return None
    rows = con.sql("SELECT * FROM pipeline_runs ORDER BY finished_at DESC LIMIT 1").pl()
    return rows.row(0, named=True) if rows.height else None


def facility_findings(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame:
    """Findings of the facility's current file by rule, errors first, most frequent first."""
    return con.sql(
        """
        SELECT n.rule, n.severity, n.finding_count,
               any_value(f.message) AS example
        FROM finding_counts n
        JOIN current_files c USING (file_id)
        LEFT JOIN findings f ON f.file_id = n.file_id AND f.rule = n.rule
        WHERE c.facility_id = $id
        GROUP BY n.rule, n.severity, n.finding_count
        ORDER BY (n.severity = 'error') DESC, n.finding_count DESC, n.rule
        """,
        params={"id": facility_id},
    ).pl()


def findings_by_rule(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Conformance findings of the current files by rule: files affected and total count."""
    return con.sql(
        """
        SELECT n.rule, n.severity, count(DISTINCT c.facility_id) AS facilities,
               sum(n.finding_count)::BIGINT AS findings
        FROM finding_counts n JOIN current_files c USING (file_id)
        GROUP BY n.rule, n.severity ORDER BY (n.severity = 'error') DESC, findings DESC, n.rule
        """
    ).pl()


def last_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per hospital, its last download and ingest attempts folded into one outcome —
    downloaded (and loaded), loaded (a local file), unchanged, held, quarantined or
    failed — with the reason."""
    downloads = has(con, "download_attempts")
    # The registry's name for hospitals whose file never loaded (older catalogs lack it).
    registry = "f.registry_name" if "registry_name" in columns(con, "facilities") else "NULL"
    quarantine = has(con, "quarantine")
    dl = (
        """SELECT * EXCLUDE (rn) FROM (SELECT facility_id, attempted_at, outcome, message,
              url, http_status, row_number() OVER (PARTITION BY facility_id
              ORDER BY attempted_at DESC) AS rn FROM download_attempts) WHERE rn = 1"""
        if downloads
        else "SELECT NULL::VARCHAR AS facility_id, NULL::TIMESTAMP AS attempted_at, "
        "NULL::VARCHAR AS outcome, NULL::VARCHAR AS message, NULL::VARCHAR AS url, "
        "NULL::INTEGER AS http_status WHERE false"
    )
    qr = (
        "SELECT file_id, reason FROM quarantine"
        if quarantine
        else "SELECT NULL::VARCHAR AS file_id, NULL::VARCHAR AS reason WHERE false"
    )
    return con.sql(
        f"""
        WITH ing AS (
            SELECT * EXCLUDE (rn) FROM (
                SELECT l.*, row_number() OVER (PARTITION BY facility_id
                    ORDER BY attempted_at DESC) AS rn
                FROM ingest_log l WHERE facility_id IS NOT NULL) WHERE rn = 1
        ),
        dl AS ({dl}),
        qr AS ({qr}),
        folded AS (
        SELECT coalesce(i.facility_id, d.facility_id) AS facility_id,
               coalesce(f.hospital_name, {registry}, i.facility_id, d.facility_id) AS hospital,
               greatest(i.attempted_at, d.attempted_at) AS attempted_at,
               CASE
                   WHEN d.outcome = 'failed' AND (i.attempted_at IS NULL
                        OR d.attempted_at >= i.attempted_at) THEN 'failed'
                   WHEN i.outcome = 'quarantined' THEN 'quarantined'
                   WHEN i.outcome = 'failed' THEN 'failed'
                   WHEN i.outcome = 'held' THEN 'held'
                   WHEN i.outcome = 'unchanged' OR d.outcome = 'not_modified' THEN 'unchanged'
                   WHEN d.outcome = 'downloaded' THEN 'downloaded'
                   ELSE 'loaded'
               END AS outcome,
               coalesce(
                   CASE WHEN d.outcome = 'failed' THEN d.message END,
                   q.reason, i.message) AS reason,
               d.outcome AS download_outcome, d.http_status, i.outcome AS ingest_outcome,
               i.file_id, coalesce(i.source, d.url) AS source
        FROM ing i
        FULL JOIN dl d USING (facility_id)
        LEFT JOIN qr q ON q.file_id = i.file_id
        LEFT JOIN facilities f ON f.facility_id = coalesce(i.facility_id, d.facility_id)
        )
        SELECT * FROM folded ORDER BY (outcome IN ('failed', 'quarantined')) DESC, hospital
        """
    ).pl()


def quality_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Per data-quality run and suite: expectations evaluated, failed and the worst severity
    failed — newest first. None when no quality table exists."""
    if not has(con, "quality_results"):
        return None
    return con.sql(
        """
        SELECT run_id, suite, max(validated_at) AS validated_at, any_value(facility_id)
               AS facility_id, any_value(file_id) AS file_id, count(*) AS expectations,
               count(*) FILTER (NOT success) AS failed,
               CASE WHEN bool_or(NOT success AND severity = 'blocking') THEN 'blocking'
                    WHEN bool_or(NOT success AND severity = 'hold') THEN 'hold'
                    WHEN bool_or(NOT success) THEN 'warning' ELSE 'passed' END AS verdict
        FROM quality_results GROUP BY run_id, suite ORDER BY validated_at DESC LIMIT 500
        """
    ).pl()


def quality_failures(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """The failed expectations of the latest run of each suite and file."""
    if not has(con, "quality_results"):
        return None
    return con.sql(
        """
        WITH latest AS (
            SELECT suite, file_id, arg_max(run_id, validated_at) AS run_id
            FROM quality_results GROUP BY suite, file_id
        )
        SELECT q.validated_at, q.suite, q.facility_id, q.file_id, q.expectation, q."column",
               q.severity, q.unexpected_count, q.observed_value, q.why
        FROM quality_results q JOIN latest l USING (suite, run_id)
        WHERE NOT q.success
        ORDER BY q.validated_at DESC, q.suite, q.expectation
        """
    ).pl()


def without_file(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Tracked (registry) hospitals without a current file — "no file yet" or "failing" —
    with their place and last attempt; None in a catalog without the registry view."""
    if not has(con, "source_status"):
        return None
    return con.sql(
        """
        SELECT facility_id, name AS hospital_name, state, city, zip_code AS zip,
               CASE WHEN status = 'failing' THEN 'failing' ELSE 'no file yet' END AS status,
               last_attempt_at,
               coalesce(CASE WHEN last_download_outcome = 'failed' THEN last_download_message
                        END, last_ingest_message, last_download_message) AS last_message,
               website
        FROM source_status
        WHERE current_file_id IS NULL
        ORDER BY status = 'failing' DESC, state, hospital_name, facility_id
        """
    ).pl()


# --- what changed between a facility's files (warehouse.marts.changes) ----------------------

#: The national list: moves of files that became current within this many days of the
#: snapshot's last build.
RECENT_DAYS = 30


def biggest_moves(
    con: duckdb.DuckDBPyConnection,
    state: str | None = None,
    code_type: str | None = None,
    code: str | None = None,
    payer: str | None = None,
    min_dollar: float = 1.0,
    limit: int = 200,
) -> pl.DataFrame | None:
    """The largest % moves among the files that became current in the last `RECENT_DAYS`
    days (each facility's top moves, `top_price_changes`), both medians at least
    `min_dollar`; None before the changes mart exists."""
    if not has(con, "top_price_changes"):
        return None
    return con.sql(
        f"""
        SELECT t.facility_id, l.hospital_name, l.state, t.code_type, t.code,
               c.display_name, t.setting, t.payer, t.plan_type, t.old_median, t.new_median,
               t.change, t.change_pct, t.changed_at
        FROM top_price_changes t
        LEFT JOIN facility_locations l USING (facility_id)
        LEFT JOIN code_catalog c ON c.code_type = t.code_type AND c.code = t.code
        WHERE t.changed_at >= (SELECT max(built_at) FROM mart_builds)
                              - INTERVAL {RECENT_DAYS} DAY
          AND least(t.old_median, t.new_median) >= $min
          AND ($state IS NULL OR l.state = $state)
          AND ($code IS NULL OR (t.code = $code
               AND ($code_type IS NULL OR t.code_type = service_code_type($code_type, $code))))
          AND ($payer IS NULL OR t.payer = $payer)
        ORDER BY abs(t.change_pct) DESC, t.facility_id, t.code, t.payer, t.plan_type
        LIMIT $limit
        """,
        params={"state": state, "code_type": code_type, "code": code, "payer": payer,
                "min": min_dollar, "limit": limit},
    ).pl()  # fmt: skip


def change_summary(con: duckdb.DuckDBPyConnection, facility_id: str) -> dict[str, object] | None:
    """The facility's current file against its previous one: the two files, when, and the
    counts of prices up, down and unchanged and of codes added and removed; None when the
    current file is its first (or the snapshot predates the changes mart)."""
    if not has(con, "mart_change_files"):
        return None
    rows = con.sql(
        "SELECT c.* FROM mart_change_files c JOIN mart_files m ON m.file_id = c.new_file_id "
        "WHERE c.facility_id = $id",
        params={"id": facility_id},
    ).pl()
    return rows.row(0, named=True) if rows.height else None


def _change_path(con: duckdb.DuckDBPyConnection, facility_id: str, column: str) -> str | None:
    """The facility's change file (`column` of `mart_change_files`, a fixed name): read
    directly, a facility's changes open its own file only, not every facility's footer."""
    rows = con.execute(
        f"SELECT c.{column} FROM mart_change_files c JOIN mart_files m "
        "ON m.file_id = c.new_file_id WHERE c.facility_id = ?",
        [facility_id],
    ).fetchall()
    return snapshot_storage(con).location(str(rows[0][0])) if rows else None


def facility_moves(
    con: duckdb.DuckDBPyConnection, facility_id: str, min_dollar: float = 1.0
) -> pl.DataFrame:
    """The facility's prices that moved (both medians at least `min_dollar`, by a cent or
    more) in its current file against its previous one, largest % move first (empty when
    its current file is its first)."""
    path = _change_path(con, facility_id, "price_changes_path")
    source = "read_parquet($path)" if path else "(FROM price_changes LIMIT 0)"
    return con.sql(
        f"""
        SELECT p.code_type, p.code, c.display_name, p.setting, p.price_unit, p.payer,
               p.plan_type, p.old_median, p.new_median, p.change, p.change_pct,
               p.old_gross, p.new_gross, p.old_cash, p.new_cash
        FROM {source} p
        LEFT JOIN code_catalog c ON c.code_type = p.code_type AND c.code = p.code
        WHERE least(p.old_median, p.new_median) >= $min
          AND abs(p.change) >= 0.01
        ORDER BY abs(p.change_pct) DESC, p.code, p.payer, p.plan_type
        """,
        params={"min": min_dollar} | ({"path": path} if path else {}),
    ).pl()


def facility_code_changes(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame:
    """The codes the facility's current file prices and its previous file did not (added),
    and the reverse (removed)."""
    path = _change_path(con, facility_id, "code_changes_path")
    source = "read_parquet($path)" if path else "(FROM code_changes LIMIT 0)"
    return con.sql(
        "SELECT change, code_type, code, description, rates, median_dollar "
        f"FROM {source} ORDER BY change, code_type, code",
        params={"path": path} if path else {},
    ).pl()


def file_timeline(con: duckdb.DuckDBPyConnection, facility_id: str) -> pl.DataFrame | None:
    """Every file loaded for the facility, oldest first: size, rows, rates, status."""
    if not has(con, "file_timeline"):
        return None
    return con.sql(
        "SELECT file_id, status, is_current, loaded_at, last_updated_on, size_bytes, "
        "row_count, rates, codes FROM file_timeline WHERE facility_id = $id ORDER BY loaded_at",
        params={"id": facility_id},
    ).pl()
