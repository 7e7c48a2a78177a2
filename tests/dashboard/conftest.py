"""Dashboard fixtures: a demo warehouse built once per session through the real pipeline."""

from __future__ import annotations

import pytest

from tests.dashboard import demo_warehouse
from warehouse.db import Warehouse


@pytest.fixture(scope="session")
def demo_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Five generated hospitals (CA×3, TX, NY), a held file and a failed one, published."""
    return demo_warehouse.build(tmp_path_factory.mktemp("dashboard"))
