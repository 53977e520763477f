"""Publish interchange events to their topics (keyed by asset), in the order given."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from kafka import KafkaProducer, TopicPartition

from pipeline.config import Settings

TOPIC_ATTR = {"whale_transfer": "whale_transfers", "liquidation": "liquidations", "trade_flow": "trade_flow",
              "etf_flow": "etf_flows", "alert": "alerts", "feed_health": "feed_health", "trade": "trades",
              "leverage": "leverage"}


def topic_for(settings: Settings, event: dict) -> str:
    return getattr(settings.topics, TOPIC_ATTR.get(event.get("type"), "deadletter"))


def producer(bootstrap: str, settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                         batch_size=0 if settings.single_record_batches else 256 * 1024,
                         max_request_size=max(1024 * 1024, 2 * settings.max_event_bytes))


def publish(events: Iterable[dict | tuple[str, bytes | None, bytes]], bootstrap: str, settings: Settings,
            progress: Callable[[int], None] | None = None) -> dict[TopicPartition, int]:
    """Send dict events to their topic; (topic, key, raw bytes) tuples are sent as they are.

    Returns the next offset after the last record written to each partition, read from the
    broker's acknowledgements (so waiting for a consumer does not depend on ListOffsets). Raises
    if any record was not acknowledged.
    """
    prod = producer(bootstrap, settings)
    n = 0
    futures = []
    try:
        for item in events:
            if isinstance(item, tuple):
                topic, key, value = item
            else:
                topic, key, value = topic_for(settings, item), str(item.get("asset", "")).encode(), orjson.dumps(item)
            futures.append(prod.send(topic, key=key, value=value))
            n += 1
            if progress is not None and n % 500 == 0:
                progress(n)
        prod.flush(60)
    finally:
        prod.close(10)
    if progress is not None:
        progress(n)
    written: dict[TopicPartition, int] = {}
    for fut in futures:
        meta = fut.get(timeout=0)  # raises the send error, if any
        tp = TopicPartition(meta.topic, meta.partition)
        written[tp] = max(written.get(tp, 0), meta.offset + 1)
    return written
