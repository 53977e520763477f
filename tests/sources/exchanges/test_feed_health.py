"""feed_health events: JSON Schema, pydantic model, ClickHouse DDL and its entries in pipeline/sinks/rows.py."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from pipeline.sinks import rows as rowlib
from pipeline.sources.exchanges.health import (
    FEED_HEALTH_TOPIC,
    LIQUIDATIONS_LOST,
    STATUSES,
    FeedHealth,
    FeedStats,
    HealthReporter,
)

from .conftest import ROOT, validate_health

SCHEMA = json.loads((ROOT / "schemas" / "feed_health.schema.json").read_text())
DDL = (ROOT / "schemas" / "clickhouse" / "070_feed_health.sql").read_text()

# The entries pipeline/sinks/rows.py must hold for feed_health (the test checks they are there).
TABLE_FOR_TYPE_ENTRY = {"feed_health": "feed_health"}
COLUMNS_ENTRY = {"feed_health": (
    "event_id", "venue", "status", "ts", "detail", "messages_per_s", "liquidations_per_s", "trades_per_s", "errors",
    "reconnects", "gap_ms", "window_s", "schema_version", "raw",
)}


def reporter(has_liq=True) -> HealthReporter:
    st = FeedStats()
    st.reset_window(1_700_000_000_000)
    return HealthReporter("bybit", ["BTCUSDT"], st, has_liquidations=has_liq)


def test_every_status_validates_and_ids_are_unique():
    r = reporter()
    now = 1_700_000_000_000
    evs = [r.event("connected", now, "x"), r.gap_start(now + 1, "lost"), r.gap_end(now + 501, 500),
           r.event("disconnected", now + 600, "stopped")]
    r.stats.w_messages, r.stats.w_trades, r.stats.w_liquidations, r.stats.w_errors = 120, 100, 3, 2
    evs.append(r.rates(now + 60_000))
    for e in evs:
        validate_health(e)
    assert [e["status"] for e in evs] == list(STATUSES[:1]) + ["gap_start", "gap_end", "disconnected", "rates"]
    assert len({e["event_id"] for e in evs}) == len(evs)
    assert LIQUIDATIONS_LOST in evs[1]["detail"] and evs[2]["gap_ms"] == 500
    rates = evs[-1]
    assert rates["messages_per_s"] == 2.0 and rates["trades_per_s"] == pytest.approx(100 / 60, abs=1e-3)
    assert rates["errors"] == 2 and rates["window_s"] == 60.0
    assert r.stats.w_messages == 0  # the window starts over after a rates event
    with pytest.raises(ValueError):
        r.event("bogus", now)


def test_no_liquidation_warning_for_venues_without_a_liquidation_feed():
    r = reporter(has_liq=False)
    assert "liquidations" not in r.gap_start(1, "x")["detail"]


def test_schema_model_and_ddl_agree():
    props = set(SCHEMA["properties"])
    assert props == set(FeedHealth.model_fields)
    assert FEED_HEALTH_TOPIC == "exchange.feed_health"
    ddl_cols = re.findall(r"^\s{4}(\w+)\s+", DDL.split("(", 1)[1].split("ENGINE")[0], re.M)
    assert ddl_cols[-2:] == ["raw", "inserted_at"]
    assert tuple(ddl_cols[:-1]) == COLUMNS_ENTRY["feed_health"]
    # every schema field is a column, except the symbols array (kept in raw)
    assert props - {"type", "symbols"} == set(ddl_cols[:-2])
    assert "ReplacingMergeTree" in DDL and "ORDER BY (venue, ts, event_id)" in DDL and "{db}.feed_health" in DDL


def test_rows_entries_store_in_chdb(tmp_path_factory):
    """rows.py holds the entries; apply the DDL on embedded chDB and insert through it."""
    from pipeline.sinks import _chdb
    from pipeline.sinks.clickhouse import open_store

    for k, v in TABLE_FOR_TYPE_ENTRY.items():
        assert rowlib.TABLE_FOR_TYPE[k] == v
    for k, v in COLUMNS_ENTRY.items():
        assert rowlib.COLUMNS[k] == v
    with _chdb._SESSIONS_LOCK:  # chDB opens one data path per process
        already = list(_chdb._SESSIONS)
    path = already[0] if already else str(tmp_path_factory.mktemp("chdb-feed-health"))
    database = f"fh_{uuid.uuid4().hex[:8]}"
    store = open_store(f"chdb://{path}?database={database}")
    try:
        store.apply_schema()
        r = reporter()
        evs = [r.event("connected", 1_700_000_000_000, "ok"), r.gap_end(1_700_000_000_900, 900)]
        assert store.insert_events(evs) == {"feed_health": 2}
        cols, rows = store.query(f"SELECT status, gap_ms, venue, toUnixTimestamp64Milli(ts) FROM {database}.feed_health "
                                 "FINAL ORDER BY ts")
        assert rows == [("connected", 0, "bybit", 1_700_000_000_000), ("gap_end", 900, "bybit", 1_700_000_000_900)]
    finally:
        store.query(f"DROP DATABASE IF EXISTS {database}")
        store.close()
