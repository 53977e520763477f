"""A chDB store for the deploy tests, sharing the process's chDB path with the other test packages.

chDB opens one data path per process (pipeline.sinks._chdb tracks the open one in _SESSIONS), and
tests/sinks opens its own session-scoped path. So: reuse the path that is open right now if there is
one, else a tmp path; work in a database of our own; and close the store when the module ends, so
that a later package can open its path (a closed path is released and another may be opened).
"""

from __future__ import annotations

import uuid

import pytest

from pipeline.sinks.clickhouse import open_store
from tests.analytics_scenario import chdb_path as open_chdb_path, scenario_store


@pytest.fixture(scope="module")
def deploy_store(tmp_path_factory):
    """A chDB store with the schema applied, on a fresh database, for one test module."""
    database = f"deploy_{uuid.uuid4().hex[:8]}"
    store = open_store(f"chdb://{open_chdb_path(tmp_path_factory)}?database={database}")
    try:
        store.apply_schema()
        yield store
    finally:
        try:
            store.query(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """(store, events, alerts): the replayed aug2025 scenario with a feed gap, stored by the sink's row code."""
    with scenario_store(tmp_path_factory, "dash") as loaded:
        yield loaded
