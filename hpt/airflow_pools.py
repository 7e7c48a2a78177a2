"""Create or resize the Airflow pools the nightly DAG uses (sizes from the settings).

`python -m hpt.airflow_pools` after `airflow db migrate`: the same as
`airflow pools set hpt_downloads N "…"` and `airflow pools set hpt_warehouse N "…"`, in one
process. Pools live in the metadata database, so this runs once per deployment (and again
after changing a size); every scheduler and worker then sees them.
"""

from __future__ import annotations

from core import settings

#: Pool name → (the setting of its size, its description).
POOLS = {
    "hpt_downloads": ("airflow_download_slots", "Concurrent MRF downloads (politeness)."),
    "hpt_warehouse": ("airflow_warehouse_slots", "Long catalog work: registry sync, publish."),
    "hpt_ingest": ("airflow_ingest_slots", "Facilities parsed at once (brief catalog commits)."),
}


def ensure_pools() -> dict[str, int]:
    """Create or update both pools; their sizes."""
    from airflow.models.pool import Pool

    sizes = {}
    for name, (setting, description) in POOLS.items():
        sizes[name] = int(getattr(settings.current(), setting))
        Pool.create_or_update_pool(name, sizes[name], description, include_deferred=False)
    return sizes


if __name__ == "__main__":
    for pool, slots in ensure_pools().items():
        print(f"pool {pool}: {slots} slot(s)")
