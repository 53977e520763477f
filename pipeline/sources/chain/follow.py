"""Following a chain's head live: a `newHeads` WebSocket subscription says *when* to poll, never what.

Every poll is the watcher's HTTP `poll()`, from its checkpoint up to the head, so a head notification
that is lost, repeated or out of order cannot make a block be skipped or processed twice, and reorgs
are found by the poll's own block-hash comparison. When the WebSocket cannot be opened or drops, the
watcher polls over HTTP every `poll_interval` seconds and retries the WebSocket with exponential
backoff. Once the node has answered a poll, a poll that fails (a node timeout, a 429, a block a lagging
backend does not have yet, a sink that cannot publish) is logged and tried again after `poll_backoff`
seconds, doubling up to `poll_backoff_max`: the checkpoint moves only after a batch reached its sink, so
nothing is skipped. A node that has never answered is a setting to fix: its error ends `follow`.
Used by the Ethereum watcher (ethereum.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from web3 import AsyncWeb3, WebSocketProvider

from pipeline.contracts.models import WhaleTransfer
from pipeline.redact import redact_url, scrub

log = logging.getLogger(__name__)

_WS_CLOSED = object()


class _PollFailed(Exception):
    """Wraps an error of the HTTP poll made while subscribed, so follow() re-raises it instead of falling back."""


class HeadFollower:
    """`follow()` for a watcher polled over HTTP: its `poll(commit=False)` reads from its checkpoint up to the
    head (at most `max_blocks` blocks), `commit()` makes that the checkpoint and `rollback()` goes back to it;
    it keeps `last_block`, `last_head` and `blocks_processed`."""

    def __init__(self) -> None:
        # follow() state, for logs and tests: "ws" while subscribed, "http" while polling without a WebSocket
        self.mode: str | None = None
        self.ws_heads = 0  # newHeads notifications received
        self.ws_failures = 0  # WebSocket connections that could not be opened or dropped
        self.poll_failures = 0  # polls that raised (node or sink errors), each tried again after a backoff
        self._ws_got_heads = False

    async def follow(self, ws_url: str | None = None, *,
                     sink: Callable[[list[WhaleTransfer]], None] = lambda evs: None,
                     poll_interval: float = 4.0, max_blocks: int | None = None, duration: float | None = None,
                     stop: Callable[[], bool] = lambda: False, ws_backoff: float = 1.0,
                     ws_backoff_max: float = 60.0, ws_idle: float = 60.0, ws_open_timeout: float = 10.0,
                     poll_backoff: float = 1.0, poll_backoff_max: float = 60.0) -> None:
        """Follow the head until `stop()`, `max_blocks` blocks processed, or `duration` seconds.

        With `ws_url`, a `newHeads` subscription triggers each poll (plus a safety poll after `ws_idle` seconds
        without a head). Without it, or while the WebSocket is down, poll over HTTP every `poll_interval`
        seconds; a failed or dropped WebSocket is retried after `ws_backoff` seconds, doubling up to
        `ws_backoff_max`, reset once a connection delivers a head. Each non-empty batch goes to `sink` (called in
        a worker thread, like the HTTP reads, so the event loop keeps reading the socket). `max_blocks` counts
        heights processed since the call (re-read heights after a reorg count again); the poll that reaches it
        finishes, so slightly more may be processed, never skipped.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration if duration is not None else None
        target = self.blocks_processed + max_blocks if max_blocks is not None else None

        def done() -> bool:
            return (stop() or (target is not None and self.blocks_processed >= target)
                    or (deadline is not None and loop.time() >= deadline))

        answered = False  # the node has answered a poll: its failures from then on are passing ones

        def catch_up() -> None:
            nonlocal answered
            while True:  # poll() reads at most self.max_blocks blocks: repeat until at the head
                evs = self.poll(commit=False)
                answered = True
                if evs:
                    sink(evs)
                self.commit()  # only once the sink has them
                if self.last_block is None or self.last_head is None or self.last_block >= self.last_head \
                        or done():
                    return

        async def sleep_until(t: float) -> None:
            while not done() and loop.time() < t:
                await asyncio.sleep(min(0.05, t - loop.time()))

        async def failed(exc: BaseException) -> None:
            nonlocal poll_wait
            if not answered:
                raise exc  # never reached the node: a wrong URL or key, said at once
            self.poll_failures += 1
            self.rollback()  # what the failed batch read is read again
            log.warning("ethereum: poll failed (%s); trying again in %.1fs", scrub(f"{type(exc).__name__}: {exc}",
                        [ws_url or ""]), poll_wait)
            await sleep_until(loop.time() + poll_wait)
            poll_wait = min(poll_wait * 2, poll_backoff_max)

        backoff, poll_wait = ws_backoff, poll_backoff
        next_ws = loop.time()
        while not done():
            if ws_url and loop.time() >= next_ws:
                try:
                    got_heads = await self._follow_ws(ws_url, catch_up, done, ws_idle, ws_open_timeout)
                    reason = "subscription closed"
                except _PollFailed as exc:
                    await failed(exc.__cause__)  # the node, not the WebSocket: subscribe again after the wait
                    continue
                except Exception as exc:  # noqa: BLE001 - any WebSocket failure means: fall back to HTTP
                    got_heads = self._ws_got_heads
                    reason = f"{type(exc).__name__}: {exc}"
                if done():
                    break
                self.ws_failures += 1
                if got_heads:
                    backoff = ws_backoff
                log.warning("ethereum: WebSocket %s unavailable (%s); polling over HTTP, retry in %.1fs",
                            redact_url(ws_url), scrub(reason, [ws_url]), backoff)
                next_ws = loop.time() + backoff
                backoff = min(backoff * 2, ws_backoff_max)
            self.mode = "http"
            try:
                await asyncio.to_thread(catch_up)
            except Exception as exc:  # noqa: BLE001 - a node or sink error: logged, tried again after a backoff
                await failed(exc)
                continue
            poll_wait = poll_backoff
            wake = loop.time() + poll_interval
            if ws_url:
                wake = min(wake, next_ws)
            await sleep_until(wake)
        self.mode = None

    async def _follow_ws(self, url: str, catch_up: Callable[[], None], done: Callable[[], bool],
                         idle: float, open_timeout: float) -> bool:
        """Subscribe to newHeads and catch up on each head until done() (returns) or the socket fails (raises)."""
        self._ws_got_heads = False
        # One connection attempt (follow() does the retrying, polling meanwhile); pings every 20 s, and a pong
        # missing for 20 s closes a hung connection (web3's default waits 5 minutes).
        provider = WebSocketProvider(url, websocket_kwargs={"open_timeout": open_timeout, "ping_interval": 20,
                                                            "ping_timeout": 20},
                                     max_connection_retries=1, request_timeout=open_timeout)
        async with AsyncWeb3(provider) as aw3:
            await aw3.eth.subscribe("newHeads")
            self.mode = "ws"
            log.info("ethereum: subscribed to newHeads at %s", redact_url(url))
            queue: asyncio.Queue = asyncio.Queue()

            async def reader() -> None:
                try:
                    async for payload in aw3.socket.process_subscriptions():
                        queue.put_nowait(payload)
                    queue.put_nowait(_WS_CLOSED)
                except Exception as exc:  # noqa: BLE001 - handed to the loop below
                    queue.put_nowait(exc)

            async def caught_up() -> None:
                try:
                    await asyncio.to_thread(catch_up)
                except Exception as exc:  # an HTTP/processing error is not a WebSocket failure
                    raise _PollFailed() from exc

            task = asyncio.create_task(reader())
            loop = asyncio.get_running_loop()
            try:
                await caught_up()  # blocks made while not subscribed
                quiet_since = loop.time()
                while not done():
                    try:  # short waits so done() (stop, duration) is checked often
                        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a Ctrl-C (a
                        # cancellation) that arrives as the item does, and the command would not stop.
                        async with asyncio.timeout(min(idle, 0.25)):
                            item = await queue.get()
                    except TimeoutError:
                        if loop.time() - quiet_since >= idle:  # safety poll: a head may have been lost
                            await caught_up()
                            quiet_since = loop.time()
                        continue
                    items = [item]
                    while not queue.empty():  # heads that arrived during the last catch-up: one poll covers them
                        items.append(queue.get_nowait())
                    for it in items:
                        if it is _WS_CLOSED:
                            raise ConnectionError("newHeads stream ended")
                        if isinstance(it, BaseException):
                            raise it
                    self.ws_heads += len(items)
                    self._ws_got_heads = True
                    await caught_up()
                    quiet_since = loop.time()
                return self._ws_got_heads
            finally:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
