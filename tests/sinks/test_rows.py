"""Event dicts -> table rows: every contract type lands in its table with exactly the DDL's columns."""

from __future__ import annotations

import datetime as dt
import re

import orjson
import pytest

from pipeline.sinks import rows
from pipeline.sinks.clickhouse import schema_dir, split_statements
from pipeline.sinks.rollups import ROLLUPS

UTC = dt.timezone.utc
EXPECTED_TABLES = {
    "whale_transfer": "whale_transfers", "liquidation": "liquidations", "trade_flow": "trade_flow",
    "etf_flow": "etf_flows", "alert": "alerts", "deadletter": "deadletter", "feed_health": "feed_health",
    "trade": "trades", "leverage": "leverage",
}


def ddl_columns() -> dict[str, list[str]]:
    """Column names of every CREATE TABLE in schemas/clickhouse, read from the .sql files."""
    tables = {}
    for path in sorted(schema_dir().glob("*.sql")):
        for stmt in split_statements(path.read_text()):
            m = re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)\s*\((.*?)\)\s*ENGINE", stmt, re.S)
            if m:
                tables[m.group(1)] = [line.split()[0] for line in m.group(2).strip().splitlines() if line.strip()]
    return tables


def feed_health_event() -> dict:
    from pipeline.sources.exchanges.health import FeedHealth

    return FeedHealth(event_id="bybit:gap:1", venue="bybit", status="gap_end", ts=1_755_226_800_000,
                      detail="reconnected after 4.2 s; liquidations during the gap are lost", messages_per_s=0.0,
                      liquidations_per_s=0.0, trades_per_s=0.0, errors=0, reconnects=1, gap_ms=4200,
                      window_s=0.0).model_dump(mode="json")


def trade_event() -> dict:
    from pipeline.contracts.models import Trade

    return Trade(event_id="deribit:BTC-PERPETUAL:BTC-1", venue="deribit", symbol="BTC-PERPETUAL", asset="BTC",
                 ts=1_755_226_800_000, price=117_000.0, quantity=0.1, notional_usd=11_700.0, taker_side="buy",
                 trade_id=None, received_ts=1_755_226_800_050).model_dump(mode="json")


def test_every_type_maps_to_its_table(ev):
    assert rows.TABLE_FOR_TYPE == EXPECTED_TABLES
    for event in [*ev.one_of_each(), feed_health_event(), trade_event()]:
        table, row = rows.event_row(event)
        assert table == EXPECTED_TABLES[event["type"]]
        assert list(row) == list(rows.COLUMNS[table])


def test_columns_match_the_ddl_files():
    ddl = ddl_columns()
    rollups = {r.table: r for r in ROLLUPS.values()}  # written by the store from the tables, not from events
    assert set(ddl) == set(EXPECTED_TABLES.values()) | set(rollups)
    for table, cols in ddl.items():
        if table in rollups:
            assert cols == [c.strip() for c in rollups[table].columns.split(",")] + ["refreshed_at"], table
            continue
        assert cols[-1] == "inserted_at"
        assert tuple(cols[:-1]) == rows.COLUMNS[table], table


def test_columns_match_the_tables_in_chdb(store, ev):
    for event in [*ev.one_of_each(), feed_health_event(), trade_event()]:
        table, row = rows.event_row(event)
        _, described = store.query(f"DESCRIBE TABLE {{db}}.{table}")
        insertable = [name for name, *_ in described if name != "inserted_at"]
        assert list(row) == insertable, table


def test_values_are_converted(ev):
    _, row = rows.event_row(ev.liquidation(ts=1_755_226_800_123))
    assert row["ts"] == dt.datetime(2025, 8, 15, 3, 0, 0, 123_000, tzinfo=UTC)
    assert row["received_ts"] == dt.datetime(2025, 8, 15, 3, 0, 0, 373_000, tzinfo=UTC)
    assert row["schema_version"] == 1

    _, row = rows.event_row(ev.etf_flow(date="2025-08-18"))
    assert row["date"] == dt.date(2025, 8, 18)

    _, row = rows.event_row(ev.whale_transfer())
    assert row["from_entity"] is None and row["block_number"] is None and row["retracted"] is False


def test_alert_evidence_becomes_json_text(ev):
    alert = ev.alert()
    _, row = rows.event_row(alert)
    assert orjson.loads(row["deposit"]) == alert["deposit"]
    assert orjson.loads(row["sell"]) == alert["sell"]
    assert row["etf_context"] is None


def test_raw_keeps_the_whole_event_including_unknown_fields(ev):
    event = {**ev.liquidation(), "added_later": {"x": 1}}
    _, row = rows.event_row(event)
    assert orjson.loads(row["raw"]) == event


def test_optional_fields_get_their_defaults(ev):
    event = ev.liquidation()
    del event["schema_version"]
    assert rows.event_row(event)[1]["schema_version"] == 1
    _, row = rows.event_row(ev.deadletter(partition=None, offset=None))
    assert (row["partition"], row["offset"]) == (-1, -1)


def test_unknown_type_and_missing_field_are_refused(ev):
    with pytest.raises(ValueError, match="unknown|known"):
        rows.event_row({"type": "nope"})
    broken = ev.liquidation()
    del broken["price"]
    with pytest.raises(ValueError, match="price"):
        rows.event_row(broken)
