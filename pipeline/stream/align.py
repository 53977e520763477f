"""Reading a backlog in event-time order: messages of partitions that ran ahead wait for the others.

A worker that starts (or takes over partitions) with a backlog reads its partitions in whatever
order the consumer fetches them: a first fetch sometimes brings only a few partitions, and a
sparse topic (whale transfers, ETF flows) can then arrive after its asset's exchange feeds are
hours ahead of it. The detector would take such a transfer for a late one and the worker would
publish other alerts than `replay` does over the same events.

`Alignment` knows, from the assignment, which partitions had a backlog (their end offsets then)
and, per partition, how far in event time it has read. While some of those partitions have not
read their backlog, a message is handed on only once it is no later in event time than every
such partition has read; the rest wait (in each partition's own order) and are handed on merged
in event-time order (at most `max_held` of them: past that the earliest go on regardless, so a
backlog read very unevenly costs no more memory than that). A partition is caught up once it has read up to its end offset at the
assignment (or its position is found there); after that nothing is held: a live worker is never
delayed. A partition that brings nothing for `max_wait_s` stops holding the others, so a stalled
fetch delays a catch-up, never stops it.

No I/O here: the agent's takes (pipeline/stream/takes.py) feed it and ask it.
"""

from __future__ import annotations

import heapq
import re
import time
from collections import deque
from collections.abc import Callable, Iterable

TP = tuple[str, int]  # (topic, partition)
# The field holding each contract's event time (`ts`, or a whale transfer's block time, an ETF flow's
# publication, a link's source time: their `.ts` in pipeline/contracts/models.py).
_TS = re.compile(rb'"(?:ts|block_time|published_ts|source_ts)":\s*(-?\d+)')


def event_time(value: bytes) -> int | None:
    """The event time of a message's (first) event, read without parsing it; None if it has none (a
    malformed message: it goes on with its partition's last time, to be dead-lettered)."""
    m = _TS.search(value)
    try:
        return int(m.group(1)) if m else None
    except ValueError:  # thousands of digits: past what int() reads from text; the message is dead-lettered
        return None


class Alignment:
    def __init__(self, max_wait_s: float = 10.0, max_held: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_wait_s, self.max_held, self.clock = max_wait_s, max_held, clock
        self.ends: dict[TP, int] = {}  # partitions still reading their backlog -> end offset at the assignment
        self.read: dict[TP, int] = {}  # event time read so far per partition
        self.queues: dict[TP, deque] = {}  # messages held, per partition, in offset order: (ts, item)
        self.held = 0
        self.since: dict[TP, float] = {}  # when each backlogged partition last brought a message

    @property
    def active(self) -> bool:
        return bool(self.ends)

    def start(self, ends: dict[TP, int]) -> None:
        """A new assignment: the end offset of each input partition now (one with nothing to read is left
        out by `caught_up` as soon as its position is known)."""
        self.ends = {tp: end for tp, end in ends.items() if end > 0}
        self.read, self.queues, self.held = {}, {}, 0
        now = self.clock()
        self.since = {tp: now for tp in self.ends}

    def caught_up(self, tp: TP, position: int | None) -> None:
        """`tp`'s position is known: it holds nothing back once at its end offset."""
        end = self.ends.get(tp)
        if end is not None and position is not None and position >= end:
            self._done(tp)

    def waiting_for(self) -> list[TP]:
        """Backlogged partitions that have not brought a message yet (their position is worth asking)."""
        return [tp for tp in self.ends if tp not in self.read]

    def add(self, items: Iterable[tuple[TP, int | None, int | None, object]]) -> list:
        """(partition, offset, event time, item) of messages as they came; returns the items that may be
        handled now, in the order to handle them."""
        if not self.ends and not self.held:
            return [item for _, _, _, item in items]
        now = self.clock()
        for tp, offset, ts, item in items:
            q = self.queues.get(tp)
            if q is None:
                q = self.queues[tp] = deque()
            if ts is None:  # no event time: as late as what precedes it in its partition
                ts = q[-1][0] if q else self.read.get(tp, -1)
            q.append((ts, item))
            self.held += 1
            if ts > self.read.get(tp, -1):
                self.read[tp] = ts
            if tp in self.ends:
                self.since[tp] = now
                if offset is not None and offset + 1 >= self.ends[tp]:
                    self._done(tp)
        return self.release()

    def release(self, everything: bool = False) -> list:
        """The held items no later than every backlogged partition has read (all of them when
        `everything`, or once no partition holds the others back), merged in event-time order."""
        if not self.held:
            return []
        now = self.clock()
        for tp in [tp for tp, t in self.since.items() if now - t >= self.max_wait_s]:
            self._done(tp)  # brought nothing for a while: it no longer holds the others
        bound = None
        if self.ends and not everything:
            bound = min(self.read.get(tp, -1) for tp in self.ends)
        over = self.held - self.max_held  # this many go on past the bound
        heads = [(q[0][0], n, tp) for n, (tp, q) in enumerate(self.queues.items()) if q]
        heapq.heapify(heads)
        out = []
        while heads:
            ts, n, tp = heads[0]
            if bound is not None and ts > bound and len(out) >= over:
                break
            q = self.queues[tp]
            out.append(q.popleft()[1])
            if q:
                heapq.heapreplace(heads, (q[0][0], n, tp))
            else:
                heapq.heappop(heads)
        self.held -= len(out)
        return out

    def clear(self) -> None:
        """Drop everything held (a new assignment reads it again from the committed offsets)."""
        self.start({})

    def _done(self, tp: TP) -> None:
        self.ends.pop(tp, None)
        self.since.pop(tp, None)
