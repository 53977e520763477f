"""Live exchange connector: one websocket per venue -> liquidation events, 1-second trade_flow
bars and feed_health events, handed in order to an async sink.

    feed = LiveFeed(LiveConfig(venue="bybit", symbols=["BTCUSDT"]), sink)
    stats = await feed.run()

- Every message goes through the venue's parser (`get_venue(name).parse(msg, received_ts)`);
  received_ts is the wall clock when the frame arrived. A frame that is not JSON, or a message
  the parser rejects, is counted as an error (and passed to `on_error`); the feed goes on.
- Trades go into 1-second bars (live_bars.py: closed on the venue's own time, a late trade counted
  and dropped) and, with `raw_trades`, out one by one as `trade` events.
- The aggregator survives reconnects: trades received before a drop are in the bars after it.
- Reconnect: exponential backoff with jitter (`backoff_base_s` doubling up to `backoff_max_s`,
  each delay drawn uniformly from [delay/2, delay]); after `max_reconnects` consecutive failed
  attempts the feed stops with FeedError. An attempt fails unless it brings data (greetings, acks
  and pongs are none), and the backoff starts over only after a connection brought data for 30 s.
  A subscription the venue refuses (bad symbol) raises SubscribeError at once on the first
  connection; on a later one (a rate limit, a symbol delisted hours in) it is reported and the
  connection tried again. A frame that fails to be handled is an error, never the end of the feed.
  A gap starts at the last frame received. Binance connections are renewed before the venue's
  24 h limit.
- Heartbeats: an application ping on a fixed beat (Bybit, OKX, Hyperliquid) or after a quiet
  spell (BitMEX); a server message that asks for an answer (Deribit's test_request) gets the
  frame `VenueSpec.reply` gives.
- feed_health: connected / disconnected / gap_start / gap_end / rates (see health.py).
- Leverage (unless `leverage=False`): the venue's open-interest / funding / mark-price channels
  are subscribed on the same connection (`VenueSpec.leverage_subscribe`), so they share its
  reconnects and health events; venues that serve open interest only over REST (Binance) are
  polled every `oi_poll_s`. At most one `leverage` event per symbol and channel goes out every
  `leverage_every_s` of venue time (Bybit pushes tickers every 100 ms).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from . import get_venue
from .base import Venue, trade_event
from .health import FeedStats, HealthReporter
from .leverage import LeverageGate, poll_open_interest
from .live_bars import LiveBars, TradeAhead
from .live_config import (
    LIVE_VENUES,
    SPECS,
    LiveConfig,
    backoff_delays,
    normalize_symbols,
)
from .spec import FeedError, SubscribeError

log = logging.getLogger(__name__)

Sink = Callable[[list[dict]], Awaitable[None]]


HEALTHY_S = 30.0  # a connection that brought data this long was of use: the backoff starts over after it


class _Refused(Exception):
    """A refusal on a connection after the first: retried with backoff."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------------------------
# the feed


@dataclass
class _Conn:
    ws: Any
    planned: bool = False
    last_rx: float = 0.0  # monotonic time of the last received frame


class LiveFeed:
    def __init__(self, config: LiveConfig, sink: Sink, *, on_error: Callable[[str], None] | None = None,
                 rng: random.Random | None = None):
        self.config = config
        self.spec = SPECS[config.venue]
        self.symbols = normalize_symbols(config.venue, config.symbols)
        self.url = self.spec.url(self.symbols, config.url)
        self.parser: Venue = get_venue(config.venue)
        self.sink = sink
        self.on_error = on_error
        self.stats = FeedStats()
        self.health = HealthReporter(config.venue, self.symbols, self.stats,
                                     has_liquidations=self.parser.has_liquidations)
        self.bars = LiveBars(self.stats, config.bar_grace_ms)
        self._queue: asyncio.Queue[list[dict] | None] = asyncio.Queue(maxsize=config.sink_queue)
        self._rng = rng or random.Random()
        self._gap_start_ms: int | None = None
        self._symbol_set = set(self.symbols)
        self._last_rx_ms: int | None = None  # wall clock of the last frame received
        self._resubscribing = False  # a connection after the first: a refusal is retried, not fatal
        self.sent: list[str] = []  # outbound frames of the current connection (for inspection)
        self.replies: list[str] = []  # frames `handle` wants sent back to the venue
        self.leverage = LeverageGate(config.leverage_every_s)

    # ---- public

    async def run(self) -> FeedStats:
        """Connect and stream until duration_s is over or the task is cancelled; FeedError when it must stop."""
        self.stats.reset_window(_now_ms())
        sink_task = asyncio.create_task(self._sink_loop(), name="feed-sink")
        timers = [asyncio.create_task(self._flush_loop(), name="feed-bars"),
                  asyncio.create_task(self._rates_loop(), name="feed-rates")]
        if self.config.leverage and self.spec.oi_poll is not None:
            base, path = self.spec.oi_poll
            poll = poll_open_interest((self.config.rest_url or base).rstrip("/") + path, self.symbols, self.parser,
                                      self.config.oi_poll_s, self._emit_leverage, self._error,
                                      trust_env=self.config.proxy is not None)
            timers.append(asyncio.create_task(poll, name="feed-oi-poll"))
        main = asyncio.create_task(self._connect_loop(), name="feed-connect")
        try:
            waiters = {main, sink_task}
            timeout = self.config.duration_s
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if sink_task in done:  # the sink failed: stop reading, report
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
                exc = sink_task.exception()
                left = sum(len(b) for b in self._drain() if b)
                raise FeedError(f"the sink failed ({type(exc).__name__}: {exc}); {left} events read and not "
                                f"delivered, and the open bars, are lost") from exc
            if main in done:
                main.result()  # raises FeedError / SubscribeError
            else:
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
        finally:
            for t in timers:
                t.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            if not main.done():
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
            if not sink_task.done():
                # final bars and a closing health event, then drain the sink
                final = self.bars.flush()
                final.append(self.health.event("disconnected", _now_ms(), "stopped"))
                await self._queue.put(final)
                await self._queue.put(None)
                await sink_task
        return self.stats

    # ---- emitting

    async def _emit(self, events: list[dict]) -> None:
        if events:
            await self._queue.put(events)

    def _drain(self) -> list:
        """What is still queued for the sink (taken out)."""
        out = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    async def _sink_loop(self) -> None:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            await self.sink(batch)

    def _error(self, what: str) -> None:
        self.stats.errors += 1
        self.stats.w_errors += 1
        if self.on_error is not None:
            self.on_error(what)

    # ---- timers

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_tick_s)
            await self._emit(self.bars.flush_due(_now_ms()))

    async def _rates_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.rates_interval_s)
            await self._emit([self.health.rates(_now_ms())])

    # ---- messages

    def handle(self, raw: str | bytes, received_ms: int) -> list[dict]:
        """One received frame -> events (liquidations, finished bars). Raises SubscribeError on a refusal."""
        st = self.stats
        st.messages += 1
        st.w_messages += 1
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if text.strip() in self.spec.pong_texts:
            st.skipped += 1
            return []
        try:
            msg = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError) as exc:
            self._error(f"unparseable frame ({exc}): {text[:120]!r}")
            return []
        reason = self.spec.refused(msg, self.symbols)
        if reason is not None:
            if self._resubscribing:
                # Hours into a run a refusal is more likely a rate limit or one symbol delisted than a wrong
                # setting: reported, and the connection is tried again with backoff, not the feed ended.
                raise _Refused(f"{self.config.venue} refused the subscription again: {reason}")
            raise SubscribeError(f"{self.config.venue} refused the subscription: {reason}")
        answer = self.spec.reply(msg)
        if answer is not None:
            self.replies.append(answer)
        result = self.parser.parse(msg, received_ms)
        if result.errors:
            for e in result.errors:
                self._error(f"{e}: {text[:120]!r}")
            return []  # as in normalize: a message with any bad part is reported whole
        if result.skipped and not (result.liquidations or result.trades or result.leverage):
            st.skipped += 1
            return []
        out: list[dict] = self.leverage.admit(result.leverage) if self.config.leverage else []
        for liq in result.liquidations:
            if not self.config.all_liquidations and liq.symbol not in self._symbol_set:
                continue
            st.liquidations += 1
            st.w_liquidations += 1
            out.append(liq.model_dump(mode="json"))
        if result.liquidations or result.trades or result.leverage:
            st.data_messages += 1
        for trade in result.trades:
            try:
                bars = self.bars.add(trade, received_ms)
            except TradeAhead as exc:
                self._error(str(exc))
                continue
            if self.config.raw_trades:  # late ones too: they are real trades, only their bar has gone out
                out.append(trade_event(trade, received_ms))
            out.extend(bars)
        return out

    async def _emit_leverage(self, events) -> None:
        if self.config.leverage:
            await self._emit(self.leverage.admit(events))

    # ---- connections

    async def _connect_loop(self) -> None:
        cfg = self.config
        failures = 0
        delays = backoff_delays(cfg.backoff_base_s, cfg.backoff_max_s, self._rng)
        first = True
        while True:
            if not first:
                self.stats.reconnects += 1
            first = False
            before = self.stats.data_messages
            started = time.monotonic()
            try:
                planned, reason = await self._session(resubscribing=self.stats.connections > 0)
                if self.stats.data_messages > before and time.monotonic() - started >= HEALTHY_S:
                    # It brought data for a while: start the backoff over.
                    failures, delays = 0, backoff_delays(cfg.backoff_base_s, cfg.backoff_max_s, self._rng)
                elif not planned:
                    # Closed before it had brought data for a while: a failed attempt, however many greetings,
                    # acks or pongs (or a trade or two) came. A venue that answers and closes would otherwise be
                    # reconnected to twice a second for good.
                    failures += 1
            except SubscribeError:
                raise
            except InvalidURI as exc:
                raise FeedError(f"bad URL {self.url!r}: {exc}") from None
            except InvalidStatus as exc:
                code = exc.response.status_code
                if code in (400, 401, 403, 404, 451):
                    raise FeedError(f"{cfg.venue}: the server refused the connection with HTTP {code} "
                                    f"({self.url}); check the symbols and that the venue serves your region") from None
                planned, reason = False, f"HTTP {code}"
                failures += 1
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException, _Refused) as exc:
                planned, reason = False, f"{type(exc).__name__}: {exc}"
                failures += 1
                if isinstance(exc, _Refused):
                    self._error(str(exc))
            await self._start_gap(reason)
            if cfg.max_reconnects is not None and failures > cfg.max_reconnects:
                raise FeedError(f"{cfg.venue}: gave up after {failures} failed connection attempts; last: {reason}")
            if not planned:
                delay = next(delays) if failures else self._rng.uniform(0, cfg.backoff_base_s)
                log.info("%s: reconnecting in %.2fs (%s)", cfg.venue, delay, reason)
                await asyncio.sleep(delay)

    async def _start_gap(self, reason: str) -> None:
        """Data stopped flowing (any disconnect after a first connection, planned renewals included): since
        the last frame received, not since the loss was noticed (a dead TCP path is noticed by the ping
        timeout, tens of seconds later)."""
        if self._gap_start_ms is None and self.stats.connections > 0:
            now = _now_ms()
            if self._last_rx_ms is not None:
                now = min(now, self._last_rx_ms)
            self._gap_start_ms = now
            self.stats.gaps += 1
            await self._emit([self.health.gap_start(now, reason)])

    async def _session(self, resubscribing: bool = False) -> tuple[bool, str]:
        """One connection: subscribe, read until it ends. Returns (planned renewal?, reason it ended)."""
        cfg = self.config
        self._resubscribing = resubscribing
        async with connect(self.url, open_timeout=cfg.open_timeout_s, proxy=cfg.proxy, max_size=2**24,
                           ping_interval=20, ping_timeout=20, close_timeout=2) as ws:
            conn = _Conn(ws, last_rx=time.monotonic())
            self.sent, self.replies = [], []
            frames = self.spec.subscribe(self.symbols)
            if cfg.leverage:
                frames = [*frames, *self.spec.leverage_subscribe(self.symbols)]
            for frame in frames:
                await ws.send(frame)
                self.sent.append(frame)
            self.stats.connections += 1
            now = _now_ms()
            self._last_rx_ms = now  # connected and subscribed: a gap from here on starts no earlier
            events = []
            if self._gap_start_ms is not None:
                gap = max(now - self._gap_start_ms, 0)
                self.stats.gap_ms_total += gap
                self._gap_start_ms = None
                events.append(self.health.gap_end(now, gap))
            events.append(self.health.event("connected", now, f"{self.url} subscribed to {', '.join(self.symbols)}"))
            await self._emit(events)
            helpers = []
            ping = self.spec.app_ping
            if ping is not None:
                interval = cfg.app_ping_s if cfg.app_ping_s is not None else ping[1]
                helpers.append(asyncio.create_task(self._pinger(conn, ping[0], interval)))
            if self.spec.max_connection_s is not None:
                helpers.append(asyncio.create_task(self._renewer(conn, self.spec.max_connection_s)))
            try:
                async for raw in ws:
                    conn.last_rx = time.monotonic()
                    self._last_rx_ms = received = _now_ms()
                    try:
                        events = self.handle(raw, received)
                    except (SubscribeError, _Refused):
                        raise
                    except Exception as exc:  # noqa: BLE001 - one bad frame must not end the feed
                        self._error(f"frame not handled ({type(exc).__name__}: {exc}): {str(raw)[:120]!r}")
                        continue
                    await self._emit(events)
                    while self.replies:
                        frame = self.replies.pop(0)
                        await ws.send(frame)
                        self.sent.append(frame)
            except ConnectionClosed:
                pass
            finally:
                for h in helpers:
                    h.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
            rcvd = ws.protocol.close_rcvd
            reason = (f"closed by the venue: code {rcvd.code} {rcvd.reason!r}" if rcvd is not None
                      else "connection lost without a close frame")
            if conn.planned:
                reason = f"planned renewal after {self.spec.max_connection_s:.0f} s"
            await self._emit([self.health.event("disconnected", _now_ms(), reason)])
            return conn.planned, reason

    async def _pinger(self, conn: _Conn, text: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.spec.ping_when_idle:
                idle = time.monotonic() - conn.last_rx
                while idle < interval:
                    await asyncio.sleep(interval - idle)
                    idle = time.monotonic() - conn.last_rx
            try:
                await conn.ws.send(text)
                self.sent.append(text)
            except ConnectionClosed:
                return

    async def _renewer(self, conn: _Conn, after_s: float) -> None:
        await asyncio.sleep(after_s)
        conn.planned = True
        await conn.ws.close(1000, "renewal")


__all__ = ["LIVE_VENUES", "SPECS", "FeedError", "LiveConfig", "LiveFeed", "SubscribeError", "backoff_delays",
           "normalize_symbols"]
