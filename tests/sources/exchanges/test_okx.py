"""OKX's older liquidation and trade shapes: the v5 REST liquidation-orders response and OKEx v3
tables (as archived by tardis.dev), with their side conventions and contract sizes."""

from __future__ import annotations

import pytest

from pipeline.sources.exchanges import get_venue

RECV = 1_700_000_000_000


def parse(msg):
    r = get_venue("okx").parse(msg, RECV)
    assert not r.errors, r.errors
    return r


def test_v3_swap_liquidation_type_3_is_a_long():
    msg = {"table": "swap/liquidation", "data": [
        {"loss": "0", "size": "2", "price": "9273.1", "created_at": "2020-03-12T10:15:21.000Z", "type": "3",
         "instrument_id": "BTC-USD-SWAP"},
        {"loss": "0.01", "size": "10", "price": "100.5", "created_at": "2020-03-12T10:15:22.500Z", "type": "4",
         "instrument_id": "ETH-USDT-SWAP"}]}
    a, b = parse(msg).liquidations
    assert a.side == "long" and a.ts == 1584008121000
    assert a.notional_usd == 200.0  # BTC-USD-SWAP: 100 USD per contract
    assert b.side == "short" and b.ts == 1584008122500
    assert b.quantity == pytest.approx(10 * 0.1) and b.notional_usd == pytest.approx(100.5)  # ETH-USDT ctVal 0.1 ETH


def test_v3_futures_liquidation_and_trades():
    liq = {"table": "futures/liquidation", "data": [{"loss": "0", "size": "1", "price": "8000", "type": "3",
                                                    "created_at": "2020-03-12T10:15:21Z", "instrument_id": "BTC-USD-200327"}]}
    [l] = parse(liq).liquidations
    assert l.asset == "BTC" and l.symbol == "BTC-USD-200327" and l.notional_usd == 100.0
    tr = {"table": "spot/trade", "data": [{"instrument_id": "BTC-USDT", "price": "8000.1", "side": "sell", "size": "0.5",
                                            "timestamp": "2020-03-12T10:15:21.123Z", "trade_id": "1"}]}
    [t] = parse(tr).trades
    assert t.qty_base == 0.5 and t.taker_side == "sell" and t.ts == 1584008121123


def test_v5_rest_response_reads_like_the_channel():
    msg = {"code": "0", "msg": "", "data": [{"details": [
        {"bkLoss": "0", "bkPx": "20000", "ccy": "", "posSide": "long", "side": "sell", "sz": "3", "ts": "1666000000000"}],
        "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP", "instType": "SWAP", "totalLoss": "", "uly": "BTC-USDT"}]}
    [l] = parse(msg).liquidations
    assert l.side == "long" and l.quantity == pytest.approx(0.03) and l.ts == 1666000000000


@pytest.mark.parametrize("msg", [
    {"table": "swap/liquidation", "data": [{"size": "2", "price": "1", "created_at": "2020-03-12T10:15:21Z",
                                           "type": "5", "instrument_id": "BTC-USD-SWAP"}]},
    {"table": "swap/liquidation", "data": [{"size": "2", "price": "1", "created_at": "yesterday",
                                           "type": "3", "instrument_id": "BTC-USD-SWAP"}]},
    {"table": "margin/liquidation", "data": []},
    {"code": "51001", "msg": "Instrument ID does not exist", "data": []},
])
def test_bad_old_shapes_are_errors(msg):
    r = get_venue("okx").parse(msg, RECV)
    assert r.errors and not r.liquidations


# The liquidation-orders push as the OKX v5 docs show it (a short on IOST-USDT-SWAP), whose contract size
# the bundled snapshot does not hold.
DOCS_PUSH = {"id": "1512", "arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{"details": [
    {"bkLoss": "0", "bkPx": "0.007831", "ccy": "", "posSide": "short", "side": "buy", "sz": "13", "ts": "1692266434010"}],
    "instFamily": "IOST-USDT", "instId": "IOST-USDT-SWAP", "instType": "SWAP", "uly": "IOST-USDT"}]}
BTC_ROW = {"details": [{"bkLoss": "0", "bkPx": "60000", "ccy": "", "posSide": "net", "side": "sell", "sz": "500",
                        "ts": "1692266434011"}], "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP", "instType": "SWAP",
           "uly": "BTC-USDT"}


def test_a_row_of_an_unsized_swap_is_left_out_alone_and_named():
    """The channel carries the whole market: one instrument without a contract size must not cost the
    message's other rows, nor count as a broken message."""
    alone = parse(DOCS_PUSH)
    assert alone.liquidations == [] and alone.skipped == "liquidation:unsized:IOST-USDT-SWAP"
    both = parse({**DOCS_PUSH, "data": [BTC_ROW, *DOCS_PUSH["data"]]})
    [l] = both.liquidations
    assert (l.symbol, l.asset, l.side) == ("BTC-USDT-SWAP", "BTC", "long")  # net mode, a sell order: a long
    assert l.quantity == pytest.approx(5.0) and l.notional_usd == pytest.approx(300_000)  # ctVal 0.01 BTC


def test_the_docs_push_reads_once_its_contract_size_is_known(monkeypatch):
    from pipeline.sources.exchanges import okx

    snapshot = okx.load_instruments("okx")
    monkeypatch.setattr(okx, "load_instruments",
                        lambda venue: {**snapshot, "linear": {**snapshot["linear"], "IOST-USDT": 1000}})
    okx._instrument.cache_clear()
    try:
        [l] = parse(DOCS_PUSH).liquidations
    finally:
        monkeypatch.undo()
        okx._instrument.cache_clear()
    assert (l.side, l.price, l.quantity) == ("short", 0.007831, 13_000) and l.ts == 1692266434010
