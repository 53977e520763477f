"""The Store over the native protocol, against a real clickhouse-server (Debian's 18.16).

The project's DDL (DateTime64, LowCardinality, Bool, now64, ...) needs a modern server (24+), which
cannot run here; these tests exercise the clickhouse-driver / protocol path of the Store with a
table that 18.16 accepts.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.sinks.clickhouse import StoreError, open_store
from pipeline.sinks.rows import ms_to_datetime

PROTO_TABLE = ("CREATE TABLE IF NOT EXISTS cwtest.liq_proto (asset String, venue String, ts DateTime, event_id String, "
               "notional_usd Float64) ENGINE = MergeTree ORDER BY (asset, ts, event_id)")


@pytest.fixture
def native(clickhouse_server):
    host, port = clickhouse_server
    store = open_store(f"clickhouse://default:@{host}:{port}/cwtest")
    # Before the database exists the store still answers, in `default`.
    store.query("CREATE DATABASE IF NOT EXISTS cwtest")
    store.query("DROP TABLE IF EXISTS cwtest.liq_proto")
    store.query(PROTO_TABLE)
    yield store
    store.close()


def test_url_is_parsed(native, clickhouse_server):
    assert native.database == "cwtest"
    assert native.server_version().startswith("18.16")


def test_insert_rows_then_query_back(native):
    t0 = 1_755_226_800_000
    rows = [{"asset": "BTC", "venue": v, "ts": ms_to_datetime(t0 + i * 1000), "event_id": f"e{i}",
             "notional_usd": 1000.0 * (i + 1)} for i, v in enumerate(["binance-usdm", "bybit", "okx"])]
    assert native.insert_rows("liq_proto", rows, dedup_token="tok-1") == 3  # token ignored: 18.16 lacks it
    names, back = native.query("SELECT event_id, venue, ts, notional_usd FROM liq_proto ORDER BY event_id")
    assert names == ["event_id", "venue", "ts", "notional_usd"]
    assert [(e, v, ts.replace(tzinfo=dt.timezone.utc), n) for e, v, ts, n in back] == [
        (r["event_id"], r["venue"], r["ts"], r["notional_usd"]) for r in rows
    ]
    assert native.query("SELECT sum(notional_usd) FROM {db}.liq_proto") == (["sum(notional_usd)"], [(6000.0,)])


def test_rejected_insert_raises_store_error(native):
    row = {"asset": "BTC", "venue": "x", "ts": ms_to_datetime(0), "event_id": "e", "notional_usd": 1.0}
    with pytest.raises(StoreError) as err:
        native.insert_rows("no_such_table", [row])
    message = str(err.value)
    assert "cwtest.no_such_table" in message and "doesn't exist" in message
    assert "Stack trace" not in message
    with pytest.raises(StoreError, match="notional_usd"):
        native.insert_rows("liq_proto", [{**row, "notional_usd": "lots"}])
    with pytest.raises(StoreError, match="Syntax error"):
        native.query("SELEKT 1")
    assert native.query("SELECT count() FROM liq_proto") == (["count()"], [(0,)])
