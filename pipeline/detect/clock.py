"""The event clock of one asset: per-source frontiers and the watermark behind them.

The watermark is the min over the active exchange feeds (liquidations, trade flow) of the latest
event time seen, minus the allowed lateness: nothing much older is still coming. A feed silent
for `idle_timeout_ms` of wall-clock time stops holding it back; a feed never heard from holds it
back from when the clock was born (a worker catching up on one topic must not run ahead of the
other). Chain transfers are too sparse to hold time back: they are accepted up to the chain
lateness behind the frontier instead.

Open interest and funding (`leverage`) is an optional feed: it holds the watermark back only once
heard from and while not idle, so that an alert's leverage context, taken as of its time, is the
same in the stream as in a replay; a deployment without it runs as before. Its backlog, read behind
the exchange feeds, holds the watermark where it is until caught up: it never pulls it back. Heard
from before the exchange feeds (a worker reading its topics side by side), it holds time from their
first event on.

Wall-clock time comes from the caller (`now`); offline the event time itself is the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAIN, LIQ, FLOW, LEV = "chain", "liquidations", "trade_flow", "leverage"
EXCHANGE = (LIQ, FLOW)


@dataclass
class EventClock:
    frontier: dict = field(default_factory=dict)  # source -> max event ts seen
    arrival: dict = field(default_factory=dict)  # source -> wall-clock ms of the last arrival (not snapshotted)
    born: int | None = None  # clock when this state was created or restored: unseen feeds idle from here
    # (now, idle timeout, front) of the last `front` call: asked again before anything changed (the next
    # event's lateness check after an advance, or a batch read at one wall-clock time), it is reused.
    memo: tuple | None = field(default=None, repr=False, compare=False)

    def start(self, clock: int) -> None:
        """Born (again) at `clock`: feeds never heard from idle from here."""
        self.born, self.memo = clock, None

    def front(self, now: int | None, idle_timeout_ms: int) -> int | None:
        """Min of the active feeds' max event times (None: hold time still)."""
        memo = self.memo
        if memo is not None and memo[0] == now and memo[1] == idle_timeout_ms:
            return memo[2]
        front = self._front(now, idle_timeout_ms)
        self.memo = (now, idle_timeout_ms, front)
        return front

    def _front(self, now: int | None, idle_timeout_ms: int) -> int | None:
        frontier = self.frontier
        liq, flow = frontier.get(LIQ), frontier.get(FLOW)
        arrival = self.arrival
        if liq is not None and flow is not None:  # the usual case, written out for speed
            clock = now if now is not None else liq if liq > flow else flow
            born = clock if (born := self.born) is None else born
            if clock - arrival.get(LIQ, born) < idle_timeout_ms:
                front = (liq if liq < flow else flow) if clock - arrival.get(FLOW, born) < idle_timeout_ms else liq
            elif clock - arrival.get(FLOW, born) < idle_timeout_ms:
                front = flow
            else:
                front = liq if liq > flow else flow
        elif liq is None and flow is None:
            return None
        else:
            clock = now if now is not None else flow if liq is None else liq
            born = clock if self.born is None else self.born  # restored, not started yet: born now
            liq_on = clock - arrival.get(LIQ, born) < idle_timeout_ms
            flow_on = clock - arrival.get(FLOW, born) < idle_timeout_ms
            if (liq_on and liq is None) or (flow_on and flow is None):
                return None  # an expected feed has not spoken yet
            front = flow if liq is None else liq  # the one that has spoken, active or not
        # The optional leverage feed holds time back once heard from and while not idle.
        lev = frontier.get(LEV)
        if lev is not None and lev < front and clock - arrival.get(LEV, born) < idle_timeout_ms:
            return lev
        return front

    def observe(self, source: str, ts: int, now: int | None) -> None:
        frontier = self.frontier
        at = now if now is not None else ts
        old = frontier.get(source, -1)
        if ts <= old and self.arrival.get(source) == at and self.born is not None:
            return  # nothing moves (a batch read at one time, behind its feed's front): the memo holds
        self.memo = None
        if self.born is None or not frontier:
            self.born = at
        if ts > old:
            frontier[source] = ts
        self.arrival[source] = at

    def hear(self, source: str, ts: int, now: int | None) -> None:
        """An optional feed heard from before the exchange feeds: noted, without starting the clock (the
        exchange feeds' idle timeouts run from their own first event)."""
        if ts > self.frontier.get(source, -1):
            self.frontier[source] = ts
        self.arrival[source] = now if now is not None else ts
        self.memo = None

    def observe_front(self, source: str, ts: int, now: int | None, idle_timeout_ms: int) -> int | None:
        """`observe`, then `front`, in one call (the detector asks both for every exchange event)."""
        frontier = self.frontier
        at = now if now is not None else ts
        old = frontier.get(source, -1)
        if ts <= old and self.arrival.get(source) == at and self.born is not None:
            memo = self.memo
            if memo is not None and memo[0] == now and memo[1] == idle_timeout_ms:
                return memo[2]
        else:
            if self.born is None or not frontier:
                self.born = at
            if ts > old:
                frontier[source] = ts
            self.arrival[source] = at
        front = self._front(now, idle_timeout_ms)
        self.memo = (now, idle_timeout_ms, front)
        return front

    def wall(self, now: int | None) -> int:
        """The wall clock, or offline the latest event time seen."""
        return now if now is not None else max(self.frontier.values(), default=self.born or 0)

    def to_dict(self) -> dict:
        return {"frontier": self.frontier, "born": self.born}

    @classmethod
    def from_dict(cls, d: dict) -> "EventClock":
        # Arrival clocks are not restored, and the clock is born again at the first event after the
        # restore: after downtime every feed gets a fresh idle timeout, so the backlog of one topic
        # cannot push time past another's.
        return cls(frontier=dict(d["frontier"]))
