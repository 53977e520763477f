"""Pack encoded events into batch envelopes, per topic and key, bounded by count, bytes and time.

Pure: no Kafka here. `add` returns the messages that are ready; `due` those whose oldest event has
waited `linger_s` (the clock is injected); `drain` everything. Order is kept per topic and key.
A buffer holding one event is sent as that event alone (no envelope), and an event too large to
share an envelope goes alone as well, so the worker refuses it by its own size, not the batch's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.contracts.envelope import OVERHEAD, encode

Message = tuple[str, bytes | None, bytes]  # (topic, key, value)


@dataclass
class _Open:
    started: float
    events: list[bytes] = field(default_factory=list)
    size: int = OVERHEAD


class Batcher:
    def __init__(self, max_events: int = 200, max_bytes: int = 128 * 1024, linger_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events and max_bytes must be at least 1")
        self.max_events, self.max_bytes, self.linger_s, self.clock = max_events, max_bytes, linger_s, clock
        self._open: dict[tuple[str, bytes | None], _Open] = {}

    @classmethod
    def from_settings(cls, batch, clock: Callable[[], float] = time.monotonic) -> "Batcher":
        """From a pipeline.config.BatchConfig; disabled batching is an envelope of one event, i.e. none."""
        if not batch.enabled:
            return cls(max_events=1, max_bytes=batch.max_bytes, linger_s=0.0, clock=clock)
        return cls(batch.max_events, batch.max_bytes, batch.linger_s, clock)

    def add(self, topic: str, key: bytes | None, value: bytes, *, alone: bool = False) -> list[Message]:
        """Buffer one encoded event; `alone` sends it as it is (after what is buffered for its topic and
        key), for bytes that must not be wrapped, such as a message that is not valid JSON."""
        ready: list[Message] = []
        slot = (topic, key)
        buf = self._open.get(slot)
        if buf is not None and (alone or buf.size + len(value) + 1 > self.max_bytes):
            ready.append(self._close(slot))
            buf = None
        if alone or OVERHEAD + len(value) > self.max_bytes:
            ready.append((topic, key, value))  # too large to share an envelope, or not to be wrapped
            return ready
        if buf is None:
            buf = self._open[slot] = _Open(self.clock())
        buf.events.append(value)
        buf.size += len(value) + (1 if len(buf.events) > 1 else 0)
        if len(buf.events) >= self.max_events:
            ready.append(self._close(slot))
        return ready

    def due(self) -> list[Message]:
        """Messages whose oldest event has waited linger_s or more."""
        now = self.clock()
        return [self._close(slot) for slot, buf in list(self._open.items()) if now - buf.started >= self.linger_s]

    def next_due_in(self) -> float | None:
        """Seconds until the next buffer is due (None: nothing buffered)."""
        if not self._open:
            return None
        oldest = min(buf.started for buf in self._open.values())
        return max(0.0, oldest + self.linger_s - self.clock())

    def drain(self) -> list[Message]:
        return [self._close(slot) for slot in list(self._open)]

    @property
    def pending(self) -> int:
        return sum(len(b.events) for b in self._open.values())

    def _close(self, slot: tuple[str, bytes | None]) -> Message:
        buf = self._open.pop(slot)
        topic, key = slot
        value = buf.events[0] if len(buf.events) == 1 else encode(buf.events)
        return topic, key, value
