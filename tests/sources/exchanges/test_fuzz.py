"""Arbitrary JSON-ish input never crashes a parser or normalize_lines: it comes back as errors."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.sources.exchanges import VENUES, get_venue
from pipeline.sources.exchanges.normalize import normalize_lines

from .conftest import validate_event

KEYS = ["e", "E", "o", "s", "S", "q", "p", "ap", "z", "T", "m", "stream", "data", "topic", "v", "arg", "channel",
        "instId", "details", "sz", "px", "side", "posSide", "bkPx", "ts", "table", "action", "symbol", "price",
        "leavesQty", "orderID", "homeNotional", "foreignNotional", "timestamp", "method", "params", "direction",
        "amount", "liquidation", "instrument_name", "trade_id", "coin", "time", "event", "result", "id"]
VALUES = ["forceOrder", "aggTrade", "SELL", "BUY", "Buy", "Sell", "buy", "sell", "A", "B", "M", "T", "MT",
          "insert", "trade", "liquidation", "trades", "liquidation-orders", "subscription", "allLiquidation.BTCUSDT",
          "publicTrade.BTCUSDT", "trades.BTC-PERPETUAL.raw", "BTCUSDT", "BTCUSD", "XBTUSD", "BTC-USDT-SWAP",
          "BTC-PERPETUAL", "BTC", "1", "0", "-1", "nan", "inf", "1e400", "", "2021-07-22T22:36:10.014Z"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.sampled_from(VALUES), st.text(max_size=8))
json_ish = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), kids, max_size=6)),
    max_leaves=25)
messages = st.dictionaries(st.sampled_from(KEYS), json_ish, max_size=8)


def _dumps(m) -> bytes:
    try:
        return orjson.dumps(m)
    except (TypeError, orjson.JSONEncodeError):
        return b"{}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(venue=st.sampled_from(sorted(VENUES)), msg=st.one_of(messages, json_ish))
def test_parsers_never_raise(venue, msg):
    r = get_venue(venue).parse(msg, 1)
    for liq in r.liquidations:
        validate_event(liq.model_dump(mode="json"))
    for t in r.trades:
        assert t.price > 0 and t.notional_usd > 0 and t.taker_side in ("buy", "sell")


@settings(max_examples=150, deadline=None)
@given(venue=st.sampled_from(sorted(VENUES)),
       lines=st.lists(st.one_of(st.binary(max_size=60), st.builds(_dumps, messages),
                                st.builds(lambda m: b"1626992741.1: " + _dumps(m), messages)), max_size=6))
def test_normalize_lines_never_raises(venue, lines):
    for obj in normalize_lines(venue, lines, now_ms=1):
        if obj["type"] != "error":
            validate_event(obj)
