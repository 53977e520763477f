"""`cascadewatch feed VENUE`: follow a venue live and publish its liquidations, taker-flow bars,
feed_health events (and optionally every trade) to Kafka or a file, reconnecting with backoff."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer

from .live import LIVE_VENUES, FeedError, LiveConfig, LiveFeed, SubscribeError

DEFAULT_SYMBOLS = {"binance-usdm": "BTCUSDT", "binance-coinm": "BTCUSD_PERP", "bybit": "BTCUSDT",
                   "okx": "BTC-USDT-SWAP", "hyperliquid": "BTC", "bitmex": "XBTUSD", "deribit": "BTC-PERPETUAL",
                   "kraken-futures": "PF_XBTUSD", "coinbase": "BTC-USD"}
MAX_ERROR_LINES = 20


class JsonLinesSink:
    """Events as JSON lines to a binary stream (flushed per batch)."""

    def __init__(self, stream):
        self.stream = stream
        self.written = 0

    async def __call__(self, events: list[dict]) -> None:
        self.stream.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
        self.stream.flush()
        self.written += len(events)


class KafkaSink:
    """Events to their topics with pipeline.wire.producer's Publisher: keyed by asset (feed_health: by
    venue, on exchange.feed_health), in batch envelopes sent within CASCADEWATCH_BATCH__LINGER_S.
    Send errors stop the feed."""

    def __init__(self, bootstrap: str, settings):
        from pipeline.wire.producer import Publisher

        self.publisher = Publisher(bootstrap, settings, background=True)
        self.written = 0

    def _send(self, events: list[dict]) -> None:
        for e in events:
            self.publisher.send(e)
        self.written = self.publisher.check()

    async def __call__(self, events: list[dict]) -> None:
        await asyncio.to_thread(self._send, events)

    def close(self) -> None:
        self.publisher.close()
        self.written = self.publisher.events


def feed(
    venue: Annotated[str, typer.Argument(help=f"Venue with a live connector: {', '.join(LIVE_VENUES)}")],
    symbols: Annotated[Optional[list[str]], typer.Option(
        "--symbols", "-s", help="Symbols in the venue's spelling (repeat or comma-separate): BTCUSDT on binance-usdm/"
        "bybit, BTCUSD_PERP on binance-coinm, BTC-USDT-SWAP on okx, BTC on hyperliquid, XBTUSD on bitmex, "
        "BTC-PERPETUAL on deribit, PF_XBTUSD or PI_XBTUSD on kraken-futures, BTC-USD on coinbase (spot). Default: "
        "the venue's BTC perpetual (coinbase: BTC-USD). Several symbols of one asset on a venue are all kept: each "
        "has its own bars.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write JSON lines to this file (appended), '-' for stdout. Default: stdout unless --kafka.",
        dir_okay=False)] = None,
    kafka: Annotated[bool, typer.Option(
        "--kafka", help="Publish to KAFKA_BOOTSTRAP: exchange.liquidations, exchange.trade_flow (keyed by asset), "
        "exchange.feed_health (keyed by venue), exchange.trades with --raw-trades (keyed by asset)")] = False,
    url: Annotated[Optional[str], typer.Option(
        help="Connect here instead of the venue's URL (a relay or a test server); subscriptions are still sent")] = None,
    max_reconnects: Annotated[Optional[int], typer.Option(
        help="Give up after this many consecutive failed connection attempts (default: never give up)", min=0)] = None,
    duration_s: Annotated[Optional[float], typer.Option(
        "--duration", help="Stop after this many seconds (default: run until Ctrl-C)", min=0)] = None,
    backoff_max_s: Annotated[float, typer.Option(
        help="Longest wait between reconnect attempts; waits double from 1 s up to this, with random jitter",
        min=1)] = 60.0,
    rates_interval_s: Annotated[float, typer.Option(
        "--rates-every", help="Seconds between feed_health 'rates' events", min=1)] = 60.0,
    bar_grace_ms: Annotated[int, typer.Option(
        help="A quiet symbol's 1-s bar goes out this long after its second ended; later trades of that second "
        "are dropped and counted as late", min=0)] = 2000,
    all_liquidations: Annotated[bool, typer.Option(
        "--all-liquidations/--symbol-liquidations",
        help="Keep the liquidations of every symbol the venue's feed carries (Binance !forceOrder@arr and OKX "
        "liquidation-orders are market-wide), or only those of --symbols")] = True,
    raw_trades: Annotated[bool, typer.Option(
        "--raw-trades", help="Also write every normalized trade (a `trade` event; with --kafka on exchange.trades, "
        "keyed by asset), besides the 1-s bars")] = False,
    leverage: Annotated[bool, typer.Option(
        "--leverage/--no-leverage", help="Also stream open interest, funding and mark price (`leverage` events; with "
        "--kafka on exchange.leverage, keyed by asset): the venue's channels on the same connection, Binance's open "
        "interest polled over REST")] = True,
    oi_poll_s: Annotated[float, typer.Option(
        "--oi-poll", help="Seconds between REST polls of open interest (Binance)", min=5)] = 60.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-message error lines on stderr")] = False,
    node_fills: Annotated[Optional[Path], typer.Option(
        "--node-fills", help="hyperliquid only: follow this non-validator node's fills directory (written with "
        "--write-fills) instead of the public websocket: every liquidation, and bars from the taker fills. "
        "Without it, hyperliquid's public trades give bars and backstop liquidations only (completeness partial)",
        file_okay=False)] = None,
) -> None:
    """Stream a venue live: liquidations, 1-second trade_flow bars, open interest and funding (leverage
    events, unless --no-leverage), plus feed_health events (connects,
    disconnects, gaps, message rates). Reconnects with exponential backoff and jitter; a gap on a liquidation
    feed is reported because the liquidations of that time are lost. Bad messages are counted, not fatal.
    Exit code 2: refused subscription or bad symbol; 1: gave up reconnecting or the output failed."""
    try:
        cfg = LiveConfig(venue=venue, symbols=symbols or [DEFAULT_SYMBOLS.get(venue, "")], url=url,
                         max_reconnects=max_reconnects, duration_s=duration_s, backoff_max_s=backoff_max_s,
                         rates_interval_s=rates_interval_s, bar_grace_ms=bar_grace_ms,
                         all_liquidations=all_liquidations, raw_trades=raw_trades, leverage=leverage,
                         oi_poll_s=oi_poll_s)
    except FeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    sinks: list = []
    fh = None
    if out is not None and str(out) != "-":
        fh = out.open("ab")
        sinks.append(JsonLinesSink(fh))
    elif out is not None or not kafka:
        sinks.append(JsonLinesSink(sys.stdout.buffer))
    kafka_sink = None
    if kafka:
        from pipeline.config import Settings

        settings = Settings()
        if not settings.kafka_bootstrap:
            typer.echo("error: --kafka needs KAFKA_BOOTSTRAP", err=True)
            raise typer.Exit(2)
        kafka_sink = KafkaSink(settings.kafka_bootstrap, settings)
        sinks.append(kafka_sink)

    async def sink(events: list[dict]) -> None:
        for s in sinks:
            await s(events)

    shown = 0

    def on_error(what: str) -> None:
        nonlocal shown
        if not quiet and shown < MAX_ERROR_LINES:
            typer.echo(f"bad message: {what}", err=True)
            shown += 1

    if node_fills is not None:
        _follow_node(venue, node_fills, symbols, sink, on_error, duration_s, bar_grace_ms, [kafka_sink, fh])
        return
    code = 0
    live: LiveFeed | None = None
    stats = None
    try:
        live = LiveFeed(cfg, sink, on_error=on_error)
        typer.echo(f"{venue}: {live.url} symbols {', '.join(live.symbols)}", err=True)
        stats = asyncio.run(_until_stopped(live.run()))
    except SubscribeError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except FeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        try:
            if kafka_sink is not None:
                kafka_sink.close()
        except Exception as exc:  # noqa: BLE001 - said, without hiding the error that ended the feed
            typer.echo(f"error: publishing the last events failed: {type(exc).__name__}: {exc}", err=True)
            code = code or 1
        finally:
            if fh is not None:
                fh.close()
    s = stats if stats is not None else (live.stats if live is not None else None)
    if s is not None:
        typer.echo(f"{venue}: {s.messages} messages, {s.liquidations} liquidations, {s.trades} trades -> {s.bars} "
                   f"bars, {s.late_trades} late trades dropped, {s.errors} errors, {s.reconnects} reconnects, "
                   f"{s.gaps} gaps ({s.gap_ms_total} ms), {live.leverage.passed if live else 0} leverage events",
                   err=True)
    if code:
        raise typer.Exit(code)


async def _until_stopped(run):
    """`run` (a feed's run()) until it ends, or until SIGTERM (a service manager, `docker stop`), which stops it
    as Ctrl-C does: its last bars and closing health event go out, and the sink is drained."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        pass
    try:
        return await task
    except asyncio.CancelledError:
        return None
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass


async def _stop_on_signals(tail, duration_s=None):
    """`tail.run()`, stopped by Ctrl-C or SIGTERM as by its own stop(): its last bars go out (a cancelled run
    would end without them)."""
    loop = asyncio.get_running_loop()
    caught = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, tail.stop)
            caught.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    try:
        return await tail.run(duration_s)
    finally:
        for sig in caught:
            loop.remove_signal_handler(sig)


def _follow_node(venue, root, symbols, sink, on_error, duration_s, bar_grace_ms, closers) -> None:
    from pipeline.sources.archives.node_tail import NodeFillsTail

    kafka_sink, fh = closers
    try:
        if venue != "hyperliquid":
            typer.echo("error: --node-fills is for hyperliquid", err=True)
            raise typer.Exit(2)
        if not root.is_dir():
            typer.echo(f"error: {root}: not a directory", err=True)
            raise typer.Exit(2)
        tail = NodeFillsTail(root, sink, coins=symbols or None, bar_grace_ms=bar_grace_ms, on_error=on_error)
        typer.echo(f"hyperliquid: following node fills in {root}", err=True)
        try:
            s = asyncio.run(_stop_on_signals(tail, duration_s))
        except KeyboardInterrupt:
            s = tail.stats
        typer.echo(f"hyperliquid: {s.lines} lines in {s.files} files, {s.liquidations} liquidations, {s.trades} "
                   f"trades -> {s.bars} bars, {s.errors} errors", err=True)
    finally:
        if kafka_sink is not None:
            kafka_sink.close()
        if fh is not None:
            fh.close()
