"""How far a consumer group is behind the end of its topics: the demo waits for zero."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cascadewatch-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cascadewatch-lag", enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts)
        committed = admin.list_group_offsets(group).get(group, {})
        return sum(max(0, end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                   for tp, end in ends.items())
    finally:
        consumer.close()
        admin.close()
