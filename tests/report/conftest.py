"""The replayed scenario in chDB, for the episode report tests."""

from __future__ import annotations

import pytest

from tests.analytics_scenario import scenario_store


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """(store, events, alerts): the replayed aug2025 scenario with a feed gap, stored by the sink's row code."""
    with scenario_store(tmp_path_factory, "report") as loaded:
        yield loaded
