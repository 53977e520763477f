"""A local websockets server (127.0.0.1 only) that plays scripted venue connections in a thread,
a helper that runs a LiveFeed against it to the end and collects what it emitted, and the offline
view of the same traffic (recorded messages, the bars a plain pass over them gives)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager

import orjson
from websockets.sync.server import serve

from pipeline.sources.exchanges import get_venue
from pipeline.sources.exchanges.base import BarAggregator, MetaLine, split_line
from pipeline.sources.exchanges.live import LiveConfig, LiveFeed

from .conftest import SESSIONS

# Leverage channels are off here: these sessions check the exact liquidation and trade subscriptions
# (test_leverage_live.py turns them on).
FAST = dict(backoff_base_s=0.05, backoff_max_s=0.2, flush_tick_s=0.05, open_timeout_s=2.0, proxy=None, leverage=False)


# --------------------------------------------------------------------------------------------
# a local server running scripted connections in a thread


class Script:
    """Connection n (0-based) is served by handlers[min(n, len-1)]; records requests and inbound frames."""

    def __init__(self, *handlers):
        self.handlers = handlers
        self.connections = 0
        self.paths: list[str] = []
        self.received: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, ws):
        with self.lock:
            n = self.connections
            self.connections += 1
            self.paths.append(ws.request.path)
        self.handlers[min(n, len(self.handlers) - 1)](ws, self)

    def recv(self, ws, timeout=5.0):
        msg = ws.recv(timeout=timeout)
        with self.lock:
            self.received.append(msg)
        return msg


@contextmanager
def local_server(script: Script):
    with serve(script, "127.0.0.1", 0) as server:
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        port = server.socket.getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}"
        finally:
            server.shutdown()
            t.join(5)


def drop(ws) -> None:
    """Cut the TCP connection without a close frame (what a venue outage looks like)."""
    time.sleep(0.1)  # let the frames already sent reach the client
    ws.socket.shutdown(socket.SHUT_RDWR)


def hold(ws, seconds=10.0) -> None:
    """Keep a connection open (answering nothing) until the client goes away."""
    try:
        ws.recv(timeout=seconds)
    except Exception:
        pass


def run_feed(cfg: LiveConfig, **kw):
    events: list[dict] = []
    arrivals: list[float] = []

    async def sink(batch):
        events.extend(batch)
        arrivals.extend([time.monotonic()] * len(batch))

    feed_obj = LiveFeed(cfg, sink, **kw)
    t0 = time.monotonic()
    stats = asyncio.run(feed_obj.run())
    return feed_obj, stats, events, [a - t0 for a in arrivals]


def recorded(fname: str) -> list[dict]:
    """The messages a cryptofeed recording received, in order (its connection lines left out)."""
    out = []
    for line in (SESSIONS / fname).read_bytes().splitlines():
        try:
            _, msg = split_line(line)
        except MetaLine:
            continue
        out.append(msg)
    return out


def offline_bars(venue: str, frames: list[str]) -> list[dict]:
    """The 1-second bars an offline pass over the frames gives (what a live feed must match)."""
    agg, parser, bars = BarAggregator(), get_venue(venue), []
    for f in frames:
        try:
            msg = orjson.loads(f)
        except orjson.JSONDecodeError:
            continue
        for t in parser.parse(msg, 0).trades:
            bars += agg.add(t)
    bars += agg.flush()
    return [b.model_dump(mode="json") for b in bars]
