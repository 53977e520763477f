"""The live connector against a LOCAL websockets server (127.0.0.1, no external network) that replays
recorded traffic: the cryptofeed BINANCE_FUTURES session's aggTrade messages, the Binance forceOrder
and Bybit v5 doc examples. The server drops the connection mid-stream and sends a garbage frame.

Replayed messages have their trade times shifted by a whole number of seconds so they are "now"
(bars are cut exactly as in the recording); everything else is the recorded payload. Each feed runs
until what the test waits for has happened (a condition with a generous timeout), never for a
fixed time."""

from __future__ import annotations

import json
import socket
import time

import orjson
import pytest
from typer.testing import CliRunner

from pipeline.sources.exchanges.feed_cli import feed
from pipeline.sources.exchanges.health import FeedHealth
from pipeline.sources.exchanges.live import (
    FeedError,
    LiveConfig,
    LiveFeed,
    SubscribeError,
)

from tests.waiting import interrupt_when

from .conftest import doc_example, validate_event, validate_health
from .replay_server import FAST, Script, drop, hold, local_server, offline_bars, recorded
from .run_until import run_feed_to_end, run_feed_until


# --------------------------------------------------------------------------------------------
# recorded Binance traffic, shifted to now


def binance_replay():
    """(aggTrade frames, forceOrder frames) as text: recorded aggTrades with T/E shifted to now."""
    msgs = [m for m in recorded("BINANCE_FUTURES.ws.1.0") if m.get("data", {}).get("e") == "aggTrade"]
    assert len(msgs) > 50
    first = min(m["data"]["T"] for m in msgs)
    shift = (time.time_ns() // 1_000_000 // 1000) * 1000 - (first - first % 1000)
    for m in msgs:
        m["data"]["T"] += shift
        m["data"]["E"] += shift
    liq1 = doc_example("binance_usdm_forceOrder_docs_example.json")
    liq2 = json.loads(json.dumps(liq1))
    liq2["o"]["q"] = liq2["o"]["z"] = liq2["o"]["l"] = "0.5"
    liq2["o"]["T"] += 1
    liqs = [{"stream": "!forceOrder@arr", "data": liq} for liq in (liq1, liq2)]
    return [orjson.dumps(m).decode() for m in msgs], [orjson.dumps(m).decode() for m in liqs]


def test_binance_reconnects_and_loses_nothing_it_received():
    trades, liqs = binance_replay()
    half = len(trades) // 2
    sent = {"trades": 0}

    def first(ws, script):
        for frame in trades[:half]:
            ws.send(frame)
        ws.send(liqs[0])
        sent["trades"] += half
        drop(ws)

    def second(ws, script):
        ws.send("}{ not json at all")  # garbage: counted, not fatal
        ws.send('{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","p":"abc"}}')  # invalid
        for frame in trades[half:]:
            ws.send(frame)
        ws.send(liqs[1])
        sent["trades"] += len(trades) - half
        hold(ws, 120)

    def all_received(feed, events):
        return feed.stats.messages == len(trades) + len(liqs) + 2

    script = Script(first, second)
    with local_server(script) as url:
        cfg = LiveConfig(venue="binance-usdm", symbols=["sushiusdt", "AKROUSDT", "KEEPUSDT", "CTKUSDT"], url=url,
                         bar_grace_ms=600_000, **FAST)  # bars cut by trades and the stop only, not by the clock
        live, stats, events, _, _ = run_feed_until(cfg, all_received, "every frame sent")

    # the stream path is built from the symbols even with the URL overridden
    assert script.paths[0] == ("/stream?streams=sushiusdt@aggTrade/akrousdt@aggTrade/keepusdt@aggTrade/"
                               "ctkusdt@aggTrade/!forceOrder@arr")
    assert script.connections == 2 and stats.reconnects == 1
    assert sent["trades"] == len(trades)

    health = [e for e in events if e["type"] == "feed_health"]
    for h in health:
        validate_health(h)
    statuses = [h["status"] for h in health]
    assert statuses == ["connected", "disconnected", "gap_start", "gap_end", "connected", "disconnected"]
    assert "without a close frame" in health[1]["detail"]
    assert "liquidations during the gap are lost" in health[2]["detail"]
    assert health[3]["gap_ms"] >= 0 and "missing" in health[3]["detail"]
    assert health[4]["reconnects"] == 1 and health[-1]["detail"] == "stopped"
    assert len({h["event_id"] for h in health}) == len(health)

    # every liquidation received is emitted, once
    liq_events = [e for e in events if e["type"] == "liquidation"]
    for e in liq_events:
        validate_event(e)
    assert len(liq_events) == 2 and len({e["event_id"] for e in liq_events}) == 2
    assert {e["side"] for e in liq_events} == {"long"} and {e["quantity"] for e in liq_events} == {0.014, 0.5}

    # every trade received is in the bars; bars are cut exactly as an offline pass over the same frames
    bars = [e for e in events if e["type"] == "trade_flow"]
    for b in bars:
        validate_event(b)
    expected_notional = sum(float(json.loads(f)["data"]["p"]) * float(json.loads(f)["data"]["q"]) for f in trades)
    assert sum(b["buy_volume_usd"] + b["sell_volume_usd"] for b in bars) == pytest.approx(expected_notional, rel=1e-9)
    assert sum(b["trade_count"] for b in bars) == len(trades) == stats.trades
    assert stats.late_trades == 0
    key = lambda b: (b["symbol"], b["ts"])  # noqa: E731
    assert sorted(bars, key=key) == sorted(offline_bars("binance-usdm", trades), key=key)

    # garbage and an invalid message were counted, the stream went on after them
    assert stats.errors == 2
    assert stats.messages == len(trades) + len(liqs) + 2


def bybit_trade_now(offset_ms=-1000):
    msg = doc_example("bybit_v5_publicTrade_docs_example.json")
    msg["data"][0]["T"] = time.time_ns() // 1_000_000 + offset_ms
    return orjson.dumps(msg).decode()


def test_bybit_subscribes_pings_and_flushes_quiet_symbols():
    def serve_bybit(ws, script):
        sub = json.loads(script.recv(ws))
        ws.send(json.dumps({"success": True, "ret_msg": "", "conn_id": "c1", "req_id": "", "op": "subscribe"}))
        ws.send(bybit_trade_now())  # one trade of the previous second, then silence: a quiet symbol
        ws.send(json.dumps(doc_example("bybit_v5_allLiquidation_docs_example.json")))
        assert sub["op"] == "subscribe"
        while True:
            try:
                msg = json.loads(script.recv(ws, timeout=120))
            except Exception:
                return
            if msg.get("op") == "ping":
                ws.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "c1", "op": "ping"}))

    def pinged_and_flushed(feed, events):
        pings = [m for m in script.received[1:] if json.loads(m) == {"op": "ping"}]
        liqs = [e for e in events if e["type"] == "liquidation"]
        return len(pings) >= 3 and liqs and any(e["type"] == "trade_flow" for e in events)

    script = Script(serve_bybit)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT", "ROSEUSDT"], url=url, app_ping_s=0.1,
                         bar_grace_ms=100, **FAST)
        # the quiet symbol's bar must come out while the feed runs: only its timer can send it then
        live, stats, events, arrivals, stopped = run_feed_until(cfg, pinged_and_flushed,
                                                                "three pings and the quiet symbol's bar")

    sub = json.loads(script.received[0])
    assert sub == {"op": "subscribe", "args": ["publicTrade.BTCUSDT", "allLiquidation.BTCUSDT",
                                               "publicTrade.ROSEUSDT", "allLiquidation.ROSEUSDT"]}
    pings = [m for m in script.received[1:] if json.loads(m) == {"op": "ping"}]
    assert len(pings) >= 3
    assert stats.errors == 0 and stats.reconnects == 0
    liq = [e for e in events if e["type"] == "liquidation"]
    assert len(liq) == 1 and liq[0]["side"] == "short" and liq[0]["symbol"] == "ROSEUSDT"  # S "Sell" = a short position
    bars = [(e, at) for e, at in zip(events, arrivals) if e["type"] == "trade_flow"]
    assert len(bars) == 1
    bar, at = bars[0]
    assert bar["buy_volume_usd"] == pytest.approx(0.001 * 16578.50) and bar["trade_count"] == 1
    assert at <= stopped  # sent by the timer, before the feed was stopped (not by the final flush)
    assert [e["status"] for e in events if e["type"] == "feed_health"] == ["connected", "disconnected"]


def test_bybit_bad_symbol_is_a_clear_error_and_not_retried():
    def refuse(ws, script):
        script.recv(ws)
        ws.send(json.dumps({"success": False, "ret_msg": "Invalid symbol :[publicTrade.FOOUSDT]", "conn_id": "c",
                            "req_id": "", "op": "subscribe"}))
        hold(ws, 120)  # until the client goes away: a client that retried would open a second connection

    script = Script(refuse)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["FOOUSDT"], url=url, **FAST)  # no duration: it must stop itself
        with pytest.raises(SubscribeError, match=r"bybit refused the subscription: Invalid symbol .*FOOUSDT"):
            run_feed_to_end(cfg)
    assert script.connections == 1


def test_binance_refusal_and_locally_invalid_symbols():
    def refuse(ws, script):
        ws.send(json.dumps({"error": {"code": 2, "msg": "Invalid request: unknown stream"}, "id": None}))
        hold(ws, 120)

    script = Script(refuse)
    with local_server(script) as url:
        with pytest.raises(SubscribeError, match="unknown stream"):
            run_feed_to_end(LiveConfig(venue="binance-usdm", symbols=["BTCUSDT"], url=url, **FAST))
    with pytest.raises(SubscribeError, match="looks COIN-M"):
        LiveFeed(LiveConfig(venue="binance-usdm", symbols=["BTCUSD"]), sink=None)
    with pytest.raises(SubscribeError, match="not a Bybit linear or inverse"):
        LiveFeed(LiveConfig(venue="bybit", symbols=["BTC-PERPX"]), sink=None)


def test_gives_up_after_max_reconnects():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=f"ws://127.0.0.1:{port}", max_reconnects=2,
                     **{**FAST, "backoff_base_s": 0.01})
    with pytest.raises(FeedError, match="gave up after 3 failed connection attempts"):
        run_feed_to_end(cfg)


def test_server_closing_cleanly_reconnects_and_counts_connections_without_data_as_failures():
    def close_at_once(ws, script):
        ws.close(1001, "going away")

    script = Script(close_at_once)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=url, max_reconnects=2, **FAST)
        with pytest.raises(FeedError, match="gave up"):
            run_feed_to_end(cfg)
    assert script.connections == 3


def test_cli_writes_json_lines_and_exits_2_on_refusal(tmp_path):
    import typer

    app = typer.Typer()
    app.command("feed")(feed)
    app.command("other")(lambda: None)  # keep `feed` a subcommand, as when mounted on the main app

    def serve_bybit(ws, script):
        script.recv(ws)
        ws.send("garbage")
        ws.send(bybit_trade_now())
        hold(ws, 120)

    out = tmp_path / "feed.jsonl"

    with local_server(Script(serve_bybit)) as url:
        # Ctrl-C once the bar is written: it follows the garbage frame, so both were handled
        stopper = interrupt_when(lambda: out.exists() and b'"trade_flow"' in out.read_bytes(),
                                 "the bar in the output file")
        res = CliRunner().invoke(app, ["feed", "bybit", "-s", "btcusdt", "--url", url, "--bar-grace-ms", "0", "--no-leverage",
                                       "--out", str(out)])
        stopper.join(10)
    assert stopper.met and res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["feed_health", "trade_flow", "feed_health"]
    assert "1 errors" in res.output and "bad message: unparseable" in res.output
    FeedHealth.model_validate(lines[0])

    def refuse(ws, script):
        script.recv(ws)
        ws.send(json.dumps({"success": False, "ret_msg": "Invalid symbol", "op": "subscribe"}))
        hold(ws, 120)

    with local_server(Script(refuse)) as url:
        res = CliRunner().invoke(app, ["feed", "bybit", "-s", "FOOUSDT", "--url", url, "--no-leverage", "--out", str(out)])
    assert res.exit_code == 2 and "refused the subscription: Invalid symbol" in res.output
    res = CliRunner().invoke(app, ["feed", "kraken"])
    assert res.exit_code == 2 and "no live connector" in res.output


def test_cli_stops_on_sigterm_as_on_ctrl_c(tmp_path):
    """A service manager (`docker stop`, systemd) sends SIGTERM: the last bar and the closing health event still
    go out, and the command ends normally."""
    import os
    import signal
    import threading

    import typer

    app = typer.Typer()
    app.command("feed")(feed)
    app.command("other")(lambda: None)

    def serve_bybit(ws, script):
        script.recv(ws)
        ws.send(bybit_trade_now())
        hold(ws, 120)

    out = tmp_path / "feed.jsonl"
    sent = threading.Event()

    def terminate_when_connected():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and b'"connected"' in out.read_bytes():
                time.sleep(0.2)  # the trade is on its way: its bar is still open
                os.kill(os.getpid(), signal.SIGTERM)
                sent.set()
                return
            time.sleep(0.05)

    with local_server(Script(serve_bybit)) as url:
        th = threading.Thread(target=terminate_when_connected, daemon=True)
        th.start()
        res = CliRunner().invoke(app, ["feed", "bybit", "-s", "btcusdt", "--url", url, "--bar-grace-ms", "600000",
                                       "--no-leverage", "--out", str(out)])
        th.join(10)
    assert sent.is_set() and res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["feed_health", "trade_flow", "feed_health"]
    assert lines[-1]["status"] == "disconnected" and "1 trades -> 1 bars" in res.output


def test_a_venue_that_acks_and_closes_counts_as_failing_and_is_given_up():
    """Greetings, acks and pongs are no data: a venue that sends only those and closes is not reconnected to
    twice a second for good."""
    def ack_and_close(ws, script):
        script.recv(ws)
        ws.send(json.dumps({"success": True, "ret_msg": "", "conn_id": "c1", "req_id": "", "op": "subscribe"}))
        ws.close(1001, "going away")

    script = Script(ack_and_close)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=url, max_reconnects=2, **FAST)
        with pytest.raises(FeedError, match="gave up after 3 failed connection attempts"):
            run_feed_to_end(cfg)
    assert script.connections == 3


def test_bad_trades_are_errors_that_block_nothing():
    """A trade stamped far ahead would open a bar every later trade is late for; a notional that is not finite
    would fail the bar built from it, and with it the feed."""
    feed = LiveFeed(LiveConfig(venue="bybit", symbols=["BTCUSDT"]), sink=None)
    now = time.time_ns() // 1_000_000
    ahead = orjson.loads(bybit_trade_now(offset_ms=3_600_000))
    huge = orjson.loads(bybit_trade_now())
    huge["data"][0]["v"] = "1e400"
    assert feed.handle(orjson.dumps(ahead), now) == [] and feed.handle(orjson.dumps(huge), now) == []
    assert feed.stats.errors == 2 and feed.stats.trades == 0
    feed.handle(bybit_trade_now(offset_ms=-3_000), now)
    feed.handle(bybit_trade_now(offset_ms=-1_500), now)
    assert feed.stats.trades == 2 and feed.stats.late_trades == 0


def test_bars_wait_for_a_venue_that_lags_behind_the_wall_clock():
    """In a crash a venue's trades can come seconds behind: its bars close on its own time, not the wall clock's,
    so the trades still on their way are not dropped as late. A venue gone quiet no longer holds bars back."""
    feed = LiveFeed(LiveConfig(venue="bybit", symbols=["BTCUSDT"], bar_grace_ms=2_000), sink=None)
    now = time.time_ns() // 1_000_000
    feed.handle(bybit_trade_now(offset_ms=-5_000), now)  # the venue is 5 s behind
    assert feed.bars.cutoff(now) <= now - 7_000
    assert feed.bars.cutoff(now + 60_000) == now + 58_000  # quiet since: the wall clock again
