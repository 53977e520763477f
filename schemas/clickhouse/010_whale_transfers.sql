-- whale_transfers: on-chain transfers large enough to matter (topic whale.transfers).
-- ReplacingMergeTree collapses a re-delivered or re-observed transfer (same event_id, e.g. more
-- confirmations, or retracted) to the last inserted row; read with FINAL. The sort key is
-- asset/chain (the usual filters), then block time, then event_id. A reorg that re-mines the
-- transaction in a later block gives a new block_time, so it lands as a separate row beside the old
-- one (the watcher retracts only what the new chain lacks): count transfers through the
-- whale_transfers_latest view, which keeps each event_id's latest copy. Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.whale_transfers
(
    event_id        String,
    chain           LowCardinality(String),
    asset           LowCardinality(String),
    token           LowCardinality(Nullable(String)),
    amount          Float64,
    usd_value       Float64,
    from_address    String,
    to_address      String,
    from_entity     LowCardinality(Nullable(String)),
    to_entity       LowCardinality(Nullable(String)),
    direction       LowCardinality(String),
    tx_hash         String,
    block_number    Nullable(UInt64),
    block_time      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    confirmations   UInt32,
    observed_ts     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    retracted       Bool DEFAULT false,
    schema_version  UInt16 DEFAULT 1,
    raw             String CODEC(ZSTD(3)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(block_time)
ORDER BY (asset, chain, block_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
