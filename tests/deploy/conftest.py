"""A chDB store for the deploy tests, sharing the process's chDB path with the other test packages.

chDB opens one data path per process (pipeline.sinks._chdb tracks the open one in _SESSIONS), and
tests/sinks opens its own session-scoped path. So: reuse the path that is open right now if there is
one, else a tmp path; work in a database of our own; and close the store when the module ends, so
that a later package can open its path (a closed path is released and another may be opened).
"""

from __future__ import annotations

import uuid

import pytest

from pipeline.sinks import _chdb
from pipeline.sinks.clickhouse import open_store


def open_chdb_path(tmp_path_factory) -> str:
    with _chdb._SESSIONS_LOCK:
        already_open = list(_chdb._SESSIONS)
    return already_open[0] if already_open else str(tmp_path_factory.mktemp("chdb-deploy"))


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
