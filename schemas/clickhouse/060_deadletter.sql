-- deadletter: messages that were refused, with the reason and the original bytes (topic deadletter).
-- A Kafka message is identified by (source_topic, partition, offset); ReplacingMergeTree on that key
-- collapses the same message dead-lettered twice (a redelivery, or reprocessing after a restart).
-- partition/offset are -1 when the record did not come from Kafka; the hash of the original bytes
-- in the key keeps such records apart. Few rows, so the table is not partitioned.
CREATE TABLE IF NOT EXISTS {db}.deadletter
(
    reason          LowCardinality(String),
    error           String,
    source_topic    LowCardinality(String),
    partition       Int32 DEFAULT -1,
    offset          Int64 DEFAULT -1,
    key_b64         Nullable(String),
    original_b64    String,
    original_size   UInt64,
    received_ts     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    schema_version  UInt16 DEFAULT 1,
    raw             String CODEC(ZSTD(3)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, partition, offset, cityHash64(original_b64))
SETTINGS non_replicated_deduplication_window = 1000;
