"""The sink's writer: rows are batched and inserted in the background, with retries, and each input is
acknowledged only once its row is stored, so reading goes on through a store outage.

Why in the background: the worker's agents share one consumer, and in Faust an agent that stops
taking messages fills its buffer, which pauses those partitions for every agent. A sink that waited
on a store outage would stop detection with it. Here the reader only waits when `max_backlog`
inputs are pending (memory is bounded); until then detection and alerting go on, and the offsets of
unstored inputs are not committed (an input is acknowledged after its batch is written; the
consumer commits only up to the first unacknowledged offset), so a crash during an outage replays
them: the insert deduplication absorbs what was written twice, and in the tables whose rows are revised
in place (base.REVISED_IN_PLACE) the rows are written again in order and collapse under FINAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("cascadewatch.sink")


async def insert_with_retry(store, batch: list[dict], max_delay_s: float = 30.0, stale: dict | None = None
                            ) -> dict[str, int]:
    """Insert a batch, retrying with capped backoff until it is stored (`stale`: see Store.insert_events).

    It never gives up: giving up would let offsets commit past rows that were never written.
    Retries are safe: inserts are deduplicated (token and ReplacingMergeTree on event_id).
    """
    if stale is None:
        return await _retry(lambda: store.insert_events(batch), f"ClickHouse insert of {len(batch)} events", max_delay_s)
    touched: dict = {}  # a failed attempt must not leave its minutes behind twice

    def attempt() -> dict[str, int]:
        touched.clear()
        return store.insert_events(batch, touched)

    counts = await _retry(attempt, f"ClickHouse insert of {len(batch)} events", max_delay_s)
    for table, ranges in touched.items():
        stale.setdefault(table, []).extend(ranges)
    return counts


async def _retry(call: Callable[[], Any], what: str, max_delay_s: float) -> Any:
    """`call` in a thread until it returns, retrying with capped backoff."""
    loop = asyncio.get_running_loop()
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            return await loop.run_in_executor(None, call)
        except Exception as exc:  # noqa: BLE001 - the store raises driver-specific errors
            log.warning("%s failed (attempt %d: %s), retrying in %.1fs", what, attempt, exc, delay,
                        exc_info=attempt == 1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)


class BackgroundWriter:
    """`put(row, token)` queues a row (None: nothing to store) and returns at once unless `max_backlog`
    are pending; `ack(token)` is awaited once the row is stored, in the order they were put.

    `rollup_interval_s` > 0: the per-minute rollups the inserts touched are recomputed together at most
    that often (a live minute is touched by every insert, and each recomputation reads the whole minute
    again), and a token is acknowledged only once its rows' minutes are recomputed, so a crash in
    between stores them again and refreshes them then. 0: every insert refreshes its own minutes."""

    def __init__(self, store, *, ack: Callable[[Any], Awaitable[Any]], batch_size: int, flush_interval_s: float,
                 max_backlog: int, retry_max_delay_s: float = 30.0, rollup_interval_s: float = 0.0,
                 on_stored: Callable[[dict[str, int]], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.store, self.ack, self.on_stored = store, ack, on_stored
        self.rollup_interval_s, self.clock = rollup_interval_s, clock
        self._stale: dict = {}  # rollup minutes stored but not recomputed yet
        self._unrefreshed: list = []  # tokens whose rows are stored, waiting for their rollups
        self._refreshed_at = clock()
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.max_backlog, self.retry_max_delay_s = max(max_backlog, batch_size), retry_max_delay_s
        self._pending: list[tuple[dict | None, Any]] = []
        self._in_flight = 0
        self._full = asyncio.Event()  # a batch is ready
        self._room = asyncio.Event()  # the backlog is below its bound
        self._room.set()

    @property
    def backlog(self) -> int:
        return len(self._pending) + self._in_flight

    async def put(self, row: dict | None, token: Any) -> None:
        while self.backlog >= self.max_backlog:
            self._room.clear()
            await self._room.wait()
        self._pending.append((row, token))
        if len(self._pending) >= self.batch_size:
            self._full.set()

    async def put_many(self, rows: list[dict], tokens: list) -> None:
        """Rows that several inputs gave together (a batch envelope, a take): stored before any of
        `tokens` is acknowledged."""
        if not tokens:
            return
        while self.backlog >= self.max_backlog:  # the bound is checked per take: it may be passed by one take
            self._room.clear()
            await self._room.wait()
        pending = self._pending
        pending.extend([(row, None) for row in rows])
        pending.extend([(None, token) for token in tokens])
        if len(pending) >= self.batch_size:
            self._full.set()

    async def run(self) -> None:
        """Write batches until cancelled: when `batch_size` rows are pending or `flush_interval_s` passed."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation that
            # arrives as the event is set, and the writer would not stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval_s):
                    await self._full.wait()
            await self.flush()

    async def flush(self) -> None:
        """Write everything pending now (one batch after another), then the rollups if they are due."""
        await self._write_pending()
        await self._refresh_if_due()

    async def _refresh_if_due(self) -> None:
        if self._unrefreshed and self.clock() - self._refreshed_at >= self.rollup_interval_s:
            await self.refresh()

    async def refresh(self) -> None:
        """Recompute the rollup minutes stored so far, then acknowledge the tokens that waited for them."""
        stale, self._stale = self._stale, {}
        tokens, self._unrefreshed = self._unrefreshed, []
        if stale:
            await _retry(lambda: self.store.refresh_rollups(stale), "ClickHouse rollup refresh", self.retry_max_delay_s)
        self._refreshed_at = self.clock()
        for token in tokens:
            await self.ack(token)

    async def _write_pending(self) -> None:
        deferred = self.rollup_interval_s > 0
        while self._pending:
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size:]
            if len(self._pending) < self.batch_size:
                self._full.clear()
            self._in_flight = len(batch)
            try:
                rows = [row for row, _ in batch if row is not None]
                if rows:
                    counts = await insert_with_retry(self.store, rows, self.retry_max_delay_s,
                                                     self._stale if deferred else None)
                    if self.on_stored is not None:
                        self.on_stored(counts)
                if deferred:
                    self._unrefreshed.extend(token for _, token in batch if token is not None)
                    await self._refresh_if_due()  # also while catching up, when new rows keep this loop going
                else:
                    for _, token in batch:
                        if token is not None:
                            await self.ack(token)
            finally:
                self._in_flight = 0
                self._room.set()

    @contextlib.asynccontextmanager
    async def running(self):
        """The writer task for the lifetime of the block; on leaving it, what is pending is left
        unacknowledged (read again by the next owner), not written in a hurry."""
        task = asyncio.ensure_future(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
