"""Run a LiveFeed until a condition holds (then stop it as Ctrl-C would), instead of for a fixed time.

The feed is cancelled once `until(feed, events)` is true; LiveFeed.run then flushes its bars and
emits its closing `disconnected` event, as on a stop. If the condition does not hold within the
timeout the feed is stopped the same way and the test fails naming what it waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pipeline.sources.exchanges.live import LiveConfig, LiveFeed

from tests.waiting import DEFAULT_TIMEOUT_S

Until = Callable[[LiveFeed, list[dict]], bool]


def run_feed_until(cfg: LiveConfig, until: Until, what: str, timeout: float = DEFAULT_TIMEOUT_S, **kw):
    """(feed, stats, events, arrivals s after start, stopped_at s after start). cfg.duration_s must be None."""
    assert cfg.duration_s is None, "the condition ends the feed, not a duration"
    events: list[dict] = []
    arrivals: list[float] = []
    t0 = time.monotonic()

    async def sink(batch):
        events.extend(batch)
        arrivals.extend([time.monotonic() - t0] * len(batch))

    feed = LiveFeed(cfg, sink, **kw)

    async def main():
        task = asyncio.create_task(feed.run())
        deadline = time.monotonic() + timeout
        met = False
        while not task.done():
            if until(feed, events):
                met = True
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        stopped = time.monotonic() - t0
        if task.done():
            return task.result(), stopped, met  # raises what the feed raised (SubscribeError, FeedError)
        task.cancel()
        try:
            stats = await task
        except asyncio.CancelledError:
            stats = feed.stats
        if not met:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        return stats, stopped, met

    stats, stopped, _ = asyncio.run(main())
    return feed, stats, events, arrivals, stopped


def run_feed_to_end(cfg: LiveConfig, timeout: float = DEFAULT_TIMEOUT_S, **kw):
    """A feed expected to stop by itself (refused, gave up): returns as run_feed_until, fails after timeout."""
    return run_feed_until(cfg, lambda feed, events: False, f"the {cfg.venue} feed to stop by itself", timeout, **kw)
