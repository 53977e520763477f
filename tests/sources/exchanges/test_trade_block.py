"""The block fast path for trade messages gives what `Venue.parse` gives, one message at a time:
the same bars, liquidations, errors (same lines, same reasons) and counts, on the real recordings,
the venues' documented examples and broken variants of them; and it is the path trades take."""

from __future__ import annotations

import copy

import orjson
import pytest

from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges import normalize as normalize_mod
from pipeline.sources.exchanges.base import Venue
from pipeline.sources.exchanges.hyperliquid import LIQUIDATOR_VAULTS
from pipeline.sources.exchanges.normalize import NormalizeStats, normalize_lines
from tests.sources.archives.builders import assert_same_bars, iso

from .conftest import SESSIONS, doc_example, validate_event

RECORDINGS = [("binance-usdm", "BINANCE_FUTURES.ws.1.0"), ("bybit", "BYBIT.ws.26.0"), ("okx", "OKX.ws.1.0"),
              ("bitmex", "BITMEX.ws.1.0"), ("deribit", "DERIBIT.ws.1.0"),
              ("kraken-futures", "KRAKEN_FUTURES.ws.1.0"), ("coinbase", "COINBASE.ws.28.0")]

# documented trade messages: Bybit v5 publicTrade (docs example file), Hyperliquid `trades` (the
# WsTrade example of the Hyperliquid API docs / HyperCore stream docs), Deribit `trades.{instrument}`
# (API v2 docs, subscription example, one trade with a liquidation and one without); Kraken Futures
# `trade` (docs example file)
HYPERLIQUID_TRADES = {"channel": "trades", "data": [
    {"coin": "BTC", "side": "B", "px": "72581.0", "sz": "0.00017", "time": 1787259217020,
     "hash": "0x0000000000000000000000000000000000000000000000000000000000000000", "tid": 877707108085800,
     "users": ["0x9b54264d7502f80163ea949038aad771eae67e38", "0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3"]}]}
DERIBIT_TRADES = {"jsonrpc": "2.0", "method": "subscription", "params": {
    "channel": "trades.BTC-PERPETUAL.raw", "data": [
        {"trade_seq": 30289432, "trade_id": "48079254", "timestamp": 1590484156350, "tick_direction": 0,
         "price": 8950.0, "mark_price": 8948.9, "instrument_name": "BTC-PERPETUAL", "index_price": 8955.88,
         "direction": "sell", "amount": 10.0},
        {"trade_seq": 30289433, "trade_id": "48079255", "timestamp": 1590484156350, "tick_direction": 1,
         "price": 8950.0, "mark_price": 8948.9, "instrument_name": "BTC-PERPETUAL", "index_price": 8955.88,
         "direction": "sell", "amount": 30.0, "liquidation": "M"}]}}
# the first USD-quoted match of the cryptofeed Coinbase session
COINBASE_MATCH = {"type": "match", "trade_id": 1568268, "maker_order_id": "cac01d6d-8009-4c33-8e0d-f7f853d7c1bc",
                  "taker_order_id": "3dec64e4-f6ad-4ca8-ad3f-e5b1a0eb0d06", "side": "sell", "size": "450",
                  "price": "0.791", "product_id": "SKL-USD", "sequence": 201390075,
                  "time": "2021-04-17T16:43:37.121358Z"}
OKX_TRADES = {"arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"}, "data": [
    {"instId": "BTC-USDT-SWAP", "tradeId": "130639474", "px": "42219.9", "sz": "0.12", "side": "buy",
     "ts": "1630048897897", "count": "3"}]}


def run(venue: str, lines: list[bytes], fast: bool) -> tuple[list[dict], NormalizeStats]:
    st = NormalizeStats()
    return list(normalize_lines(venue, lines, stats=st, now_ms=1_700_000_000_000, fast=fast)), st


def assert_same(venue: str, lines: list[bytes]) -> list[dict]:
    fast, st_fast = run(venue, lines, True)
    slow, st_slow = run(venue, lines, False)
    kind = lambda evs, t: [e for e in evs if e["type"] == t]  # noqa: E731
    assert_same_bars(kind(fast, "trade_flow"), kind(slow, "trade_flow"))
    by_id = lambda evs: sorted(evs, key=lambda e: e["event_id"])  # noqa: E731
    assert by_id(kind(fast, "liquidation")) == by_id(kind(slow, "liquidation"))
    by_line = lambda evs: sorted(evs, key=lambda e: e["line"])  # noqa: E731
    assert by_line(kind(fast, "error")) == by_line(kind(slow, "error"))
    assert vars(st_fast) == vars(st_slow)
    for e in fast:
        if e["type"] != "error":
            validate_event(e)
    return fast


def cryptofeed_lines(name: str) -> list[bytes]:
    return (SESSIONS / name).read_bytes().splitlines()


def as_tardis(lines: list[bytes]) -> list[bytes]:
    """The recording in tardis.dev's raw layout: '<ISO receipt time> <message>'."""
    out = []
    for line in lines:
        if line.startswith(b"wss://") or not line.strip():
            continue
        stamp, _, body = line.partition(b": ")
        out.append(iso(float(stamp)).encode() + b" " + body)
    return out


@pytest.mark.parametrize("venue,name", RECORDINGS)
def test_recordings_give_the_same_events_either_way(venue, name):
    lines = cryptofeed_lines(name)
    assert_same(venue, lines)
    assert_same(venue, as_tardis(lines))


def test_documented_trade_messages_give_the_same_events_either_way():
    cases = {"bybit": doc_example("bybit_v5_publicTrade_docs_example.json"), "hyperliquid": HYPERLIQUID_TRADES,
             "deribit": DERIBIT_TRADES, "okx": OKX_TRADES,
             "kraken-futures": doc_example("kraken_futures_trade_docs_example.json"), "coinbase": COINBASE_MATCH}
    for venue, msg in cases.items():
        out = assert_same(venue, [orjson.dumps(msg)])
        bars = [e for e in out if e["type"] == "trade_flow"]
        assert len(bars) == 1, venue
    out = assert_same("deribit", [orjson.dumps(DERIBIT_TRADES)])
    assert [e["side"] for e in out if e["type"] == "liquidation"] == ["short"]  # maker bought: a short
    backstop = copy.deepcopy(HYPERLIQUID_TRADES)
    backstop["data"][0]["users"][1] = next(iter(LIQUIDATOR_VAULTS))
    out = assert_same("hyperliquid", [orjson.dumps(HYPERLIQUID_TRADES), orjson.dumps(backstop)])
    assert [e["completeness"] for e in out if e["type"] == "liquidation"] == ["partial"]


def broken_variants(msg: dict, path: list, key: str) -> list[dict]:
    """Copies of a trade message with one field of its first trade made wrong in each way."""
    out = []
    for value in ("nan", "inf", "0", "-1", "abc", True, None, "", 1e400, "1_5", 12, "XYZUSD"):
        m = copy.deepcopy(msg)
        row = m
        for k in path:
            row = row[k]
        row = row[0] if isinstance(row, list) else row
        if value is None:
            row.pop(key)
        else:
            row[key] = value
        out.append(m)
    return out


BROKEN = [
    ("binance-usdm", {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1626912000123, "a": 5,
                                                             "s": "BTCUSDT", "p": "32123.45", "q": "0.012", "f": 1,
                                                             "l": 2, "T": 1626912000120, "m": True}},
     ["data"], ("p", "q", "T", "m", "s")),
    ("bybit", doc_example("bybit_v5_publicTrade_docs_example.json"), ["data"], ("p", "v", "T", "S", "s")),
    ("okx", OKX_TRADES, ["data"], ("px", "sz", "ts", "side", "instId")),
    ("hyperliquid", HYPERLIQUID_TRADES, ["data"], ("px", "sz", "time", "side", "coin")),
    ("deribit", DERIBIT_TRADES, ["params", "data"], ("price", "amount", "timestamp", "direction",
                                                     "instrument_name")),
    ("kraken-futures", doc_example("kraken_futures_trade_docs_example.json"), [],
     ("price", "qty", "time", "side", "product_id", "uid")),
    ("coinbase", COINBASE_MATCH, [], ("price", "size", "time", "side", "product_id", "trade_id")),
]


@pytest.mark.parametrize("venue,msg,path,keys", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_trades_are_reported_as_the_venue_parser_reports_them(venue, msg, path, keys):
    variants = [v for key in keys for v in broken_variants(msg, path, key)]
    good = orjson.dumps(msg)
    lines = []
    for v in variants:  # each broken message between two good ones, some of them in a later block
        lines += [good, orjson.dumps(v), b"not json", good]
    out = assert_same(venue, lines)
    assert any(e["type"] == "error" for e in out)
    assert any(e["type"] == "trade_flow" for e in out)


def test_blocks_do_not_change_the_result(monkeypatch):
    lines = as_tardis(cryptofeed_lines("BINANCE_FUTURES.ws.1.0")) + as_tardis(cryptofeed_lines("OKX.ws.1.0"))
    whole, _ = run("binance-usdm", lines, True)
    monkeypatch.setattr(normalize_mod, "BLOCK_MESSAGES", 7)
    small, _ = run("binance-usdm", lines, True)
    assert_same_bars([e for e in small if e["type"] == "trade_flow"], [e for e in whole if e["type"] == "trade_flow"])
    bitmex = cryptofeed_lines("BITMEX.ws.1.0")  # every trade through Venue.parse: blocks of parsed trades
    whole, _ = run("bitmex", bitmex, True)
    monkeypatch.setattr(normalize_mod, "BLOCK_ROWS", 5)
    small, _ = run("bitmex", bitmex, True)
    assert len(whole) > 5
    assert_same_bars([e for e in small if e["type"] == "trade_flow"], [e for e in whole if e["type"] == "trade_flow"])


def test_trade_messages_skip_the_per_message_parser(monkeypatch):
    calls = []
    real = Venue.parse

    def counting(self, msg, received_ts):
        calls.append(msg)
        return real(self, msg, received_ts)

    monkeypatch.setattr(Venue, "parse", counting)
    lines = cryptofeed_lines("BINANCE_FUTURES.ws.1.0")
    st = NormalizeStats()
    list(normalize_lines("binance-usdm", lines, stats=st, fast=True))
    assert st.trades == 91  # the recording's aggTrades (test_recorded counts them independently)
    assert not any(m.get("data", {}).get("e") == "aggTrade" for m in calls)
    assert st.messages == len(calls) + 91


def test_receipt_times_the_fast_path_cannot_vouch_for_go_to_the_line_splitter():
    msg = orjson.dumps(HYPERLIQUID_TRADES)
    lines = [b"2021-02-30T00:00:00.0000000Z " + msg,  # no such day
             b"2021-02-03T24:00:00.0000000Z " + msg,  # no such hour
             b"2021-02-03T23:59:59.Z " + msg,  # a point without digits
             b"2021-02-03T23:59:59.12a4Z " + msg,
             b"2021-02-03T23:59:59.1234567Z " + msg,
             b"2021-02-03T23:59:59Z " + msg,
             b"2021-02-03T23:59:59 " + msg,
             b"2021-02-03T23:59:59.5+00:00 " + msg,  # an offset: judged by split_line
             b"1626912000.123: " + msg]
    out = assert_same("hyperliquid", lines)
    assert sorted(e["line"] for e in out if e["type"] == "error") == [1, 2, 3, 4]
    assert get_venue("hyperliquid").trade_rows(HYPERLIQUID_TRADES) == [("BTC", 1787259217020, "72581.0", "0.00017",
                                                                         False)]


def test_liquidations_and_bars_come_out_in_time_order():
    """Within a block events go out by time, so a normalized file can be published as it is; only
    each symbol's open bar waits (for that symbol's next trade, or the end of the input)."""
    lines = [x for x in cryptofeed_lines("BINANCE_FUTURES.ws.1.0") if not x.startswith(b"wss://")]
    trade_ts = [orjson.loads(x.partition(b": ")[2])["data"].get("T") for x in lines]
    liq = doc_example("binance_usdm_forceOrder_docs_example.json")
    mixed = []
    for i, (line, t) in enumerate(zip(lines, trade_ts)):  # a liquidation beside every tenth trade, at its time
        mixed.append(line)
        if t and i % 10 == 0:
            mixed.append(orjson.dumps({**liq, "E": t, "o": {**liq["o"], "T": t, "q": str(1 + i)}}))
    out = [e for e in run("binance-usdm", mixed, True)[0] if e["type"] != "error"]
    symbols = {e["symbol"] for e in out if e["type"] == "trade_flow"}
    assert sum(e["type"] == "liquidation" for e in out) == sum(1 for i, t in enumerate(trade_ts) if t and i % 10 == 0)
    body, tail = out[:-len(symbols)], out[-len(symbols):]  # the tail: each symbol's open bar at the end
    assert [e["ts"] for e in body] == sorted(e["ts"] for e in body)
    assert {e["symbol"] for e in tail} == symbols and all(e["type"] == "trade_flow" for e in tail)
