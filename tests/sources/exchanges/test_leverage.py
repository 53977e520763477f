"""Open interest, funding and mark price from each venue's documented messages: units, times, the
funding interval, Bybit's snapshot + delta merge, and that every event satisfies the contract."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.contracts.models import Leverage
from pipeline.sources.exchanges import get_venue

from .conftest import SESSIONS, doc_example
from .replay_server import recorded

RECV = 1_700_000_000_000
H = 3_600_000
_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).resolve().parents[3] / "schemas" / "leverage.schema.json").read_text()))


def leverage(venue, msg, parser=None):
    r = (parser or get_venue(venue)).parse(msg, RECV)
    assert not r.errors, r.errors
    for ev in r.leverage:
        obj = ev.model_dump(mode="json")
        _SCHEMA.validate(obj)
        Leverage.model_validate(obj)
    return r.leverage


def test_binance_usdm_mark_price_then_polled_open_interest_in_usd():
    binance = get_venue("binance-usdm")
    [mark] = leverage("binance-usdm", doc_example("binance_usdm_markPrice_docs_example.json"), binance)
    assert (mark.symbol, mark.asset, mark.ts, mark.source) == ("BTCUSDT", "BTC", 1562305380000, "markPrice")
    assert mark.mark_price == 11794.15 and mark.funding_rate == 0.00038167
    assert mark.funding_interval_ms == 8 * H and mark.next_funding_ts == 1562306400000
    assert mark.open_interest is None
    [oi] = leverage("binance-usdm", doc_example("binance_usdm_openInterest_docs_example.json"), binance)
    assert (oi.ts, oi.source, oi.open_interest) == (1589437530011, "openInterest", 10659.509)
    assert oi.open_interest_usd == pytest.approx(10659.509 * 11794.15)  # base units at the last mark
    assert oi.funding_rate is None and oi.mark_price is None


def test_binance_funding_interval_is_the_step_its_next_funding_time_moves_by():
    """Most symbols pay every 8 h; those `fundingInfo` lists every 4 h or 1 h. The stream does not say which,
    but its next funding time `T` moves on by the interval at each funding (updates come every second)."""
    binance = get_venue("binance-usdm")
    doc = doc_example("binance_usdm_markPrice_docs_example.json")
    e0, t0 = doc["E"], doc["T"]

    def mark(symbol: str, at: int, next_ts: int) -> int:
        [m] = leverage("binance-usdm", {**doc, "s": symbol, "E": at, "T": next_ts}, binance)
        return m.funding_interval_ms

    assert [mark("BTCUSDT", e0, t0), mark("BTCUSDT", e0 + 1000, t0 + 8 * H)] == [8 * H, 8 * H]
    assert [mark("ETHUSDT", e0, t0), mark("ETHUSDT", e0 + 1000, t0 + 4 * H), mark("ETHUSDT", e0 + 2000, t0 + 4 * H)] \
        == [8 * H, 4 * H, 4 * H]
    # Back after three hours away: T moved by two fundings, which is no step of one.
    assert mark("SOLUSDT", e0, t0) == 8 * H and mark("SOLUSDT", e0 + 1000, t0 + H) == H
    assert mark("SOLUSDT", e0 + 3 * H, t0 + 3 * H) == H
    assert mark("ETHUSDT", e0 + 10 * H, t0 + 12 * H) == 4 * H  # a longer gap: the interval learned stands


def test_binance_open_interest_before_any_mark_price_has_no_usd():
    [oi] = leverage("binance-usdm", doc_example("binance_usdm_openInterest_docs_example.json"))
    assert oi.open_interest == 10659.509 and oi.open_interest_usd is None


def test_binance_coinm_contracts_are_usd_and_delivery_has_no_funding():
    [oi] = leverage("binance-coinm", doc_example("binance_coinm_openInterest_docs_example.json"))
    assert oi.asset == "BTC" and oi.open_interest == 517 and oi.open_interest_usd == 517 * 100  # BTCUSD: $100
    [mark] = leverage("binance-coinm", doc_example("binance_coinm_markPrice_docs_example.json"))
    assert mark.symbol == "BTCUSD_201225" and mark.mark_price == 10934.62615417
    assert mark.funding_rate is None and mark.next_funding_ts is None and mark.funding_interval_ms is None


def test_binance_combined_stream_wrapper_and_subscribe_ack():
    msg = {"stream": "btcusdt@markPrice@1s", "data": doc_example("binance_usdm_markPrice_docs_example.json")}
    assert len(leverage("binance-usdm", msg)) == 1
    assert get_venue("binance-usdm").parse({"result": None, "id": 1}, RECV).skipped == "ack"


def test_bybit_tickers_snapshot_then_deltas_are_merged():
    bybit = get_venue("bybit")
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")
    [first] = leverage("bybit", snap, bybit)
    assert (first.asset, first.ts, first.source) == ("BTC", 1673272861686, "tickers")
    assert first.open_interest == 68744.761 and first.open_interest_usd == 1183601235.91
    assert first.funding_rate == -0.000212 and first.next_funding_ts == 1673280000000
    assert first.mark_price == 17217.33 and first.funding_interval_ms == 8 * H
    # a delta carries only what changed: the rest is the snapshot's
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "cs": 24987956060, "ts": 1673272861786,
             "data": {"symbol": "BTCUSDT", "openInterest": "68700.000", "openInterestValue": "1182830000.00"}}
    [second] = leverage("bybit", delta, bybit)
    assert second.open_interest == 68700.0 and second.open_interest_usd == 1182830000.0
    assert second.funding_rate == -0.000212 and second.mark_price == 17217.33 and second.ts == 1673272861786
    funding = {"topic": "tickers.BTCUSDT", "type": "delta", "cs": 24987956061, "ts": 1673272861886,
               "data": {"symbol": "BTCUSDT", "fundingRate": "0.0001", "markPrice": "17100.00"}}
    [third] = leverage("bybit", funding, bybit)
    assert third.funding_rate == 0.0001 and third.open_interest == 68700.0 and third.mark_price == 17100.0


def test_bybit_delta_before_a_snapshot_is_skipped_not_guessed():
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1673272861786,
             "data": {"symbol": "BTCUSDT", "openInterest": "68700.000"}}
    r = get_venue("bybit").parse(delta, RECV)
    assert r.leverage == [] and not r.errors and r.skipped == "tickers_delta_before_snapshot"


def test_bybit_inverse_open_interest_is_usd_contracts():
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")
    snap = {**snap, "topic": "tickers.BTCUSD", "data": {**snap["data"], "symbol": "BTCUSD"}}
    [ev] = leverage("bybit", snap)
    assert ev.symbol == "BTCUSD" and ev.asset == "BTC" and ev.open_interest == 68744.761
    # one-dollar contracts: the USD is the contract count (openInterestValue is in BTC on inverse symbols)
    assert ev.open_interest_usd == 68744.761


def test_bybit_single_side_open_interest_is_preferred_where_sent():
    """Where Bybit sends `singleOpenInterest`, its `openInterest` counts both sides; the other venues count one."""
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")
    snap = {**snap, "data": {**snap["data"], "singleOpenInterest": "34372.38", "singleOpenInterestValue": "591800617.95"}}
    [ev] = leverage("bybit", snap)
    assert ev.open_interest == 34372.38 and ev.open_interest_usd == 591800617.95


def test_okx_open_interest_and_funding_rate_channels():
    [oi] = leverage("okx", doc_example("okx_open_interest_docs_example.json"))
    assert (oi.symbol, oi.asset, oi.ts, oi.source) == ("BTC-USDT-SWAP", "BTC", 1743041250440, "open-interest")
    assert oi.open_interest == pytest.approx(2216113.01) and oi.open_interest_usd == pytest.approx(1939251795.547)
    [fr] = leverage("okx", doc_example("okx_funding_rate_docs_example.json"))
    assert (fr.symbol, fr.ts, fr.source) == ("BTC-USD-SWAP", 1700724675402, "funding-rate")
    assert fr.funding_rate == pytest.approx(0.0001875391284828)
    assert fr.next_funding_ts == 1700726400000 and fr.funding_interval_ms == 8 * H  # nextFundingTime - fundingTime


def test_deribit_perpetual_ticker_and_recorded_option_tickers_skipped():
    [ev] = leverage("deribit", doc_example("deribit_ticker_perpetual_docs_example.json"))
    assert (ev.symbol, ev.asset, ev.ts, ev.source) == ("BTC-PERPETUAL", "BTC", 1597244851057, "ticker")
    assert ev.open_interest == 117979530 and ev.open_interest_usd == 117979530  # USD on the inverse perpetual
    assert ev.funding_rate == 0.00001212 and ev.funding_interval_ms == 8 * H and ev.mark_price == 11617.8
    deribit, tickers = get_venue("deribit"), 0
    for msg in recorded("DERIBIT.ws.1.0"):  # real traffic: option tickers only
        if str(msg.get("params", {}).get("channel", "")).startswith("ticker."):
            r = deribit.parse(msg, RECV)
            assert not r.errors and not r.leverage and r.skipped == "option_ticker"
            tickers += 1
    assert tickers > 50


def test_hyperliquid_asset_contexts_rest_and_websocket():
    answer = doc_example("hyperliquid_metaAndAssetCtxs_docs_example.json")
    r = get_venue("hyperliquid").asset_contexts(answer, RECV)
    assert not r.errors and [e.asset for e in r.leverage] == ["BTC", "ETH", "HPOS"]
    btc = r.leverage[0]
    assert btc.open_interest == 688.11 and btc.open_interest_usd == pytest.approx(688.11 * 14.3161)
    assert btc.funding_rate == 0.0000125 and btc.funding_interval_ms == H and btc.ts == RECV
    ws = {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": answer[1][1]}}
    [eth] = leverage("hyperliquid", ws)
    assert (eth.asset, eth.source, eth.mark_price, eth.open_interest) == ("ETH", "activeAssetCtx", 6.0436, 1882.55)


def bitmex_partial():
    row = doc_example("bitmex_instrument_xbtusd_nautilus_fixture.json")
    return {"table": "instrument", "action": "partial", "keys": ["symbol"], "data": [row],
            "filter": {"symbol": "XBTUSD"}}


def test_bitmex_instrument_partial_then_updates_are_merged():
    bitmex = get_venue("bitmex")
    [first] = leverage("bitmex", bitmex_partial(), bitmex)
    assert (first.symbol, first.asset, first.source) == ("XBTUSD", "BTC", "instrument")
    assert first.ts == 1732491199034  # 2024-11-24T23:33:19.034Z
    assert first.open_interest == 411647400 and first.open_interest_usd == 411647400  # 1 contract = 1 USD
    assert first.funding_rate == 0.00011 and first.funding_interval_ms == 8 * H
    assert first.next_funding_ts == 1732507200000 and first.mark_price == 97849.76  # 2024-11-25T04:00Z
    # openValue (satoshis) agrees: the USD open interest is openValue / 1e8 BTC at the mark price
    assert first.open_interest_usd == pytest.approx(420691293378 / 1e8 * 97849.76, rel=1e-3)
    # an update carries only what changed: the rest is the partial's
    update = {"table": "instrument", "action": "update", "data": [
        {"symbol": "XBTUSD", "openInterest": 411700000, "openValue": 420700000000,
         "timestamp": "2024-11-24T23:33:20.000Z"}]}
    [second] = leverage("bitmex", update, bitmex)
    assert second.open_interest == 411700000 and second.ts == 1732491200000
    assert second.funding_rate == 0.00011 and second.mark_price == 97849.76
    mark = {"table": "instrument", "action": "update", "data": [
        {"symbol": "XBTUSD", "fairPrice": 97900.1, "markPrice": 97900.1, "timestamp": "2024-11-24T23:33:25.000Z"}]}
    [third] = leverage("bitmex", mark, bitmex)
    assert third.mark_price == 97900.1 and third.open_interest == 411700000
    # a price tick without a leverage figure changes nothing worth an event
    tick = {"table": "instrument", "action": "update", "data": [
        {"symbol": "XBTUSD", "lastPrice": 97901.0, "timestamp": "2024-11-24T23:33:26.000Z"}]}
    r = bitmex.parse(tick, RECV)
    assert not r.errors and not r.leverage and r.skipped == "instrument_without_leverage_change"


def test_bitmex_instrument_update_before_a_partial_is_skipped_not_guessed():
    update = {"table": "instrument", "action": "update", "data": [
        {"symbol": "XBTUSD", "openInterest": 411700000, "timestamp": "2024-11-24T23:33:20.000Z"}]}
    r = get_venue("bitmex").parse(update, RECV)
    assert r.leverage == [] and not r.errors and r.skipped == "instrument_update_before_partial"


def test_bitmex_linear_open_interest_has_no_usd_without_a_contract_size():
    msg = bitmex_partial()
    msg["data"][0] = {**msg["data"][0], "symbol": "XBTUSDT"}
    [ev] = leverage("bitmex", msg)
    assert ev.asset == "BTC" and ev.open_interest == 411647400 and ev.open_interest_usd is None


@pytest.mark.parametrize("venue, msg", [
    ("bybit", {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 1, "data": {"symbol": "BTCUSDT",
                                                                                "openInterest": "-5"}}),
    ("okx", {"arg": {"channel": "open-interest"}, "data": [{"instId": "BTC-USDT-SWAP", "oi": "x", "ts": "1"}]}),
    ("deribit", {"method": "subscription", "params": {"channel": "ticker.BTC-PERPETUAL.100ms",
                                                      "data": {"instrument_name": "BTC-PERPETUAL", "timestamp": 1}}}),
    ("hyperliquid", {"channel": "activeAssetCtx", "data": {"coin": "BTC"}}),
    ("binance-usdm", {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": "0", "r": "0.0001", "T": 2}),
    ("bitmex", {"table": "instrument", "action": "partial", "data": [{"symbol": "XBTUSD", "openInterest": 5,
                                                                      "timestamp": "yesterday"}]}),
    ("bitmex", {"table": "instrument", "action": "partial", "data": [{"symbol": "XBTUSD", "fundingRate": "x",
                                                                      "timestamp": "2024-11-24T23:33:20.000Z"}]}),
])
def test_bad_leverage_messages_are_errors_with_a_reason(venue, msg):
    r = get_venue(venue).parse(msg, RECV)
    assert r.errors and not r.leverage
    assert all(len(e) > 5 for e in r.errors)


def test_recorded_sessions_still_give_no_leverage_from_other_channels():
    """OKX tickers, Binance bookTicker/kline etc. in the real recordings are not leverage data."""
    for venue, fname in [("okx", "OKX.ws.1.0"), ("binance-usdm", "BINANCE_FUTURES.ws.1.0")]:
        parser = get_venue(venue)
        assert all(not parser.parse(m, RECV).leverage for m in recorded(fname))
    assert SESSIONS.is_dir()
