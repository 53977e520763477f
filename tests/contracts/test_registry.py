"""The registry of event types agrees with the models, the topics, the ClickHouse tables and the schemas."""

from __future__ import annotations

import pytest

from pipeline.config import Settings, TopicNames
from pipeline.contracts.models import INPUT_TYPES
from pipeline.contracts.registry import TYPES, detected_on, key_of, stored_only_on, topic_of
from pipeline.sinks.clickhouse import schema_dir
from pipeline.sinks.rows import COLUMNS
from tests.contracts.oracle import SCHEMAS


@pytest.mark.parametrize("name", sorted(TYPES))
def test_each_type_has_its_model_topic_table_and_schema(name):
    t = TYPES[name]
    assert t.model.model_fields["type"].default == name
    assert t.topic in TopicNames.model_fields
    assert (SCHEMAS / f"{name}.schema.json").exists()
    if t.table is not None:
        assert t.table in COLUMNS
        assert any(f"{{db}}.{t.table} " in p.read_text() or f"{{db}}.{t.table}\n" in p.read_text()
                   for p in schema_dir().glob("*.sql"))
    if t.key:
        assert t.key in t.model.model_fields


def test_the_detector_reads_its_input_types_each_on_its_own_topic():
    topics = Settings().topics
    expect = detected_on(topics)
    assert {n for types in expect.values() for n in types} == set(INPUT_TYPES) - {"alert"}
    assert all(len(types) == 1 for types in expect.values())
    assert set(expect) == {*topics.inputs(), topics.links}
    assert set(stored_only_on(topics)) == {topics.feed_health, topics.trades}
    assert not set(expect) & set(stored_only_on(topics))


def test_routing_and_keys():
    topics = Settings().topics
    assert topic_of("liquidation", topics) == topics.liquidations and topic_of("meme", topics) is None
    assert key_of({"type": "liquidation", "asset": "BTC"}) == b"BTC"
    assert key_of({"type": "feed_health", "venue": "okx", "asset": "BTC"}) == b"okx"
