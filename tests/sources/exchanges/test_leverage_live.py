"""Leverage channels in a live feed, against the local websocket server (and a local HTTP server for
Binance's REST open interest): the subscription frames, the venue's documented messages replayed,
a dropped connection and its reconnect with health events, Bybit's snapshot state carried over the
reconnect, the throttle, the REST poll and its failures, and `--no-leverage`. Sessions end on a
condition (the events seen), never after a fixed time."""

from __future__ import annotations

import copy
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.sources.exchanges.live import LiveConfig

from .conftest import doc_example
from .replay_server import FAST, Script, drop, hold, local_server
from .run_until import run_feed_until

LEV = {**FAST, "leverage": True, "leverage_every_s": 0.0}


def lev(events):
    return [e for e in events if e["type"] == "leverage"]


def test_bybit_tickers_survive_a_reconnect_and_health_reports_the_gap():
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")

    def delta(ts, **fields):
        return json.dumps({"topic": "tickers.BTCUSDT", "type": "delta", "ts": ts, "cs": 1,
                           "data": {"symbol": "BTCUSDT", **fields}})

    def first(ws, script):
        script.recv(ws)  # publicTrade + allLiquidation
        script.recv(ws)  # tickers
        ws.send(json.dumps(snap))
        ws.send(delta(snap["ts"] + 100, openInterest="68000.0", openInterestValue="1170000000.0"))
        drop(ws)

    def second(ws, script):
        script.recv(ws)
        script.recv(ws)
        # the venue sends a fresh snapshot on every new subscription; a delta then applies to it
        ws.send(json.dumps({**snap, "ts": snap["ts"] + 5_000}))
        ws.send(delta(snap["ts"] + 5_100, fundingRate="0.0003"))
        hold(ws, 120)

    script = Script(first, second)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=url, **LEV)
        feed, stats, events, _, _ = run_feed_until(cfg, lambda f, ev: len(lev(ev)) >= 4, "four leverage events")
    assert json.loads(script.received[1]) == {"op": "subscribe", "args": ["tickers.BTCUSDT"]}
    got = lev(events)
    assert [e["open_interest"] for e in got] == [68744.761, 68000.0, 68744.761, 68744.761]
    assert [e["funding_rate"] for e in got] == [-0.000212, -0.000212, -0.000212, 0.0003]
    assert all(e["venue"] == "bybit" and e["asset"] == "BTC" for e in got)
    statuses = [e["status"] for e in events if e["type"] == "feed_health"]
    assert statuses[:4] == ["connected", "disconnected", "gap_start", "gap_end"] and stats.reconnects >= 1


def test_throttle_lets_one_event_per_symbol_and_channel_through_per_interval():
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")

    def serve(ws, script):
        script.recv(ws)
        script.recv(ws)
        ws.send(json.dumps(snap))
        for i in range(1, 30):  # 100 ms apart, as Bybit pushes tickers
            ws.send(json.dumps({"topic": "tickers.BTCUSDT", "type": "delta", "ts": snap["ts"] + 100 * i,
                                "data": {"symbol": "BTCUSDT", "openInterest": str(68000 + i)}}))
        hold(ws, 120)

    script = Script(serve)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=url, **{**LEV, "leverage_every_s": 1.0})
        feed, _, events, _, _ = run_feed_until(cfg, lambda f, ev: f.stats.messages >= 30, "all 30 tickers")
    got = lev(events)
    assert [e["ts"] - snap["ts"] for e in got] == [0, 1000, 2000]
    assert got[-1]["open_interest"] == 68020.0


def test_bitmex_instrument_partial_and_update_through_a_live_feed():
    row = doc_example("bitmex_instrument_xbtusd_nautilus_fixture.json")
    partial = {"table": "instrument", "action": "partial", "keys": ["symbol"], "data": [row]}
    update = {"table": "instrument", "action": "update",
              "data": [{"symbol": "XBTUSD", "fundingRate": 0.0002, "timestamp": "2024-11-24T23:33:24.000Z"}]}

    def serve(ws, script):
        script.recv(ws)  # trade + liquidation
        script.recv(ws)  # instrument
        ws.send(json.dumps({"success": True, "subscribe": "instrument:XBTUSD",
                            "request": {"op": "subscribe", "args": ["instrument:XBTUSD"]}}))
        ws.send(json.dumps(partial))
        ws.send(json.dumps(update))
        hold(ws, 120)

    script = Script(serve)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bitmex", symbols=["XBTUSD"], url=url, **LEV)
        _, stats, events, _, _ = run_feed_until(cfg, lambda f, ev: len(lev(ev)) >= 2, "two leverage events")
    assert json.loads(script.received[1]) == {"op": "subscribe", "args": ["instrument:XBTUSD"]}
    got = lev(events)
    assert [e["funding_rate"] for e in got] == [0.00011, 0.0002]
    assert [e["open_interest_usd"] for e in got] == [411647400, 411647400]
    assert all(e["venue"] == "bitmex" and e["asset"] == "BTC" and e["mark_price"] == 97849.76 for e in got)
    assert stats.errors == 0


@contextmanager
def rest_server(answers):
    """Serves Binance's documented openInterest answer for each symbol; `answers` may hold an HTTP error."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            status, body = answers(len(hits))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        t.join(5)


def test_binance_mark_price_stream_and_polled_open_interest():
    mark = doc_example("binance_usdm_markPrice_docs_example.json")
    oi = doc_example("binance_usdm_openInterest_docs_example.json")

    def serve(ws, script):
        script.recv(ws)  # SUBSCRIBE markPrice
        ws.send(json.dumps({"result": None, "id": 1}))
        ws.send(json.dumps({"stream": "btcusdt@markPrice@1s", "data": mark}))
        hold(ws, 120)

    def answers(n):  # the first poll fails: counted, retried next round
        if n == 1:
            return 503, {"code": -1001, "msg": "Internal error"}
        return 200, {**oi, "time": oi["time"] + n}

    script = Script(serve)
    with rest_server(answers) as (rest, hits), local_server(script) as url:
        cfg = LiveConfig(venue="binance-usdm", symbols=["BTCUSDT"], url=url, rest_url=rest,
                         **{**LEV, "oi_poll_s": 0.05})
        got_ois = lambda f, ev: [e for e in lev(ev) if e["source"] == "openInterest" and e["open_interest_usd"]]
        feed, stats, events, _, _ = run_feed_until(cfg, lambda f, ev: len(got_ois(f, ev)) >= 2,
                                                   "two priced open-interest polls")
    assert json.loads(script.received[0]) == {"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}
    assert hits[0] == "/fapi/v1/openInterest?symbol=BTCUSDT"
    marks = [e for e in lev(events) if e["source"] == "markPrice"]
    assert marks[0]["funding_rate"] == 0.00038167 and marks[0]["mark_price"] == 11794.15
    ois = [e for e in lev(events) if e["source"] == "openInterest"]
    assert all(e["open_interest"] == 10659.509 for e in ois)
    assert stats.errors >= 1  # the 503


def test_no_leverage_subscribes_nothing_more_and_polls_nothing():
    snap = doc_example("bybit_v5_tickers_linear_docs_example.json")

    def serve(ws, script):
        script.recv(ws)
        ws.send(json.dumps(snap))  # even if a venue pushed it, nothing goes out
        ws.send(json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1672304486868,
                            "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",
                                      "L": "PlusTick", "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False}]}))
        hold(ws, 120)

    script = Script(serve)
    with local_server(script) as url:
        cfg = LiveConfig(venue="bybit", symbols=["BTCUSDT"], url=url, **FAST)
        _, stats, events, _, _ = run_feed_until(cfg, lambda f, ev: f.stats.trades >= 1, "the trade")
    assert len(script.received) == 1 and "tickers" not in script.received[0]
    assert lev(events) == []
    assert copy.deepcopy(snap)["data"]["openInterest"] == "68744.761"


def test_feed_command_writes_leverage_events_by_default(tmp_path):
    import typer
    from typer.testing import CliRunner

    from pipeline.sources.exchanges.feed_cli import feed
    from tests.waiting import interrupt_when

    app = typer.Typer()
    app.command("feed")(feed)
    app.command("other")(lambda: None)
    okx_oi = doc_example("okx_open_interest_docs_example.json")

    def serve(ws, script):
        script.recv(ws)  # trades + liquidation-orders
        script.recv(ws)  # open-interest + funding-rate
        ws.send(json.dumps(okx_oi))
        hold(ws, 120)

    out = tmp_path / "feed.jsonl"
    script = Script(serve)
    with local_server(script) as url:
        stopper = interrupt_when(lambda: out.exists() and b'"leverage"' in out.read_bytes(), "a leverage line")
        res = CliRunner().invoke(app, ["feed", "okx", "-s", "BTC-USDT-SWAP", "--url", url, "--out", str(out)])
        stopper.join(10)
    assert stopper.met and res.exit_code == 0, res.output
    assert json.loads(script.received[1]) == {"op": "subscribe", "args": [
        {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}, {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"}]}
    [line] = [json.loads(x) for x in out.read_text().splitlines() if '"leverage"' in x]
    assert line["venue"] == "okx" and line["open_interest"] == 2216113.01000000309
    assert "1 leverage events" in res.output
