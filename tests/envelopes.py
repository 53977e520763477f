"""Test helper: the events Kafka records carry, batch envelopes (schemas/batch.schema.json) opened."""

from __future__ import annotations

import orjson

from pipeline.contracts.envelope import is_batch


def events_of(records) -> list[tuple[bytes | None, dict]]:
    """(key, event) for every event in `records` (kafka-python ConsumerRecords), in order."""
    out = []
    for rec in records:
        doc = orjson.loads(rec.value)
        out.extend((rec.key, e) for e in (doc["batch"] if is_batch(doc) else [doc]))
    return out
