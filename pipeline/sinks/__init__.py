"""ClickHouse sink: the Store API (embedded chDB or a server), event-to-row mapping and batching."""

from pipeline.sinks.clickhouse import Store, StoreError, open_store, schema_dir

__all__ = ["Store", "StoreError", "open_store", "schema_dir"]
