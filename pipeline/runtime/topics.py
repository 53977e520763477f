"""Create the pipeline's topics, all with the same partition count so they are co-partitioned by asset."""

from __future__ import annotations

import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.config import Settings
from pipeline.stream.deadletter import record_bytes


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topic configs set at creation: the dead-letter topic takes the largest dead letter the worker makes
    (a broker's default, about 1 MB, is less than a refused message of 1 MiB written in base64)."""
    return {settings.topics.deadletter: {"max.message.bytes": str(record_bytes(settings.stream.deadletter_keep_bytes))}}


def ensure_topics(settings: Settings, bootstrap: str, timeout: float = 30.0) -> list[str]:
    """Create missing topics; return the ones created. Existing topics must have the configured partitions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cascadewatch-admin",
                                     request_timeout_ms=10_000)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in settings.topics.all() if t not in existing]
        created = []
        configs = topic_configs(settings)
        for name in wanted:
            try:
                admin.create_topics([NewTopic(name, settings.partitions, settings.replication_factor,
                                              topic_configs=configs.get(name, {}))])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        meta = admin.describe_topics(settings.topics.all())
        wrong = {m["topic"]: len(m["partitions"]) for m in meta if len(m["partitions"]) != settings.partitions}
        if wrong:
            raise RuntimeError(
                f"topics {wrong} do not have {settings.partitions} partitions: they would not be co-partitioned "
                "by asset; recreate them or set CASCADEWATCH_PARTITIONS to match")
        return created
    finally:
        admin.close()
