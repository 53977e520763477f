"""How far a consumer group is behind: the demo and the tests wait for zero."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def group_lag(bootstrap: str, group: str, topics: list[str],
              targets: dict[TopicPartition, int] | None = None) -> int:
    """Messages not yet committed by `group` on `topics`.

    `targets` (next offsets known from the producer's acknowledgements) take precedence over the
    broker's latest offsets, which the embedded Tansu broker under-reports for batched writes.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cascadewatch-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cascadewatch-lag", enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts)
        for tp, offset in (targets or {}).items():
            if tp.topic in topics:
                ends[tp] = max(offset, ends.get(tp, 0))
        committed = admin.list_group_offsets(group).get(group, {})
        return sum(max(0, end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                   for tp, end in ends.items())
    finally:
        consumer.close()
        admin.close()
