"""Live connectors for OKX, BitMEX, Deribit, Hyperliquid, Kraken Futures and Coinbase against the
local replay server.

One session per venue: the feed subscribes (the server checks the exact frames and acknowledges
them as the venue does), receives recorded traffic (cryptofeed's OKX, BitMEX, Deribit, Kraken Futures
and Coinbase sessions) and liquidation/trade messages shaped like the venue docs, loses the
connection mid-stream, reconnects, gets a garbage frame, and must keep the venue's heartbeat going
(Kraken Futures and Coinbase need websocket protocol pings only: the feed sends them nothing after
subscribing). The session ends when everything sent has come out and the venue has seen its
heartbeat twice (a condition, never a fixed time), so a busy machine only makes it slower. Trade
times are shifted by whole seconds to now, so bars are cut as in the recording; the bar grace is
long, so a slow session makes no trade late."""

from __future__ import annotations

import json

import pytest

from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.health import LIQUIDATIONS_LOST
from pipeline.sources.exchanges.live import LiveConfig, LiveFeed, SubscribeError

from .conftest import validate_event, validate_health
from .live_cases import CASES, GRACE_MS, PING_S, heartbeat_seen, no_app_heartbeat
from .replay_server import FAST, Script, hold, local_server, offline_bars
from .run_until import run_feed_to_end, run_feed_until


@pytest.mark.parametrize("venue", sorted(CASES))
def test_venue_session_survives_a_drop_and_loses_nothing(venue):
    case = CASES[venue]()
    first, second = case.halves()
    sent = first + second
    n_trades = sum(len(get_venue(venue).parse(json.loads(f), 0).trades) for f in sent)
    script = Script(case.handler(first, last=False), case.handler(second, last=True))

    def done(feed, events):
        n_liqs = sum(e["type"] == "liquidation" for e in events)
        return heartbeat_seen(case) and feed.stats.trades == n_trades and n_liqs == len(case.liquidations)

    with local_server(script) as url:
        cfg = LiveConfig(venue=venue, symbols=case.symbols, url=url, app_ping_s=PING_S, bar_grace_ms=GRACE_MS,
                         **FAST)
        live, stats, events, _, _ = run_feed_until(cfg, done, "every trade, liquidation and two heartbeats")

    # both connections got exactly the venue's subscribe frames, first
    assert len(case.conns) == 2 and stats.reconnects == 1
    for conn in case.conns:
        assert [json.loads(m) for m, _ in conn.frames[:len(case.subscribe)]] == case.subscribe

    # the heartbeat was kept on the second connection
    after = [m for m, _ in case.conns[1].frames[len(case.subscribe):]]
    if case.ping is not None:
        assert after.count(case.ping) >= 2 and set(after) == {case.ping}
    elif case.heartbeat is no_app_heartbeat:
        assert after == []
    else:
        assert [json.loads(m)["method"] for m in after] == ["public/test"]
    if venue == "bitmex":  # pings only after a quiet spell: none while the venue sent every 50 ms
        quiet = [q for m, q in case.conns[1].frames if m == case.ping]
        assert min(quiet) >= PING_S * 0.9

    # a gap is reported between the two connections
    health = [e for e in events if e["type"] == "feed_health"]
    for h in health:
        validate_health(h)
    assert [h["status"] for h in health] == ["connected", "disconnected", "gap_start", "gap_end", "connected",
                                             "disconnected"]
    assert (LIQUIDATIONS_LOST in health[2]["detail"]) == live.parser.has_liquidations
    assert health[3]["gap_ms"] >= 0

    # every liquidation sent came out once, with the position side of the venue's convention
    liqs = [e for e in events if e["type"] == "liquidation"]
    for e in liqs:
        validate_event(e)
    assert [e["side"] for e in liqs] == case.sides
    assert len({e["event_id"] for e in liqs}) == len(liqs) == len(case.liquidations)

    # every trade sent is in a bar, and the bars are the ones an offline pass cuts
    bars = [e for e in events if e["type"] == "trade_flow"]
    for b in bars:
        validate_event(b)
    assert n_trades >= 10
    assert sum(b["trade_count"] for b in bars) == n_trades == stats.trades and stats.late_trades == 0
    key = lambda b: (b["symbol"], b["ts"])  # noqa: E731
    assert sorted(bars, key=key) == sorted(offline_bars(venue, sent), key=key)

    # only the garbage frame was an error: acks, pongs, heartbeats and recorded books/tickers are not
    assert stats.errors == 1


REFUSALS = [
    ("bitmex", ["FOOUSD"], lambda sub: {"status": 400, "error": "Unknown or expired symbol.", "meta": {},
                                        "request": sub},
     r"bitmex refused the subscription: status 400: Unknown or expired symbol"),
    ("deribit", ["FOO-PERPETUAL"], lambda sub: {"jsonrpc": "2.0", "id": sub["id"], "result": []},
     r"deribit refused the subscription: not subscribed to trades.FOO-PERPETUAL.100ms"),
    ("deribit", ["BTC-PERPETUAL"], lambda sub: {"jsonrpc": "2.0", "id": sub["id"], "error": {
        "code": -32602, "message": "Invalid params", "data": {"param": "channels", "reason": "wrong format"}}},
     r"deribit refused the subscription: code -32602: Invalid params"),
    ("okx", ["FOO-USDT"], lambda sub: {"event": "error", "code": "60018", "connId": "a4d3ae55",
                                       "msg": "Wrong URL or channel:trades,instId:FOO-USDT doesn't exist."},
     r"okx refused the subscription: code 60018: .*FOO-USDT doesn't exist"),
    ("hyperliquid", ["FOO"], lambda sub: {"channel": "error", "data": "Invalid subscription: unknown coin FOO"},
     r"hyperliquid refused the subscription: Invalid subscription"),
    ("kraken-futures", ["PI_FOOUSD"], lambda sub: {"event": "error", "message": "Invalid product id"},
     r"kraken-futures refused the subscription: Invalid product id"),
    ("coinbase", ["FOO-USD"], lambda sub: {"type": "error", "message": "Failed to subscribe",
                                           "reason": "Invalid product ID provided"},
     r"coinbase refused the subscription: Failed to subscribe: Invalid product ID provided"),
]


@pytest.mark.parametrize("venue,symbols,answer,message", REFUSALS, ids=[f"{r[0]}-{r[1][0]}" for r in REFUSALS])
def test_refused_subscription_stops_the_feed_with_the_venues_reason(venue, symbols, answer, message):
    n_frames = 2 if venue == "deribit" else 1  # Deribit: set_heartbeat, then public/subscribe

    def refuse(ws, script):
        for _ in range(n_frames):
            sub = json.loads(script.recv(ws))
        ws.send(json.dumps(answer(sub)))
        hold(ws, 120)  # until the client goes away: a client that retried would open a second connection

    script = Script(refuse)
    with local_server(script) as url:
        with pytest.raises(SubscribeError, match=message):  # the feed stops by itself: it has no duration
            run_feed_to_end(LiveConfig(venue=venue, symbols=symbols, url=url, **FAST))
    assert script.connections == 1  # not retried


@pytest.mark.parametrize("venue,symbol,message", [
    ("bitmex", "XRPU21", "quoted in XBT"),
    ("bitmex", "BTC-PERPETUAL", "unknown instrument"),
    ("deribit", "BTC-27JUN25-100000-C", "an option"),
    ("deribit", "BTCUSDT", "not a Deribit perpetual or future"),
    ("kraken-futures", "PF_XBTEUR", "not quoted in USD"),
    ("kraken-futures", "BTCUSDT", "not a Kraken Futures product id"),
    ("coinbase", "BTC-EUR", "quoted in EUR"),
])
def test_locally_invalid_symbols_fail_before_connecting(venue, symbol, message):
    with pytest.raises(SubscribeError, match=f"{venue}: bad symbol '{symbol}': .*{message}"):
        LiveFeed(LiveConfig(venue=venue, symbols=[symbol]), sink=None)


def test_bitmex_subscribes_liquidations_only_where_it_knows_the_contract_size():
    from pipeline.sources.exchanges.live import SPECS

    [frame] = SPECS["bitmex"].subscribe(["XBTUSD", "ETHUSD"])
    assert json.loads(frame)["args"] == ["trade:XBTUSD", "trade:ETHUSD", "liquidation:XBTUSD"]
