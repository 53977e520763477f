from __future__ import annotations

import pytest

from pipeline.sources.exchanges.base import BarAggregator, MetaLine, Trade, event_id, split_line

from .conftest import validate_event


def t(ts, price, usd, side, symbol="BTCUSDT", venue="binance-usdm"):
    return Trade(venue, symbol, "BTC", ts, price, usd / price, usd, side)


def test_split_line_formats():
    assert split_line('1626992741.06217: {"a": 1}') == (1626992741062, {"a": 1})
    assert split_line(b'{"a": 1}\n') == (None, {"a": 1})
    with pytest.raises(MetaLine):
        split_line("wss://fstream.binance.com/stream?streams=x <-> 1626992740.179554")
    with pytest.raises(MetaLine):
        split_line('wss://www.bitmex.com/realtime <- 1626993367.874177: {"op":"subscribe"}')
    with pytest.raises(MetaLine):
        split_line("   \n")
    with pytest.raises(ValueError):
        split_line("1626992741.06217: {not json")
    with pytest.raises(ValueError):
        split_line(b"\xff\xfe garbage")


def test_event_id_stable_and_distinct():
    a = event_id("bybit", "BTCUSDT", ts=5, parts=("Buy", "0.1", "100"))
    assert a == event_id("bybit", "BTCUSDT", ts=5, parts=("Buy", "0.1", "100"))
    assert a != event_id("bybit", "BTCUSDT", ts=5, parts=("Sell", "0.1", "100"))
    assert a.startswith("bybit:BTCUSDT:5:")
    assert event_id("bitmex", "XBTUSD", "abc") == "bitmex:XBTUSD:abc"


def test_bars_emit_on_later_second_and_flush():
    agg = BarAggregator()
    assert agg.add(t(1000, 10.0, 100.0, "buy")) == []
    assert agg.add(t(1500, 12.0, 50.0, "sell")) == []
    assert agg.add(t(1999, 9.0, 25.0, "buy")) == []
    out = agg.add(t(3000, 11.0, 10.0, "sell"))
    assert len(out) == 1
    b = out[0]
    assert (b.ts, b.open, b.high, b.low, b.close, b.trade_count) == (1000, 10.0, 12.0, 9.0, 9.0, 3)
    assert (b.buy_volume_usd, b.sell_volume_usd) == (125.0, 50.0)
    validate_event(b.model_dump(mode="json"))
    # another symbol has its own bar; a late trade is dropped and counted
    assert agg.add(t(1200, 1.0, 1.0, "buy", symbol="ETHUSDT")) == []
    assert agg.add(t(2500, 11.0, 10.0, "buy")) == []
    assert agg.late_trades == 1
    rest = agg.flush()
    assert [(b.symbol, b.ts) for b in rest] == [("ETHUSDT", 1000), ("BTCUSDT", 3000)]
    assert agg.flush() == []


def test_flush_before():
    agg = BarAggregator()
    agg.add(t(1000, 10.0, 1.0, "buy"))
    agg.add(t(5000, 10.0, 1.0, "buy", symbol="ETHUSDT"))
    assert [b.symbol for b in agg.flush_before(2000)] == ["BTCUSDT"]
    assert [b.symbol for b in agg.flush()] == ["ETHUSDT"]
