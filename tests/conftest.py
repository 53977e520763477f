"""Fixtures shared across test packages: a real Tansu broker and a topic reader."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.runtime.broker import EmbeddedBroker
from pipeline.runtime.topics import ensure_topics


@pytest.fixture
def broker(tmp_path):
    """A fresh embedded broker with the pipeline's topics, stopped after the test."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        ensure_topics(Settings(), b.bootstrap)
        yield b


def read_topic(bootstrap: str, topic: str, idle_ms: int = 2000) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=idle_ms)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    try:
        return list(consumer)
    finally:
        consumer.close()
