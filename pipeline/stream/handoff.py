"""State handoff between workers: no input is acknowledged before a saved state covers it.

A worker that takes over a partition (after a rebalance, a graceful stop or a crash of its owner)
restores each asset's state from the `detector_state` table (its changelog topic) and resumes from
the group's committed offsets. That is only right if the changelog holds the effect of every event
up to those offsets. So the worker holds back the acknowledgement of what it handled (the consumer
commits only acknowledged offsets) until the snapshots of the assets it changed have been written
to the changelog and the broker has confirmed them: `hold` what a take would acknowledge, `save`
to write the changed assets and then release what was held.

Why not at commit time: Faust's commit hook is synchronous and its changelog writes are buffered;
its producer flush gives up after 0.1 s without a message sent, so on a busy machine offsets could
be committed before the state that covers them reached the broker, and a worker reloading that
state (itself after a rebalance, or the next owner) missed the events in between.

The state may run ahead of the committed offsets (events handled and saved, not yet committed):
the next owner reads those events again, and the detector ignores what it has already seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# send(asset, partition, snapshot) -> an awaitable that completes once the broker holds the record
Send = Callable[[str, int | None, bytes], Awaitable[Awaitable]]
Release = Callable[[], Awaitable[None]]


class StateCheckpoint:
    """The changed assets (`touched`) and the acknowledgements waiting for their state (`hold`).

    `handler` is the agent's pipeline.stream.handler.Handler: its detector holds the states, and it
    encodes them as the table stores them. `every_s`: how often `due` says a save is wanted."""

    def __init__(self, handler, send: Send, *, every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.handler, self.send, self.every_s, self.clock = handler, send, every_s, clock
        self.dirty: dict[str, int | None] = {}  # asset -> partition of the messages that carry it
        self.held: list[Release] = []  # in the order the takes were handled
        self.saved_at = clock()
        self.saves = 0  # snapshots confirmed, for tests and logs

    def touched(self, asset: str, partition: int | None) -> None:
        self.dirty[asset] = partition

    def hold(self, release: Release) -> None:
        """`release` (acknowledge or store a take's messages) runs after the next successful `save`."""
        self.held.append(release)

    def due(self) -> bool:
        return bool(self.held) and self.clock() - self.saved_at >= self.every_s

    async def save(self) -> int:
        """Write every changed asset the handler still holds, wait for the broker to confirm each, then
        release what was held. Returns the number of snapshots written. On a failed write nothing is
        released and everything stays for the next call."""
        dirty, held = self.dirty, self.held
        self.dirty, self.held = {}, []
        try:
            assets = self.handler.detector.assets
            pending = [await self.send(asset, partition, self.handler.encode_state(asset))
                       for asset, partition in dirty.items() if asset in assets]
            if pending:
                await asyncio.gather(*pending)
        except BaseException:
            self.dirty, self.held = {**dirty, **self.dirty}, held + self.held
            raise
        self.saved_at = self.clock()
        self.saves += len(pending)
        for release in held:
            await release()
        return len(pending)

    def forget(self) -> None:
        """After a rebalance the assets may belong to another worker: drop what is not saved. What was
        held is not acknowledged, so the consumer reads it again from the committed offsets."""
        self.dirty.clear()
        self.held.clear()
