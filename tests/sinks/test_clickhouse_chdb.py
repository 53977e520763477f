"""The Store on embedded chDB: schema, inserts, retry dedup, FINAL collapse, views, queries."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from pipeline.sinks.base import REVISED_IN_PLACE
from pipeline.sinks.clickhouse import StoreError, open_store, schema_dir

UTC = dt.timezone.utc
TABLES = ["alert_stages", "alerts", "deadletter", "etf_flows", "etf_flows_daily", "etf_flows_latest",
          "exchange_netflow_1h", "feed_health", "leverage", "leverage_1m", "liquidations", "liquidations_1m", "liquidations_1m_rollup",
          "trade_flow", "trade_flow_1m", "trade_flow_1m_rollup", "trades", "whale_inflows_1d", "whale_transfers",
          "whale_transfers_latest"]


def counts(store, final: bool = False) -> dict[str, int]:
    tables = ["whale_transfers", "liquidations", "trade_flow", "etf_flows", "alerts", "deadletter"]
    return {t: store.query(f"SELECT count() FROM {{db}}.{t}{' FINAL' if final else ''}")[1][0][0] for t in tables}


def test_apply_schema_is_idempotent(fresh_store):
    files = sorted(p.name for p in schema_dir().glob("*.sql"))
    assert fresh_store.apply_schema() == files
    assert fresh_store.apply_schema() == files
    _, rows = fresh_store.query("SHOW TABLES FROM {db}")
    assert sorted(r[0] for r in rows) == TABLES


def test_mixed_batch_counts_per_table(store, ev):
    batch = [*ev.one_of_each(), ev.liquidation("liq-2"), ev.liquidation("liq-3")]
    assert store.insert_events(batch) == {
        "whale_transfers": 1, "liquidations": 3, "trade_flow": 1, "etf_flows": 1, "alerts": 1, "deadletter": 1,
    }
    assert counts(store) == {
        "whale_transfers": 1, "liquidations": 3, "trade_flow": 1, "etf_flows": 1, "alerts": 1, "deadletter": 1,
    }


def test_a_row_no_column_can_hold_is_left_out_and_counted_not_retried_forever(store, ev):
    """A date the contract's pattern lets through but no calendar has (an ETF flow of 2025-02-30) would fail the
    insert on every retry and hold every later row back; an integer written as a float (1000.0, which JSON
    Schema counts an integer) goes into its integer column as the integer."""
    bad = {**ev.etf_flow(date="2025-02-28"), "date": "2025-02-30", "event_id": "etf:IBIT:2025-02-30"}
    bars = {**ev.trade_flow(), "interval_ms": 10_000.0, "trade_count": 10.0, "schema_version": 1.0}
    before = store.unstorable
    assert store.insert_events([bad, ev.etf_flow(), bars]) == {"etf_flows": 1, "trade_flow": 1}
    assert store.unstorable == before + 1
    _, rows = store.query("SELECT interval_ms, trade_count FROM {db}.trade_flow")
    assert rows == [(10_000, 10)]


def test_retried_batch_is_dropped_by_its_dedup_token(store, ev):
    """Except in the tables whose rows are revised in place: written again, their copies collapse under FINAL."""
    # Two months, so the batch is split into two parts: each must be recognised on the retry.
    batch = [*ev.one_of_each(), ev.liquidation("liq-sep", ts=ev.T0 + 20 * 86_400_000)]
    first = store.insert_events(batch)
    before, before_final = counts(store), counts(store, final=True)
    assert store.insert_events(list(reversed(batch))) == first  # the server reports the rows it was sent
    after = counts(store)
    assert {t: n for t, n in after.items() if t not in REVISED_IN_PLACE} == \
        {t: n for t, n in before.items() if t not in REVISED_IN_PLACE}
    assert {t: after[t] for t in REVISED_IN_PLACE} == {t: 2 * before[t] for t in REVISED_IN_PLACE}
    assert counts(store, final=True) == before_final


def test_a_replay_batched_differently_leaves_the_latest_revision_last(store, ev):
    """After a crash the input is read again from the last commit and the same rows come in other batches. An
    alert amended in the meantime, or a transfer retracted, must end as its latest revision, not the one
    before it written again."""
    other = ev.alert(alert_id="ETH:x", stage="watch")
    r0 = ev.alert(stage="cascade")
    r1 = {**r0, "revision": 1, "amended": True, "severity": "high"}
    w0 = ev.whale_transfer("bitcoin:w:0")
    w1 = {**w0, "retracted": True, "observed_ts": w0["observed_ts"] + 1}
    for batch in ([other, w0], [r0], [r1, w1]):  # as first delivered
        store.insert_events(batch)
    for batch in ([other, w0, r0], [r1, w1]):  # the replay, batched otherwise: [r1, w1] is a batch seen before
        store.insert_events(batch)
    _, alerts = store.query("SELECT alert_id, revision, severity FROM {db}.alerts FINAL ORDER BY alert_id")
    assert alerts == [("BTC:bitcoin:abc:0", 1, "high"), ("ETH:x", 0, "critical")]
    _, transfers = store.query("SELECT event_id, retracted FROM {db}.whale_transfers FINAL")
    assert transfers == [("bitcoin:w:0", True)]


def test_an_alert_keeps_its_highest_revision_whatever_order_it_was_written_in(store, ev):
    """Two workers during a rebalance can write an amendment before the revision it amends."""
    r0 = ev.alert(stage="cascade")
    r1 = {**r0, "revision": 1, "amended": True, "severity": "high"}
    store.insert_events([r1])
    store.insert_events([r0])
    _, rows = store.query("SELECT revision, severity FROM {db}.alerts FINAL")
    assert rows == [(1, "high")]


def test_a_transfer_re_mined_in_another_block_counts_once_in_the_flows(store, ev):
    """A reorg that puts the transaction in a later block: the watcher publishes it again with its new block
    time (a second key under FINAL) and retracts nothing, since the new chain holds it."""
    t = ev.T0
    first = ev.whale_transfer("ethereum:0xabc:native", ts=t)
    again = {**first, "block_time": t + 12_000, "observed_ts": first["observed_ts"] + 20_000}
    store.insert_events([first])
    store.insert_events([again])
    _, rows = store.query("SELECT deposits, inflow_usd FROM {db}.whale_inflows_1d")
    assert rows == [(1, 2.7e8)]
    _, rows = store.query("SELECT transfers, inflow_usd FROM {db}.exchange_netflow_1h")
    assert rows == [(1, 2.7e8)]
    _, rows = store.query("SELECT toUnixTimestamp64Milli(block_time) FROM {db}.whale_transfers_latest")
    assert rows == [(t + 12_000,)]


def test_redelivered_event_in_another_batch_collapses_under_final(store, ev):
    store.insert_events([ev.liquidation("a"), ev.liquidation("b", ts=ev.T0 + 1)])
    store.insert_events([ev.liquidation("a"), ev.liquidation("c", ts=ev.T0 + 2), ev.alert(), ev.alert()])
    assert counts(store)["liquidations"] == 4
    assert counts(store, final=True)["liquidations"] == 3
    _, ids = store.query("SELECT event_id FROM {db}.liquidations FINAL ORDER BY event_id")
    assert ids == [("a",), ("b",), ("c",)]
    assert counts(store, final=True)["alerts"] == 1


def test_revised_event_in_an_identical_id_set_is_still_written(store, ev):
    store.insert_events([ev.alert(stage="sell")])
    revised = {**ev.alert(stage="sell"), "severity": "high"}
    store.insert_events([revised])
    _, rows = store.query("SELECT severity FROM {db}.alerts FINAL")
    assert rows == [("high",)]


def test_liquidations_1m_view(store, ev):
    t = ev.T0  # 03:00:00.000
    store.insert_events([
        ev.liquidation("1", ts=t + 1_000, side="long", price=100.0, quantity=2.0),
        ev.liquidation("2", ts=t + 30_000, side="long", price=90.0, quantity=1.0, completeness="sampled"),
        ev.liquidation("3", ts=t + 59_999, side="long", price=95.0, quantity=4.0),
        ev.liquidation("4", ts=t + 60_000, side="long", price=80.0, quantity=1.5),
        ev.liquidation("5", ts=t + 10_000, side="short", price=110.0, quantity=3.0, venue="bybit"),
    ])
    store.insert_events([ev.liquidation("2", ts=t + 30_000, side="long", price=90.0, quantity=1.0,
                                        completeness="sampled")])  # re-delivered: must not count twice
    names, rows = store.query("SELECT * FROM {db}.liquidations_1m ORDER BY minute, venue, side")
    assert names == ["minute", "asset", "venue", "side", "liquidations", "notional_usd_sum", "quantity_sum",
                     "price_min", "price_max", "sampled"]
    m0 = dt.datetime(2025, 8, 15, 3, 0, tzinfo=UTC)
    m1 = dt.datetime(2025, 8, 15, 3, 1, tzinfo=UTC)
    assert rows == [
        (m0, "BTC", "binance-usdm", "long", 3, 200.0 + 90.0 + 380.0, 7.0, 90.0, 100.0, 1),
        (m0, "BTC", "bybit", "short", 1, 330.0, 3.0, 110.0, 110.0, 0),
        (m1, "BTC", "binance-usdm", "long", 1, 120.0, 1.5, 80.0, 80.0, 0),
    ]


def test_trade_flow_1m_view(store, ev):
    t = ev.T0
    last = ev.trade_flow(ts=t + 50_000, open=104, high=106, low=97, close=98, buy=30, sell=3, trades=5)
    store.insert_events([
        ev.trade_flow(ts=t + 20_000, open=102, high=108, low=101, close=104, buy=10, sell=1, trades=3),
        ev.trade_flow(ts=t, open=100, high=103, low=99, close=102, buy=20, sell=2, trades=4),
        last,
    ])
    store.insert_events([last])  # re-delivered bar: counted once
    names, rows = store.query("SELECT * FROM {db}.trade_flow_1m")
    assert names == ["minute", "asset", "venue", "buy_usd", "sell_usd", "open_price", "high_price", "low_price",
                     "close_price", "trades", "missing_s"]
    assert rows == [(dt.datetime(2025, 8, 15, 3, 0, tzinfo=UTC), "BTC", "bybit", 60.0, 6.0, 100.0, 108.0, 97.0,
                     98.0, 12, 30.0)]  # three 10 s bars: 30 s of the minute have none


def test_alerts_round_trip_their_json_columns(store, ev):
    alert = ev.alert()
    store.insert_events([alert])
    names, rows = store.query("SELECT deposit, sell, cascade, etf_context, raw, "
                              "JSONExtractFloat(cascade, 'long_share') FROM {db}.alerts FINAL")
    deposit, sell, cascade, etf_context, raw, share = rows[0]
    assert orjson.loads(deposit) == alert["deposit"]
    assert orjson.loads(sell) == alert["sell"]
    assert orjson.loads(cascade) == alert["cascade"]
    assert etf_context is None
    assert orjson.loads(raw) == alert
    assert share == 0.91


def test_query_returns_names_and_python_values(store, ev):
    store.insert_events([ev.liquidation("x", ts=1_755_226_800_123), ev.etf_flow()])
    names, rows = store.query("SELECT event_id, ts, price, asset FROM liquidations")  # unqualified name
    assert names == ["event_id", "ts", "price", "asset"]
    assert rows == [("x", dt.datetime(2025, 8, 15, 3, 0, 0, 123_000, tzinfo=UTC), 100_000.0, "BTC")]
    _, rows = store.query("SELECT count() AS n, sum(net_flow_usd) FROM {db}.etf_flows WHERE 0")
    assert rows == [(0, 0.0)]
    assert store.query("SELECT 1 AS x WHERE 0") == (["x"], [])


def test_insert_rows_generic_and_errors(store):
    assert store.insert_rows("etf_flows", []) == 0
    row = {"event_id": "e", "date": dt.date(2025, 8, 14), "fund": "F", "asset": "BTC", "net_flow_usd": 1.0,
           "published_ts": dt.datetime(2025, 8, 15, tzinfo=UTC), "source": "s", "raw": "{}"}
    assert store.insert_rows("etf_flows", [row, {**row, "event_id": "f"}]) == 2
    with pytest.raises(StoreError, match="no_such_table"):
        store.insert_rows("no_such_table", [row])
    with pytest.raises(StoreError, match="etf_flows"):
        store.insert_rows("etf_flows", [{**row, "net_flow_usd": "not a number"}])
    with pytest.raises(StoreError, match="lacks column"):
        store.insert_rows("etf_flows", [row, {"event_id": "g"}])
    with pytest.raises(StoreError):
        store.query("SELEKT nonsense")


def test_open_store_urls(chdb_path, monkeypatch):
    default = open_store(f"chdb://{chdb_path}")
    assert default.database == "cascadewatch"
    default.close()
    monkeypatch.chdir(chdb_path.parent)
    relative = open_store(f"chdb://./{chdb_path.name}?database=rel")  # same path, written relatively
    assert relative.query("SELECT 1 AS one") == (["one"], [(1,)])
    with pytest.raises(StoreError, match="one data path per process"):
        open_store(f"chdb://{chdb_path}-other")
    relative.close()
    with pytest.raises(ValueError, match="unknown ClickHouse URL scheme 'mysql'"):
        open_store("mysql://localhost/db")
    with pytest.raises(ValueError, match="no scheme"):
        open_store("/var/chdb")


def test_alert_without_a_whale_deposit_is_stored(store, ev):
    alert = {**ev.alert(), "alert_id": "nowhale", "kind": "liquidation_cascade", "deposit": None, "sell": None}
    assert store.insert_events([alert]) == {"alerts": 1}
    _, rows = store.query("SELECT kind, deposit FROM alerts FINAL WHERE alert_id = 'nowhale'")
    assert rows == [("liquidation_cascade", "null")]


def test_exchange_netflow_view_counts_retractions_out(store, ev):
    t = ev.T0
    inflow = ev.whale_transfer("bitcoin:in:0", ts=t)  # 2,400 BTC, $270M, to binance
    outflow = {**ev.whale_transfer("bitcoin:out:0", ts=t + 60_000), "direction": "exchange_outflow",
               "from_entity": "binance", "to_entity": None, "usd_value": 1e8, "amount": 1000.0}
    dropped = ev.whale_transfer("bitcoin:reorged:0", ts=t + 120_000)
    store.insert_events([inflow, outflow, dropped])
    store.insert_events([{**dropped, "retracted": True}])  # the reorg retraction replaces it under FINAL
    _, rows = store.query("SELECT entity, inflow_usd, outflow_usd, netflow_usd, netflow_amount, transfers "
                          "FROM exchange_netflow_1h WHERE asset = 'BTC'")
    assert rows == [("binance", 2.7e8, 1e8, 1.7e8, 1400.0, 2)]


def test_leverage_events_are_stored_with_their_missing_figures_null(store, ev):
    funding = ev.leverage(funding=0.0001, mark=115_000.0)
    oi = ev.leverage(ts=ev.T0 + 5_000, oi=52_000.0, oi_usd=5.98e9, source="openInterest")
    assert store.insert_events([funding, oi, oi]) == {"leverage": 3}
    _, rows = store.query("SELECT source, open_interest, open_interest_usd, funding_rate, funding_interval_ms, "
                          "toUnixTimestamp64Milli(next_funding_ts), mark_price FROM leverage FINAL ORDER BY ts")
    assert rows == [("markPrice", None, None, 0.0001, 28_800_000, ev.T0 + 3_600_000, 115_000.0),
                    ("openInterest", 52_000.0, 5.98e9, None, None, None, None)]


def test_leverage_1m_carries_figures_forward_and_weights_funding(store, ev):
    m0 = ev.T0 - ev.T0 % 60_000
    batch = [
        ev.leverage(ts=m0 + 1_000, oi=1.0, oi_usd=1e9, source="openInterest"),
        ev.leverage(ts=m0 + 2_000, funding=0.0001, mark=100_000.0),  # same instrument: funding, no OI
        ev.leverage(ts=m0 + 3_000, venue="bybit", oi=3.0, oi_usd=3e9, funding=0.0003, mark=100_010.0,
                    source="tickers"),
        ev.leverage(ts=m0 + 61_000, funding=0.0002, mark=99_000.0),  # next minute: binance without OI
        ev.leverage(ts=m0 + 62_000, venue="bybit", oi=2.0, oi_usd=2e9, source="tickers"),
    ]
    store.insert_events(batch + batch[:2])  # a re-delivery counts once
    _, rows = store.query("SELECT toUnixTimestamp64Milli(toDateTime64(minute, 3)), open_interest_usd, funding_8h, "
                          "instruments FROM leverage_1m WHERE asset = 'BTC' ORDER BY minute")
    assert [(r[0], r[1], r[3]) for r in rows] == [(m0, 4e9, 2), (m0 + 60_000, 3e9, 2)]
    assert rows[0][2] == pytest.approx((0.0001 * 1e9 + 0.0003 * 3e9) / 4e9)  # weighted by open interest
    assert rows[1][2] == pytest.approx((0.0002 * 1e9 + 0.0003 * 2e9) / 3e9)  # bybit's funding carried forward
