"""The Kafka producer that sources, `produce` and the demo use: events to their topics, keyed by asset,
packed into batch envelopes (pipeline/wire/batcher.py) unless CASCADEWATCH_BATCH__ENABLED=false.

`publish` sends a list and returns where each partition ended; `Publisher` is for live sources: it
keeps an envelope open up to `linger_s` and a background thread sends it when nothing else does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import orjson
from kafka import KafkaProducer, TopicPartition

from pipeline.config import Settings
from pipeline.contracts.registry import key_of, topic_of
from pipeline.wire.batcher import Batcher, Message


EVENT_TIME = object()  # Publisher(clock=EVENT_TIME): linger measured on the events' arrival times
_ARRIVAL = ("received_ts", "observed_ts", "published_ts", "ts")


def arrival_ms(event: dict) -> int | float | None:
    """When an event reached the pipeline by its own fields: receipt, observation, publication or event time."""
    for name in _ARRIVAL:
        value = event.get(name)
        if type(value) in (int, float):
            return value
    return None


def topic_for(settings: Settings, event: dict) -> str:
    """The topic of an event dict by its type; an unknown type goes to the dead-letter topic."""
    return topic_of(event.get("type"), settings.topics) or settings.topics.deadletter


def kafka_producer(bootstrap: str, settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                         batch_size=0 if settings.single_record_batches else 256 * 1024,
                         max_request_size=max(1024 * 1024, 2 * settings.max_event_bytes,
                                              2 * settings.batch.max_bytes))


class Publisher:
    """Events to Kafka through a Batcher. Thread-safe. Send errors are raised by `check`, `flush` and `close`."""

    def __init__(self, bootstrap: str, settings: Settings, *, background: bool = False,
                 clock: Callable[[], float] | None = None):
        """`clock` (seconds) measures the linger; default the wall clock, or with `clock=EVENT_TIME` the
        events' own arrival times (`send` then also sends what is due), for recorded events sent
        faster than they happened."""
        self.settings = settings
        self._event_clock = clock is EVENT_TIME
        self._now = 0.0
        if self._event_clock:
            clock = lambda: self._now  # noqa: E731
        self.batcher = Batcher.from_settings(settings.batch, clock or time.monotonic)
        self.producer = kafka_producer(bootstrap, settings)
        self.futures: list = []
        self.written: dict[TopicPartition, int] = {}  # next offset after the last acknowledged record
        self.events = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._linger, name="cascadewatch-batcher", daemon=True)
            self._thread.start()

    def send(self, event: dict) -> None:
        """One event dict, to its type's topic, keyed by its asset (feed_health: its venue)."""
        if self._event_clock:
            at = arrival_ms(event)
            if at is not None and at / 1000 > self._now:
                self._now = at / 1000
                with self._lock:
                    self._send(self.batcher.due())
        self.send_raw(topic_for(self.settings, event), key_of(event), orjson.dumps(event), wrap=True)

    def send_raw(self, topic: str, key: bytes | None, value: bytes, *, wrap: bool = False) -> None:
        """Encoded bytes; `wrap` lets them share an envelope (they must be one JSON object), else they go as they are."""
        with self._lock:
            self.events += 1
            self._send(self.batcher.add(topic, key, value, alone=not wrap))

    def _send(self, messages: list[Message]) -> None:
        for topic, key, value in messages:
            self.futures.append(self.producer.send(topic, key=key, value=value))

    def _linger(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._send(self.batcher.due())
                wait = self.batcher.next_due_in()
            self._stop.wait(self.batcher.linger_s if wait is None else max(wait, 0.005))

    def check(self) -> int:
        """Raise the first send error among acknowledged sends; returns the events sent so far."""
        with self._lock:
            still = []
            for fut in self.futures:
                if fut.is_done:
                    self._acked(fut.get(timeout=0))  # raises the send error
                else:
                    still.append(fut)
            self.futures = still
            return self.events

    def flush(self, timeout: float = 60.0) -> dict[TopicPartition, int]:
        """Send everything buffered and wait for the acknowledgements; returns `written`."""
        with self._lock:
            self._send(self.batcher.drain())
        self.producer.flush(timeout)
        with self._lock:
            for fut in self.futures:
                self._acked(fut.get(timeout=0))
            self.futures = []
        return self.written

    def _acked(self, meta) -> None:
        tp = TopicPartition(meta.topic, meta.partition)
        self.written[tp] = max(self.written.get(tp, 0), meta.offset + 1)

    def close(self, timeout: float = 60.0) -> dict[TopicPartition, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            return self.flush(timeout)
        finally:
            self.producer.close(10)


def publish(events: Iterable[dict | tuple[str, bytes | None, bytes]], bootstrap: str, settings: Settings,
            progress: Callable[[int], None] | None = None) -> dict[TopicPartition, int]:
    """Send dict events to their topic; (topic, key, raw bytes) tuples are sent as they are, never in an envelope.

    The events are sent as fast as the broker takes them, so an envelope's linger is measured on their
    arrival times (see `arrival_ms`): it never holds events further apart than that, and a sparse
    topic (whale transfers) is not held back behind a dense one (trade-flow bars).

    Returns the next offset after the last record written to each partition, read from the
    broker's acknowledgements (so waiting for a consumer does not depend on ListOffsets). Raises
    if any record was not acknowledged.
    """
    pub = Publisher(bootstrap, settings, clock=EVENT_TIME)
    n = 0
    try:
        for item in events:
            if isinstance(item, tuple):
                pub.send_raw(*item)
            else:
                pub.send(item)
            n += 1
            if progress is not None and n % 500 == 0:
                progress(n)
    finally:
        written = pub.close()
    if progress is not None:
        progress(n)
    return written
