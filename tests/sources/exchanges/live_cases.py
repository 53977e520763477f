"""The sessions the live-venue tests replay: per venue, the frames the feed must send to
subscribe, the venue's acknowledgement, recorded traffic and docs-shaped liquidations, and the
heartbeat the server expects (see test_live_venues.py for how a session runs)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline.sources.exchanges.hyperliquid import LIQUIDATOR_VAULTS

from .conftest import doc_example
from .replay_server import drop, recorded
from .venue_messages import deribit_trade, okx_liq

PING_S = 0.2
GRACE_MS = 600_000  # bars go out when a later second's trade arrives or at the stop, never by the clock
GARBAGE = "}{ not json at all"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def shift_to_now(first_ms: int) -> int:
    """A whole number of seconds that moves `first_ms` into the current second."""
    return (now_ms() // 1000) * 1000 - (first_ms - first_ms % 1000)


class ServerConn:
    """One server-side connection: what it received, each with the quiet time before it (s)."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[tuple[str, float]] = []
        self.last_sent = time.monotonic()

    def send(self, text: str) -> None:
        self.ws.send(text)
        self.last_sent = time.monotonic()

    def recv(self, timeout: float = 120.0) -> str | None:  # until the client goes away
        try:
            msg = self.ws.recv(timeout=timeout)
        except Exception:
            return None
        self.frames.append((msg, time.monotonic() - self.last_sent))
        return msg


def answer_pings(ping: str, pong: str) -> Callable[[ServerConn], None]:
    def serve(conn: ServerConn) -> None:
        while (msg := conn.recv()) is not None:
            if msg == ping:
                conn.send(pong)
    return serve


def busy_then_quiet(filler: str, ping: str, pong: str) -> Callable[[ServerConn], None]:
    """A venue that keeps sending for a while (a frame every 50 ms), then goes quiet; pings answered."""
    def serve(conn: ServerConn) -> None:
        for _ in range(12):
            if conn.recv(timeout=0.05) == ping:
                conn.send(pong)
            conn.send(filler)
        answer_pings(ping, pong)(conn)
    return serve


def no_app_heartbeat(conn: ServerConn) -> None:
    """A venue that needs no application heartbeat (websocket protocol pings keep the connection)."""
    while conn.recv() is not None:
        pass


def deribit_heartbeat(conn: ServerConn) -> None:
    """Deribit's side of set_heartbeat: a test_request that must be answered with public/test."""
    conn.send(json.dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}))
    while (msg := conn.recv()) is not None:
        req = json.loads(msg)
        if req.get("method") == "public/test":
            conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"version": "1.2.26"}}))


@dataclass
class Case:
    venue: str
    symbols: list[str]
    subscribe: list[dict]  # the frames the venue must receive on every connection
    ack: Callable[[dict], list[str]]  # the venue's answers to one subscribe frame
    data: list[str]  # recorded and doc-shaped messages, in order
    liquidations: list[str]  # one goes out before the drop, one after
    sides: list[str]  # the position side of each liquidation event expected
    heartbeat: Callable[[ServerConn], None]
    ping: str | None = None
    conns: list[ServerConn] = field(default_factory=list)

    def halves(self) -> tuple[list[str], list[str]]:
        half = len(self.data) // 2
        liq = self.liquidations + [None, None]
        first = self.data[:half] + ([liq[0]] if liq[0] else [])
        second = self.data[half:] + ([liq[1]] if liq[1] else [])
        return first, second

    def handler(self, frames: list[str], last: bool):
        def serve(ws, script):
            conn = ServerConn(ws)
            self.conns.append(conn)
            for _ in self.subscribe:
                for answer in self.ack(json.loads(conn.recv())):
                    conn.send(answer)
            if last:
                conn.send(GARBAGE)
            for f in frames:
                conn.send(f)
            if not last:
                drop(ws)
                return
            self.heartbeat(conn)
        return serve


def dumps(msgs) -> list[str]:
    return [json.dumps(m) for m in msgs]


def okx_case() -> Case:
    msgs = recorded("OKX.ws.1.0")
    rows = [d for m in msgs if m.get("arg", {}).get("channel") == "trades" for d in m.get("data", [])]
    shift = shift_to_now(min(int(d["ts"]) for d in rows))
    for d in rows:
        d["ts"] = str(int(d["ts"]) + shift)
    symbols = ["BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"]
    args = [{"channel": "trades", "instId": s} for s in symbols]
    args += [{"channel": "liquidation-orders", "instType": "FUTURES"},
             {"channel": "liquidation-orders", "instType": "SWAP"}]
    t = str(now_ms())
    liqs = [okx_liq("BTC-USDT-SWAP", "25", "70000", "long", "sell", ts=t),  # hedge mode: posSide
            okx_liq("BTC-USDT-SWAP", "3", "69000", "net", "buy", ts=t)]  # net mode: a buy order closes a short
    return Case("okx", symbols, [{"op": "subscribe", "args": args}],
                lambda sub: dumps({"event": "subscribe", "arg": a} for a in sub["args"]),
                dumps(msgs), dumps(liqs), ["long", "short"], answer_pings("ping", "pong"), ping="ping")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def bitmex_case() -> Case:
    msgs = recorded("BITMEX.ws.1.0")
    rows = [d for m in msgs if m.get("table") == "trade" and m.get("action") == "insert" for d in m["data"]]
    stamps = [int(datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")).timestamp() * 1000) for d in rows]
    shift = shift_to_now(min(stamps))
    for d, ts in zip(rows, stamps):
        d["timestamp"] = _iso(ts + shift)
    liq = {"table": "liquidation", "action": "insert",
           "data": [{"orderID": "9f1b2c3d-0000-4000-8000-00000000aa01", "symbol": "XBTUSD", "side": "Sell",
                     "price": 31910.5, "leavesQty": 12000}]}
    liq2 = copy.deepcopy(liq)
    liq2["data"][0].update(orderID="9f1b2c3d-0000-4000-8000-00000000aa02", side="Buy", price=32950.0)
    # an order that fills leaves the table through update/delete: not new liquidations
    msgs.append({"table": "liquidation", "action": "update",
                 "data": [{"orderID": liq["data"][0]["orderID"], "symbol": "XBTUSD", "leavesQty": 2000}]})
    symbols = ["XBTUSD", "UNIUSDT", "MATICUSDT"]
    args = [f"trade:{s}" for s in symbols] + ["liquidation:XBTUSD"]
    book = next(m for m in msgs if m.get("table") == "orderBookL2" and m.get("action") == "update")
    return Case("bitmex", symbols, [{"op": "subscribe", "args": args}],
                lambda sub: dumps({"success": True, "subscribe": a, "request": sub} for a in sub["args"]),
                dumps(msgs), dumps([liq, liq2]), ["long", "short"], busy_then_quiet(json.dumps(book), "ping", "pong"),
                ping="ping")


def deribit_case() -> Case:
    t0 = now_ms()

    def trade(i, name, liq=None, direction="buy", amount=10.0, price=30000.0):
        msg = deribit_trade(liq, direction, name=name, amount=amount, price=price)
        msg["params"]["channel"] = f"trades.{name}.100ms"
        msg["params"]["data"][0].update(timestamp=t0 + 100 * i, trade_id=f"{name[:3]}-{1000 + i}", trade_seq=i)
        return msg

    # the recorded session has option tickers and books only (skipped); trades are added among them
    msgs = recorded("DERIBIT.ws.1.0")
    for i in range(12):
        name = "BTC-PERPETUAL" if i % 3 else "ETH-PERPETUAL"
        msgs.insert(i * 10, trade(i + (i > 7), name,  # time slot 8 is the first liquidation's direction="sell" if i % 2 else "buy", amount=10.0 * (i + 1),
                                  price=2000.0 if name.startswith("ETH") else 30000.0))
    # in time order with the trades around them: the first goes out before the drop, with trades 0-7
    liqs = [trade(8, "BTC-PERPETUAL", liq="T", direction="sell", amount=5000.0),  # liquidated taker sold: long
            trade(20, "BTC-PERPETUAL", liq="M", direction="sell", amount=3000.0)]  # liquidated maker bought: short
    symbols = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
    subscribe = [{"jsonrpc": "2.0", "id": 2, "method": "public/set_heartbeat", "params": {"interval": 30}},
                 {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                  "params": {"channels": ["trades.BTC-PERPETUAL.100ms", "trades.ETH-PERPETUAL.100ms"]}}]

    def ack(req):
        result = req["params"]["channels"] if req["method"] == "public/subscribe" else "ok"
        return dumps([{"jsonrpc": "2.0", "id": req["id"], "result": result, "usIn": 1, "usOut": 2, "usDiff": 1}])

    return Case("deribit", symbols, subscribe, ack, dumps(msgs), dumps(liqs), ["long", "short"], deribit_heartbeat)


def hyperliquid_case() -> Case:
    t0 = now_ms()
    msgs = []
    for i in range(10):
        coin, px = ("BTC", "64250.5") if i % 2 else ("ETH", "3120.4")
        rows = [{"coin": coin, "side": "B" if j % 2 else "A", "px": px, "sz": f"0.{i + 1}{j}", "hash": f"0x{i:02x}{j}",
                 "time": t0 + 120 * i, "tid": 500 + 10 * i + j, "users": ["0xaa", "0xbb"]} for j in range(1 + i % 3)]
        msgs.append({"channel": "trades", "data": rows})
    # backstop liquidations: trades in which the liquidator vault is the buyer (a long taken over),
    # then the seller (a short)
    vault = next(iter(LIQUIDATOR_VAULTS))
    liqs = [{"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "64100.0", "sz": "1.5", "hash": "0xl1",
                                            "time": t0 + 480, "tid": 900, "users": [vault, "0xcc"]}]},
            {"channel": "trades", "data": [{"coin": "ETH", "side": "B", "px": "3130.0", "sz": "20", "hash": "0xl2",
                                            "time": t0 + 1200, "tid": 901, "users": ["0xdd", vault]}]}]
    symbols = ["BTC", "ETH"]
    subscribe = [{"method": "subscribe", "subscription": {"type": "trades", "coin": s}} for s in symbols]
    ping = '{"method":"ping"}'
    return Case("hyperliquid", symbols, subscribe,
                lambda sub: dumps([{"channel": "subscriptionResponse", "data": sub}]),
                dumps(msgs), dumps(liqs), ["long", "short"], answer_pings(ping, '{"channel":"pong"}'), ping=ping)


def kraken_futures_case() -> Case:
    """The recorded session, with the recorded trades of its last minute (from its trade_snapshot
    messages, each the venue's own `trade` message) sent again as live trades before its fills, all
    shifted to now; two liquidations: the docs' trade example with "type" "liquidation"."""
    msgs = recorded("KRAKEN_FUTURES.ws.1.0")
    fills = [m for m in msgs if m.get("feed") == "trade" and "time" in m]
    rows = sorted((r for m in msgs if m.get("feed") == "trade_snapshot" for r in m["trades"]
                   if r["time"] >= fills[0]["time"] - 60_000), key=lambda r: r["time"])
    msgs[msgs.index(fills[0]):msgs.index(fills[0])] = rows
    shift = shift_to_now(rows[0]["time"])
    for d in rows + fills:
        d["time"] += shift
    doc = doc_example("kraken_futures_trade_docs_example.json")
    liqs = [dict(doc, type="liquidation", side="sell", time=rows[0]["time"]),  # a liquidated taker sold: long
            dict(doc, type="liquidation", side="buy", time=fills[-1]["time"],  # bought: short
                 uid="05af78ac-a774-478c-a50c-8b9c234e071f")]
    symbols = ["PI_XBTUSD", "PI_ETHUSD", "PI_LTCUSD", "FI_BCHUSD_210730"]
    return Case("kraken-futures", symbols, [{"event": "subscribe", "feed": "trade", "product_ids": symbols}],
                lambda sub: dumps({"event": "subscribed", "feed": sub["feed"], "product_ids": [p]}
                                  for p in sub["product_ids"]),
                dumps(msgs), dumps(liqs), ["long", "short"], no_app_heartbeat)


def coinbase_case() -> Case:
    """The recorded session, match times shifted to now; spot: no liquidations."""
    msgs = recorded("COINBASE.ws.28.0")
    matches = [m for m in msgs if m.get("type") in ("match", "last_match")]
    stamps = [int(datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp() * 1000) for m in matches]
    shift = shift_to_now(min(stamps))
    for m, ts in zip(matches, stamps):
        m["time"] = _iso(ts + shift)
    symbols = ["SKL-USD"]
    return Case("coinbase", symbols, [{"type": "subscribe", "product_ids": symbols, "channels": ["matches"]}],
                lambda sub: dumps([{"type": "subscriptions", "channels": [{"name": "matches",
                                                                            "product_ids": sub["product_ids"]}]}]),
                dumps(msgs), [], [], no_app_heartbeat)


CASES = {"okx": okx_case, "bitmex": bitmex_case, "deribit": deribit_case, "hyperliquid": hyperliquid_case,
         "kraken-futures": kraken_futures_case, "coinbase": coinbase_case}


def heartbeat_seen(case: Case) -> bool:
    """The second connection saw the venue's heartbeat kept: two pings, or Deribit's test_request answered."""
    if len(case.conns) < 2:
        return False
    if case.heartbeat is no_app_heartbeat:
        return True
    after = [m for m, _ in case.conns[1].frames[len(case.subscribe):]]
    if case.ping is not None:
        return after.count(case.ping) >= 2
    return any(json.loads(m).get("method") == "public/test" for m in after)
