"""`python -m tests.stream.outage_worker worker ...`: the CLI, its ClickHouse store behind a switch.

While the file named by CASCADEWATCH_DRILL_STORE_DOWN exists, every write to the store (inserts,
rollup refreshes) raises as an unreachable server does, before anything is written; one line per
refused write is appended to the file named by CASCADEWATCH_DRILL_STORE_REFUSED. Everything else
is the real CLI and the real store."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pipeline.sinks.clickhouse as clickhouse
from pipeline.sinks.clickhouse import StoreError

DOWN = Path(os.environ["CASCADEWATCH_DRILL_STORE_DOWN"])
REFUSED = Path(os.environ["CASCADEWATCH_DRILL_STORE_REFUSED"])


def switched(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        if DOWN.exists():
            with REFUSED.open("a") as f:
                f.write(f"{method.__name__}\n")
            raise StoreError("connection refused (drill: store down)")
        return method(*args, **kwargs)
    return call


def open_switched_store(url: str):
    store = _open_store(url)
    store.insert_rows = switched(store.insert_rows)
    store._execute = switched(store._execute)
    return store


_open_store = clickhouse.open_store
clickhouse.open_store = open_switched_store

if __name__ == "__main__":
    from pipeline.cli import main

    main()
