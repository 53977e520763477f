"""Buffer events and write them to a Store in batches bounded by size and by age."""

from __future__ import annotations

import threading
import time

from pipeline.sinks.clickhouse import Store


class BatchWriter:
    """Thread-safe. A batch is written when it holds batch_size events, or, on the next add() or
    due()-driven flush(), once flush_interval_s has passed since its oldest event arrived."""

    def __init__(self, store: Store, batch_size: int = 5000, flush_interval_s: float = 1.0, clock=time.monotonic):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        self.written: dict[str, int] = {}
        self._buffer: list[dict] = []
        self._oldest: float | None = None
        self._lock = threading.RLock()

    def add(self, event: dict) -> dict[str, int] | None:
        with self._lock:
            if not self._buffer:
                self._oldest = self.clock()
            self._buffer.append(event)
            if len(self._buffer) >= self.batch_size or self.due():
                return self.flush()
            return None

    def due(self) -> bool:
        with self._lock:
            return self._oldest is not None and self.clock() - self._oldest >= self.flush_interval_s

    def flush(self) -> dict[str, int]:
        with self._lock:
            if not self._buffer:
                return {}
            # On failure the buffer is kept for the next flush to retry: nothing is lost, and what
            # was written already is dropped by the dedup token or collapses under FINAL.
            counts = self.store.insert_events(self._buffer)
            self._buffer = []
            self._oldest = None
            for table, n in counts.items():
                self.written[table] = self.written.get(table, 0) + n
            return counts

    def close(self) -> dict[str, int]:
        return self.flush()

    @property
    def pending(self) -> int:
        return len(self._buffer)
