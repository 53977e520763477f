"""The agent's takes: messages gathered a few at a time, handled together, and acknowledged only once
a saved state covers them; no take is handled while a rebalance is under way.

The sequence around a rebalance (Faust, eager protocol: every partition is revoked, then the new
assignment is given):
- while partitions are being revoked (and when the worker stops), Faust waits for every message it
  delivered to be acknowledged, committing in a loop; `tick` (the agent's timer) handles what waits
  and saves at once rather than at the next interval, and `SaveOnCommit` starts a save at each of
  those commits (at shutdown the timer no longer runs), so that wait is short;
- `revoked` (once Faust is done waiting): everything handled is saved and released, and from then
  on no take is handled: a take handled now would change a state that is about to be dropped, or
  that belongs to another worker;
- `assigned` (the new assignment is in place, tables restored, before the partitions are resumed
  and sought to the committed offsets; the agent stops the consumer's flow there, which Faust
  resumes after that seek): the cached states are dropped (reloaded from the table on the next
  event of each asset), as is anything still unhandled or unsaved; none of it is acknowledged, so
  the consumer reads it again from the committed offsets. From then on each partition's offsets
  must follow on; a skip is logged as a warning (records never delivered: the reloaded state
  misses them).

While the partitions assigned read the backlog they had at the assignment, a message of a partition
that ran ahead in event time waits for the others (pipeline/stream/align.py), so a catch-up gives
`replay`'s alerts; it is handled, saved and acknowledged like any other once it goes on, and
everything held goes on at once when a rebalance or the shutdown waits for the acknowledgements.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from faust.sensors import Sensor

from pipeline.stream.align import TP, Alignment, event_time
from pipeline.stream.handler import Handler
from pipeline.stream.handoff import StateCheckpoint
from pipeline.stream.messages import Message, Outputs, with_value

log = logging.getLogger("cascadewatch.stream")

Deliver = Callable[[Outputs], Awaitable[None]]
Release = Callable[[list[dict], list], Awaitable[None]]  # (rows, the take's messages)
Position = Callable[[TP], Awaitable[int | None]]


class Takes:
    """`deliver(out)` sends a take's output and returns once the broker has all of it;
    `release(rows, events)` acknowledges the take's messages (or has them acknowledged once their rows
    are stored); `message(event)` turns what the stream gives into a handler `Message`; `record`: a file
    each take is appended to (`record_take`), None: none; `align`: reads a backlog in event-time order
    (`aligned` gives it the end offsets at each assignment), with `position(tp)` asked for backlogged
    partitions that brought nothing yet."""

    def __init__(self, handler: Handler, checkpoint: StateCheckpoint, *, deliver: Deliver, release: Release,
                 message: Callable[[object], Message], clock: Callable[[], float] = time.monotonic,
                 record: str | None = None, align: Alignment | None = None, position: Position | None = None) -> None:
        self.handler, self.checkpoint = handler, checkpoint
        self.record, self.align, self.position = record, align, position
        self.asked = 0.0  # when positions were last asked
        self.deliver, self.release, self.message, self.clock = deliver, release, message, clock
        self.lock = asyncio.Lock()
        self.messages: list = []
        self.since = 0.0
        self.paused = False  # between `revoked` and `assigned`
        self.next: dict[tuple[str, int], int] = {}  # (topic, partition) -> the offset expected next

    def add(self, event) -> None:
        if not self.messages:
            self.since = self.clock()
        self.messages.append(event)

    async def step(self, drain: bool = False) -> None:
        """Handle what waits (and what the alignment lets go on; everything it holds when `drain`), send
        its output, and hold its acknowledgement for the next save (at once when it raised an alert, so a
        takeover never publishes that alert again)."""
        async with self.lock:
            if self.paused or not (self.messages or (self.align is not None and self.align.held)):
                return
            events, self.messages = self.messages, []
            msgs = [with_value(self.message(e)) for e in events]
            if self.align is not None and (self.align.active or self.align.held):  # else live: as they came
                pairs = self.align.add(((m.topic, m.partition), m.offset, event_time(m.value), (m, e))
                                       for m, e in zip(msgs, events))
                if drain:
                    pairs += self.align.release(everything=True)
                if not pairs:
                    return
                msgs, events = [m for m, _ in pairs], [e for _, e in pairs]
            self._check_offsets(msgs)
            out = self.handler.handle(msgs)
            if self.record is not None:
                record_take(self.record, out.now, msgs)
            for asset, partition in out.partitions.items():
                self.checkpoint.touched(asset, partition)
            await self.deliver(out)
            rows, release = out.rows, self.release
            self.checkpoint.hold(lambda: release(rows, events))
            if out.alerts or self.checkpoint.due():
                await self._save()

    async def tick(self, within_s: float, rebalancing: bool = False) -> None:
        """From a timer: handle what waited `within_s`, and save when due (at once while rebalancing)."""
        held = self.align is not None and self.align.held
        if (self.messages and self.clock() - self.since >= within_s) or held:
            await self.step(drain=rebalancing)
        if self.align is not None and self.align.active and self.position is not None:
            await self._ask_positions()
        if self.checkpoint.held and (rebalancing or self.checkpoint.due()):
            await self.flush()

    async def flush(self) -> None:
        """Handle everything held back, then save and release everything handled so far."""
        if self.align is not None and self.align.held:
            await self.step(drain=True)
        async with self.lock:
            await self._save()

    async def revoked(self) -> None:
        """Partitions are being given up: save and release everything handled, then handle nothing more
        until `assigned`."""
        async with self.lock:
            self.paused = True
            await self._save()

    async def assigned(self) -> None:
        """The new assignment is in place: start again from the table and the committed offsets."""
        async with self.lock:
            self.messages = []
            if self.align is not None:
                self.align.clear()
            self.handler.forget()
            self.checkpoint.forget()
            self.next.clear()
            self.paused = False

    def aligned(self, ends: dict[TP, int]) -> None:
        """The input partitions' end offsets at the new assignment: their backlog is read aligned."""
        if self.align is not None:
            self.align.start(ends)

    async def _ask_positions(self) -> None:
        """A backlogged partition that brought nothing yet may have nothing to bring (read up to its end
        before): its position says so, asked at most once a second."""
        now = self.clock()
        if now - self.asked < 1.0:
            return
        self.asked = now
        for tp in self.align.waiting_for():
            try:
                self.align.caught_up(tp, await asyncio.wait_for(self.position(tp), timeout=0.5))
            except Exception as exc:  # not assigned (yet), or the consumer is busy: asked again later
                log.debug("position of %s: %s", tp, exc)

    def _check_offsets(self, msgs: list[Message]) -> None:
        """Say so when a partition's offsets skip ahead since the assignment: the state reloaded from the
        table then misses the records in between (unless the log itself has a gap there)."""
        expected = self.next
        for m in msgs:
            if m.offset is None:
                continue
            tp = (m.topic, m.partition)
            want = expected.get(tp)
            if want is not None and m.offset > want:
                log.warning("%s[%s]: offsets %d..%d were not delivered since the partition was assigned",
                            m.topic, m.partition, want, m.offset - 1)
            if want is None or m.offset >= want:
                expected[tp] = m.offset + 1

    async def _save(self) -> None:
        try:
            await self.checkpoint.save()
        except Exception:  # logged loudly; what it covers stays unacknowledged and is retried
            log.exception("saving the detector state failed; its messages stay unacknowledged")


def record_take(path: str, now: float, msgs: list[Message]) -> None:
    """One JSON line: the clock the handler ran at and the take's messages (key and value in base64)."""
    line = {"now": now, "messages": [[m.topic, None if m.key is None else base64.b64encode(m.key).decode(),
                                      base64.b64encode(m.value).decode(), m.partition, m.offset] for m in msgs]}
    with open(path, "ab") as f:
        f.write(orjson.dumps(line) + b"\n")


def read_takes(path: str) -> list[tuple[float, list[Message]]]:
    """What `record_take` wrote: (clock, messages) per take, in order."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            d = orjson.loads(line)
            out.append((d["now"], [Message(t, base64.b64decode(v), None if k is None else base64.b64decode(k), p, o)
                                   for t, k, v, p, o in d["messages"]]))
    return out


class SaveOnCommit(Sensor):
    """While Faust waits for every delivered message to be acknowledged (partitions being revoked, the
    worker stopping) it commits in a loop, and at shutdown the agent's timer no longer runs: each such
    commit starts a save of what the takes hold, so the wait ends as soon as the broker has the state.
    `waiting()` says whether Faust is in such a wait (rebalancing or stopping)."""

    def __init__(self, takes: Takes, waiting: Callable[[], bool]) -> None:
        super().__init__()
        self.takes, self.waiting = takes, waiting
        self.task: asyncio.Task | None = None

    def on_commit_initiated(self, consumer):
        held = self.takes.checkpoint.held or (self.takes.align is not None and self.takes.align.held)
        if held and self.waiting() and (self.task is None or self.task.done()):
            self.task = asyncio.ensure_future(self.takes.flush())
        return super().on_commit_initiated(consumer)
