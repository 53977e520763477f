"""Bybit's retired liquidation topics and legacy trades: the venue's documented examples, side
convention (position side: "Buy" = a long was liquidated), units and event time."""

from __future__ import annotations

import copy

import pytest

from pipeline.sources.exchanges import get_venue

from .conftest import doc_example, validate_event

RECV = 1_700_000_000_000


def parse(msg):
    r = get_venue("bybit").parse(msg, RECV)
    assert not r.errors, r.errors
    for ev in r.liquidations:
        validate_event(ev.model_dump(mode="json"))
    return r


def test_v5_liquidation_topic_docs_example():
    msg = doc_example("bybit_v5_liquidation_docs_example.json")
    [liq] = parse(msg).liquidations
    assert liq.side == "long"  # "Buy" = a long position was liquidated
    assert liq.ts == 1673251091822 and liq.received_ts == RECV
    assert liq.asset == "GALA" and liq.symbol == "GALAUSDT"
    assert liq.quantity == 1637.0 and liq.price == 0.03803
    assert liq.notional_usd == pytest.approx(1637 * 0.03803)
    assert liq.completeness == "sampled"  # at most one per symbol per second
    sell = copy.deepcopy(msg)
    sell["data"]["side"] = "Sell"
    [short] = parse(sell).liquidations
    assert short.side == "short" and short.event_id != liq.event_id
    assert parse(msg).liquidations[0].event_id == liq.event_id


def test_v2_liquidation_docs_example_inverse_usd_contracts():
    [liq] = parse(doc_example("bybit_v2_liquidation_docs_example.json")).liquidations
    assert liq.side == "short" and liq.ts == 1631608881954
    assert liq.asset == "ETH" and liq.notional_usd == 3655.0  # ETHUSD qty is USD contracts
    assert liq.quantity == pytest.approx(3655 / 3384.15)


def test_v2_polled_liquidations_keep_their_ids():
    msg = {"topic": "liquidation.BTCUSD", "generated": True,
           "data": [{"id": 1234, "qty": 100, "side": "Buy", "time": 1588839744516, "symbol": "BTCUSD", "price": 9000},
                    {"id": 1235, "qty": 50, "side": "Sell", "time": 1588839744517, "symbol": "BTCUSD", "price": 9001}]}
    a, b = parse(msg).liquidations
    assert (a.side, b.side) == ("long", "short")
    assert a.event_id == "bybit:BTCUSD:1234" and a.notional_usd == 100.0


def test_v2_usdt_perpetual_trade_and_iso_time():
    msg = {"topic": "trade.BTCUSDT", "data": [
        {"symbol": "BTCUSDT", "tick_direction": "PlusTick", "price": "50000.5", "size": 0.25,
         "timestamp": "2021-05-19T12:00:01.000Z", "trade_time_ms": "1621425601123", "side": "Sell", "trade_id": "a"},
        {"symbol": "BTCUSDT", "price": "50000", "size": 0.5, "timestamp": "2020-03-12T10:15:21.456Z",
         "side": "Buy", "trade_id": "b"}]}
    a, b = parse(msg).trades
    assert a.ts == 1621425601123 and a.qty_base == 0.25 and a.taker_side == "sell"
    assert a.notional_usd == pytest.approx(12500.125)
    assert b.ts == 1584008121456 and b.taker_side == "buy"


@pytest.mark.parametrize("data", [
    {"price": "1", "side": "Long", "size": "1", "symbol": "BTCUSDT", "updatedTime": 1},
    {"price": "1", "side": "Buy", "size": "0", "symbol": "BTCUSDT", "updatedTime": 1},
    {"price": "1", "side": "Buy", "size": "1", "symbol": "BTCUSDT"},
    {},
])
def test_retired_topic_bad_rows_are_errors(data):
    r = get_venue("bybit").parse({"topic": "liquidation.BTCUSDT", "data": data}, RECV)
    assert r.errors and not r.liquidations
