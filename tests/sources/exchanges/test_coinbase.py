"""Coinbase Exchange: the real cryptofeed session's matches (the maker's `side`, so the taker is the
opposite; USD-quoted products only), skipped and refused messages, and the live subscription."""

from __future__ import annotations

import json

import pytest

from pipeline.sources.archives import detect, normalize_file
from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.base import ParseError, iso_ms
from pipeline.sources.exchanges.coinbase import Coinbase
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines

from ..archives.builders import TARDIS_HEADER, assert_same_bars
from .conftest import SESSIONS, session_messages, validate_event

RECV = 1_700_000_000_000
SESSION = SESSIONS / "COINBASE.ws.28.0"
# the first USD match of the recording
MATCH = {"type": "match", "trade_id": 1568268, "maker_order_id": "cac01d6d-8009-4c33-8e0d-f7f853d7c1bc",
         "taker_order_id": "3dec64e4-f6ad-4ca8-ad3f-e5b1a0eb0d06", "side": "sell", "size": "450", "price": "0.791",
         "product_id": "SKL-USD", "sequence": 201390075, "time": "2021-04-17T16:43:37.121358Z"}


def recorded() -> list[dict]:
    return session_messages(SESSION.name)


def parse(msg):
    r = get_venue("coinbase").parse(msg, RECV)
    assert not r.errors, r.errors
    return r


def test_recorded_usd_matches_are_trades_with_the_takers_side():
    msgs = recorded()
    assert MATCH in msgs
    usd = [m for m in msgs if m.get("type") == "match" and m["product_id"].split("-")[1] == "USD"]
    assert len(usd) == 52
    trades = [t for m in msgs for t in parse(m).trades]
    assert len(trades) == len(usd)
    for t, raw in zip(trades, usd):
        assert t.taker_side == {"buy": "sell", "sell": "buy"}[raw["side"]]
        assert t.qty_base == float(raw["size"]) and t.price == float(raw["price"])
        assert t.notional_usd == pytest.approx(float(raw["size"]) * float(raw["price"]))
        assert t.trade_id == str(raw["trade_id"]) and t.asset == "SKL" and t.symbol == "SKL-USD"


def test_the_first_match_is_a_taker_buy():
    [t] = parse(MATCH).trades
    assert (t.taker_side, t.ts, t.qty_base, t.notional_usd) == ("buy", 1618677817121, 450.0, pytest.approx(355.95))
    assert get_venue("coinbase").trade_rows(MATCH) == [("SKL-USD", 1618677817121, "0.791", "450", False)]
    maker_bought = dict(MATCH, side="buy")
    assert parse(maker_bought).trades[0].taker_side == "sell"
    assert get_venue("coinbase").trade_rows(maker_bought)[0][4] is True  # the taker sold


def test_non_usd_products_and_last_match_are_skipped_not_errors():
    msgs = recorded()
    other = [m for m in msgs if m.get("type") == "match" and m["product_id"].split("-")[1] != "USD"]
    assert {m["product_id"].split("-")[1] for m in other} == {"BTC", "EUR", "GBP"} and len(other) == 45
    for m in other:
        r = parse(m)
        assert not r.trades and r.skipped == "trade:non_usd_quote"
        assert get_venue("coinbase").trade_rows(m) is None
    last = [m for m in msgs if m.get("type") == "last_match"]
    assert len(last) == 10 and all(parse(m).skipped == "last_match" and not parse(m).trades for m in last)


def test_recorded_session_has_no_errors():
    stats = NormalizeStats()
    events = list(normalize_lines("coinbase", SESSION.read_bytes().splitlines(), stats=stats))
    assert stats.errors == 0 and stats.trades == 52 and stats.liquidations == 0
    for e in events:
        validate_event(e)
    assert {k: stats.skipped[k] for k in ("l2update", "snapshot", "ticker", "subscriptions")} == {
        "l2update": 9719, "snapshot": 10, "ticker": 107, "subscriptions": 3}


@pytest.mark.parametrize("quote", ["USDC", "USDT"])
def test_stablecoin_quotes_count_as_usd(quote):
    [t] = parse(dict(MATCH, product_id=f"SKL-{quote}")).trades
    assert t.notional_usd == pytest.approx(355.95) and t.asset == "SKL"


# Coinbase's answer to a subscription with an unknown product, as quoted in coinbase/coinbase-pro-node issue #174
REFUSAL = {"type": "error", "message": "Failed to subscribe", "reason": "Invalid product ID provided"}


@pytest.mark.parametrize("msg,needle", [
    (REFUSAL,
     "Invalid product ID provided"),
    ({"type": "received", "product_id": "BTC-USD"}, None),
    ({"type": "full_snapshot"}, "unknown type"),
    (dict(MATCH, side="Sell"), "side"),
    (dict(MATCH, size="0"), "size"),
    (dict(MATCH, time="yesterday"), "time"),
    (dict(MATCH, product_id="SKLUSD"), "not a Coinbase product id"),
    ({k: v for k, v in MATCH.items() if k != "trade_id"}, "trade_id"),
])
def test_errors_say_why(msg, needle):
    r = get_venue("coinbase").parse(msg, RECV)
    if needle is None:
        assert not r.errors and r.skipped == msg["type"]
    else:
        assert r.errors and needle in r.errors[0] and not r.trades


def test_symbols_and_live_subscription():
    cb = Coinbase()
    assert not cb.has_liquidations
    cb.check_symbol("BTC-USD")
    with pytest.raises(ParseError, match="quoted in EUR"):
        cb.check_symbol("BTC-EUR")
    spec = Coinbase.live
    assert spec.url(["BTC-USD"]) == "wss://ws-feed.exchange.coinbase.com" and spec.app_ping is None
    assert [json.loads(f) for f in spec.subscribe(["BTC-USD", "ETH-USD"])] == [
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channels": ["matches"]}]
    assert spec.leverage_subscribe(["BTC-USD"]) == []
    assert spec.refused(REFUSAL, ["BTC-FOO"]) == "Failed to subscribe: Invalid product ID provided"
    assert spec.refused({"type": "subscriptions", "channels": []}, []) is None


def test_tardis_csv_of_the_recorded_matches_gives_the_message_bars(tmp_path):
    """tardis.dev's `side` is the taker's, so a CSV row carries the opposite of the match's `side`."""
    matches = [m for m in recorded() if m.get("type") == "match" and m["product_id"].endswith("-USD")]
    rows = [TARDIS_HEADER]
    for m in matches:
        us = iso_ms(m["time"]) * 1000 + int(m["time"][-4:-1])  # with the sub-millisecond digits
        rows.append(f"coinbase,{m['product_id']},{us},{us},{m['trade_id']},{'buy' if m['side'] == 'sell' else 'sell'},"
                    f"{m['price']},{m['size']}")
    path = tmp_path / "coinbase_trades_2021-04-17_SKL-USD.csv"
    path.write_text("\n".join(rows) + "\n")
    stats = NormalizeStats()
    got = [e for e in normalize_file(detect(path), stats=stats) if e["type"] == "trade_flow"]
    want = [e for e in normalize_lines("coinbase", SESSION.read_bytes().splitlines()) if e["type"] == "trade_flow"]
    assert stats.errors == 0 and stats.trades == len(matches) == 52
    assert_same_bars(got, want)
