"""Fixtures shared across test packages: a real Tansu broker and a topic reader; tests are marked
by the real components their fixtures start, so `-m "not broker and not clickhouse_server and not
chain_node"` runs the pure tests alone."""

from __future__ import annotations

import signal
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.runtime.broker import EmbeddedBroker
from pipeline.runtime.topics import ensure_topics


#: fixture -> the marker of what it starts (registered in pyproject.toml)
NEEDS = {"broker": "broker", "worker_factory": "broker", "clickhouse_server": "clickhouse_server",
         "anvil": "chain_node", "world": "chain_node"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & NEEDS.keys():
            item.add_marker(NEEDS[fixture])


_SIGNALS = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


@pytest.fixture(autouse=True)
def session_signal_handlers():
    """Each test starts and ends with the SIGINT and SIGTERM handlers the session started with: one an
    event loop left behind would swallow the Ctrl-C a later test sends to stop a command."""
    for sig, handler in _SIGNALS.items():
        signal.signal(sig, handler)
    yield
    for sig, handler in _SIGNALS.items():
        signal.signal(sig, handler)


@pytest.fixture
def broker(tmp_path):
    """A fresh embedded broker with the pipeline's topics, stopped after the test."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        ensure_topics(Settings(), b.bootstrap)
        yield b


def read_topic(bootstrap: str, topic: str, idle_ms: int = 2000, timeout: float = 60.0) -> list:
    """Every record on the topic: read up to the end offsets the broker reports (however long that
    takes, up to `timeout`), then on until nothing more came for `idle_ms` (Tansu reports an end that
    can fall short by one record batch)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: could not read up to the end offsets {ends} in {timeout:.0f}s")
            for recs in consumer.poll(timeout_ms=500).values():
                out.extend(recs)
        idle_until = time.monotonic() + idle_ms / 1000
        while time.monotonic() < idle_until:
            got = consumer.poll(timeout_ms=100)
            for recs in got.values():
                out.extend(recs)
            if got:
                idle_until = time.monotonic() + idle_ms / 1000
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
