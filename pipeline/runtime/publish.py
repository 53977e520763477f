"""Publish interchange events to their topics (keyed by asset), in the order given."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from kafka import KafkaProducer

from pipeline.config import Settings

TOPIC_ATTR = {"whale_transfer": "whale_transfers", "liquidation": "liquidations", "trade_flow": "trade_flow",
              "etf_flow": "etf_flows", "alert": "alerts"}


def topic_for(settings: Settings, event: dict) -> str:
    return getattr(settings.topics, TOPIC_ATTR.get(event.get("type"), "deadletter"))


def producer(bootstrap: str, settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=256 * 1024, acks=1,
                         max_request_size=max(1024 * 1024, 2 * settings.max_event_bytes))


def publish(events: Iterable[dict | tuple[str, bytes | None, bytes]], bootstrap: str, settings: Settings,
            progress: Callable[[int], None] | None = None) -> int:
    """Send dict events to their topic; (topic, key, raw bytes) tuples are sent as they are."""
    prod = producer(bootstrap, settings)
    n = 0
    try:
        for item in events:
            if isinstance(item, tuple):
                topic, key, value = item
            else:
                topic, key, value = topic_for(settings, item), str(item.get("asset", "")).encode(), orjson.dumps(item)
            prod.send(topic, key=key, value=value)
            n += 1
            if progress is not None and n % 500 == 0:
                progress(n)
        prod.flush(60)
    finally:
        prod.close(10)
    if progress is not None:
        progress(n)
    return n
