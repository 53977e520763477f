"""Per venue: side convention, units/contract size, notional, timestamp field, event_id stability,
and that every produced event validates against the model and the JSON Schema."""

from __future__ import annotations

import copy

import pytest

from pipeline.sources.exchanges import get_venue

from .conftest import doc_example, validate_event
from .venue_messages import deribit_trade, okx_liq

RECV = 1_700_000_000_000


def liqs(venue, msg):
    r = get_venue(venue).parse(msg, RECV)
    assert not r.errors, r.errors
    for ev in r.liquidations:
        validate_event(ev.model_dump(mode="json"))
    return r.liquidations


def trades(venue, msg):
    r = get_venue(venue).parse(msg, RECV)
    assert not r.errors, r.errors
    return r.trades


# ---------------------------------------------------------------- Binance

def test_binance_usdm_doc_example():
    msg = doc_example("binance_usdm_forceOrder_docs_example.json")
    [liq] = liqs("binance-usdm", msg)
    assert liq.side == "long"  # o.S SELL = a long was liquidated
    assert liq.ts == msg["o"]["T"] == 1568014460893
    assert liq.quantity == 0.014 and liq.price == 9910.0
    assert liq.notional_usd == pytest.approx(0.014 * 9910)
    assert liq.asset == "BTC" and liq.venue == "binance-usdm" and liq.completeness == "sampled"
    assert liq.received_ts == RECV


def test_binance_uses_T_not_E_and_buy_is_short():
    msg = doc_example("binance_usdm_forceOrder_docs_example.json")
    msg["E"] = msg["o"]["T"] + 777
    msg["o"]["S"] = "BUY"
    [liq] = liqs("binance-usdm", msg)
    assert liq.ts == msg["o"]["T"] and liq.side == "short"


def test_binance_coinm_contracts_in_usd():
    msg = doc_example("binance_coinm_forceOrder_docs_example.json")
    [liq] = liqs("binance-coinm", msg)
    # q=1 contract of BTCUSD = 100 USD, filled at ap 9496.5
    assert liq.notional_usd == 100.0
    assert liq.price == 9496.5
    assert liq.quantity == pytest.approx(100 / 9496.5)
    assert liq.side == "long" and liq.ts == 1591154240949 and liq.symbol == "BTCUSD_200925"
    eth = copy.deepcopy(msg)
    eth["o"].update({"s": "ETHUSD_PERP", "ps": "ETHUSD", "q": "3", "z": "3", "ap": "2000"})
    [liq2] = liqs("binance-coinm", eth)
    assert liq2.notional_usd == 30.0 and liq2.asset == "ETH"


def test_binance_combined_stream_and_event_id_stability():
    raw = doc_example("binance_usdm_forceOrder_docs_example.json")
    wrapped = {"stream": "!forceOrder@arr", "data": copy.deepcopy(raw)}
    a = liqs("binance-usdm", raw)[0]
    b = liqs("binance-usdm", wrapped)[0]
    assert a.event_id == b.event_id == liqs("binance-usdm", raw)[0].event_id
    other = copy.deepcopy(raw)
    other["o"]["q"] = other["o"]["z"] = "0.015"
    assert liqs("binance-usdm", other)[0].event_id != a.event_id


def test_binance_aggtrade_maker_flag():
    msg = {"e": "aggTrade", "E": 2, "a": 1, "s": "BTCUSDT", "p": "100.5", "q": "2", "f": 1, "l": 1, "T": 1, "m": True}
    [tr] = trades("binance-usdm", msg)
    assert tr.taker_side == "sell" and tr.ts == 1 and tr.notional_usd == 201.0 and tr.qty_base == 2.0
    msg["m"] = False
    assert trades("binance-usdm", msg)[0].taker_side == "buy"
    coinm = dict(msg, s="BTCUSD_PERP", q="5", p="50000")
    [tc] = trades("binance-coinm", coinm)
    assert tc.notional_usd == 500.0 and tc.qty_base == pytest.approx(0.01)


# ---------------------------------------------------------------- Bybit

def test_bybit_all_liquidation_doc_example():
    msg = doc_example("bybit_v5_allLiquidation_docs_example.json")
    [liq] = liqs("bybit", msg)
    assert liq.side == "short"  # S "Sell" = a short position was liquidated (position side)
    assert liq.ts == 1739502302929  # data T, not the message ts
    assert liq.quantity == 20000.0 and liq.price == 0.04499
    assert liq.notional_usd == pytest.approx(20000 * 0.04499)
    assert liq.asset == "ROSE" and liq.completeness == "full"
    buy = copy.deepcopy(msg)
    buy["data"][0]["S"] = "Buy"
    [l2] = liqs("bybit", buy)
    assert l2.side == "long" and l2.event_id != liq.event_id
    assert liqs("bybit", msg)[0].event_id == liq.event_id


def test_bybit_inverse_liquidation_in_usd_contracts():
    msg = {"topic": "allLiquidation.BTCUSD", "type": "snapshot", "ts": 2,
           "data": [{"T": 1, "s": "BTCUSD", "S": "Buy", "v": "5000", "p": "50000"},
                    {"T": 1, "s": "BTCUSD", "S": "Sell", "v": "100", "p": "50000"}]}
    a, b = liqs("bybit", msg)
    assert a.notional_usd == 5000.0 and a.quantity == pytest.approx(0.1) and a.side == "long"
    assert b.side == "short" and a.event_id != b.event_id


def test_bybit_public_trade_doc_example():
    [tr] = trades("bybit", doc_example("bybit_v5_publicTrade_docs_example.json"))
    assert tr.taker_side == "buy" and tr.ts == 1672304486865
    assert tr.qty_base == 0.001 and tr.notional_usd == pytest.approx(16.5785)


def test_bybit_block_trades_are_no_taker_flow():
    """publicTrade `BT`: "Whether it is a block trade order or not" (Bybit v5 docs); agreed off the book."""
    msg = doc_example("bybit_v5_publicTrade_docs_example.json")
    block = copy.deepcopy(msg)
    block["data"][0]["BT"] = True
    bybit = get_venue("bybit")
    r = bybit.parse(block, RECV)
    assert r.trades == [] and not r.errors and r.skipped == "block_trades"
    assert bybit.trade_rows(block) is None and len(bybit.trade_rows(msg)) == 1  # the fast path leaves it to parse
    both = copy.deepcopy(msg)
    both["data"] = [*block["data"], *msg["data"]]
    assert [t.ts for t in trades("bybit", both)] == [1672304486865]


def test_bybit_unknown_topic_is_an_error():
    r = get_venue("bybit").parse({"topic": "liquidations2.BTCUSDT", "data": {}}, RECV)
    assert r.errors and not r.liquidations


# ---------------------------------------------------------------- OKX

def test_okx_liquidation_linear_ctval():
    [liq] = liqs("okx", okx_liq("BTC-USDT-SWAP", "25", "70000", "long", "sell"))
    assert liq.quantity == pytest.approx(0.25)  # 25 contracts x 0.01 BTC
    assert liq.notional_usd == pytest.approx(17500)
    assert liq.side == "long" and liq.ts == 1692266434010 and liq.completeness == "sampled"


def test_okx_liquidation_inverse_and_net_mode():
    [liq] = liqs("okx", okx_liq("BTC-USD-SWAP", "3", "60000", "net", "buy"))
    assert liq.notional_usd == 300.0 and liq.side == "short"  # net mode: a buy order closes a short
    [l2] = liqs("okx", okx_liq("BTC-USD-SWAP", "3", "60000", "net", "sell"))
    assert l2.side == "long"
    [l3] = liqs("okx", okx_liq("UNI-USD-SWAP", "3", "5", "short", "buy"))
    assert l3.notional_usd == 30.0 and l3.side == "short"


def test_okx_unknown_linear_ctval_is_left_out_not_guessed():
    r = get_venue("okx").parse(okx_liq("FOO-USDT-SWAP", "1", "1", "long", "sell"), RECV)
    assert not r.liquidations and not r.errors and r.skipped == "liquidation:unsized:FOO-USDT-SWAP"


def test_okx_trades_units():
    msg = {"arg": {"channel": "trades", "instId": "BTC-USD-220527"},
           "data": [{"instId": "BTC-USD-220527", "tradeId": "7849", "px": "30218.8", "sz": "1", "side": "buy",
                     "ts": "1652459199958"}]}
    [tr] = trades("okx", msg)
    assert tr.notional_usd == 100.0 and tr.taker_side == "buy" and tr.ts == 1652459199958
    spot = {"arg": {"channel": "trades", "instId": "BTC-USDT"},
            "data": [{"instId": "BTC-USDT", "tradeId": "1", "px": "30000", "sz": "0.5", "side": "sell", "ts": "5"}]}
    [ts] = trades("okx", spot)
    assert ts.notional_usd == 15000.0 and ts.qty_base == 0.5 and ts.taker_side == "sell"


# ---------------------------------------------------------------- BitMEX

def test_bitmex_liquidation_insert_xbtusd():
    msg = {"table": "liquidation", "action": "insert",
           "data": [{"orderID": "a1b2", "symbol": "XBTUSD", "side": "Sell", "price": 30000, "leavesQty": 6000}]}
    [liq] = liqs("bitmex", msg)
    assert liq.side == "long" and liq.notional_usd == 6000.0 and liq.quantity == pytest.approx(0.2)
    assert liq.event_id == "bitmex:XBTUSD:a1b2" and liq.ts == RECV  # rows carry no time: receive time
    upd = {"table": "liquidation", "action": "update", "data": [{"orderID": "a1b2", "symbol": "XBTUSD", "leavesQty": 10}]}
    r = get_venue("bitmex").parse(upd, RECV)
    assert not r.liquidations and r.skipped == "liquidation:update"
    msg["data"][0]["side"] = "Buy"
    assert liqs("bitmex", msg)[0].side == "short"


def test_bitmex_liquidation_unknown_contract_size_is_error():
    msg = {"table": "liquidation", "action": "insert",
           "data": [{"orderID": "x", "symbol": "ETHUSD", "side": "Sell", "price": 2000, "leavesQty": 10}]}
    assert get_venue("bitmex").parse(msg, RECV).errors


def test_bitmex_trade_units_and_partial_skipped():
    row = {"timestamp": "2021-07-22T22:36:10.014Z", "symbol": "XBTUSD", "side": "Sell", "size": 500, "price": 32000.0,
           "tickDirection": "MinusTick", "trdMatchID": "m1", "grossValue": 1, "homeNotional": 0.015625,
           "foreignNotional": 500}
    [tr] = trades("bitmex", {"table": "trade", "action": "insert", "data": [row]})
    assert tr.taker_side == "sell" and tr.notional_usd == 500.0 and tr.ts == 1626993370014
    r = get_venue("bitmex").parse({"table": "trade", "action": "partial", "data": [row]}, RECV)
    assert r.skipped == "trade:partial" and not r.trades
    xbt_quoted = dict(row, symbol="XRPU21", price=0.00001819)
    r = get_venue("bitmex").parse({"table": "trade", "action": "insert", "data": [xbt_quoted]}, RECV)
    assert not r.trades and not r.errors


# ---------------------------------------------------------------- Deribit

@pytest.mark.parametrize("liq,direction,expected", [
    ("T", "sell", ["long"]), ("T", "buy", ["short"]),
    ("M", "buy", ["long"]), ("M", "sell", ["short"]),
    ("MT", "sell", ["long", "short"]), ("MT", "buy", ["short", "long"]),
])
def test_deribit_liquidation_sides(liq, direction, expected):
    out = liqs("deribit", deribit_trade(liq, direction))
    assert [x.side for x in out] == expected
    assert all(x.notional_usd == 1000.0 and x.quantity == pytest.approx(0.02) for x in out)
    assert all(x.ts == 1626993723900 and x.completeness == "full" for x in out)
    assert len({x.event_id for x in out}) == len(out)
    assert [x.event_id for x in out] == [x.event_id for x in liqs("deribit", deribit_trade(liq, direction))]


def test_deribit_trade_units_and_options_skipped():
    [tr] = trades("deribit", deribit_trade())
    assert tr.notional_usd == 1000.0 and tr.taker_side == "sell"
    [lin] = trades("deribit", deribit_trade(name="BTC_USDC-PERPETUAL", amount=0.5))
    assert lin.qty_base == 0.5 and lin.notional_usd == 25000.0
    r = get_venue("deribit").parse(deribit_trade(name="BTC-24SEP21-8000-P", price=0.01), RECV)
    assert not r.trades and not r.errors and r.skipped == "option_trades"


def test_deribit_block_trades_are_no_taker_flow():
    """`block_trade_id`: "Block trade id - when trade was part of a block trade" (Deribit API docs)."""
    msg = deribit_trade()
    msg["params"]["data"][0]["block_trade_id"] = "154"
    deribit = get_venue("deribit")
    r = deribit.parse(msg, RECV)
    assert not r.trades and not r.errors and r.skipped == "block_trades"
    assert deribit.trade_rows(msg) is None and deribit.trade_rows(deribit_trade()) is not None


# ---------------------------------------------------------------- Hyperliquid

def test_hyperliquid_trades():
    msg = {"channel": "trades", "data": [
        {"coin": "BTC", "side": "A", "px": "45250.5", "sz": "0.5", "hash": "0x1", "time": 1704067200000, "tid": 1},
        {"coin": "ETH", "side": "B", "px": "2000", "sz": "2", "hash": "0x2", "time": 1704067200001, "tid": 2},
        {"coin": "@107", "side": "B", "px": "1", "sz": "2", "hash": "0x3", "time": 1704067200001, "tid": 3}]}
    a, b = trades("hyperliquid", msg)
    assert (a.taker_side, a.notional_usd, a.ts) == ("sell", 22625.25, 1704067200000)
    assert (b.taker_side, b.notional_usd) == ("buy", 4000.0)


def test_hyperliquid_user_fills_are_not_market_liquidations():
    fills = doc_example("hyperliquid_userFills_with_liquidation_ccxt_fixture.json")
    r = get_venue("hyperliquid").parse({"channel": "userFills", "data": {"user": "0x1", "fills": fills}}, RECV)
    assert r.skipped == "per_user_feed" and not r.liquidations and not r.errors
