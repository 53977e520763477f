-- liquidations: forced liquidations per venue (topic exchange.liquidations), the cascade signal.
-- ReplacingMergeTree collapses a re-delivered liquidation (same event_id) under FINAL. Queries
-- filter by asset and venue and scan a time range, so those come first in the sort key, then
-- ts, then event_id to keep distinct liquidations in the same millisecond apart. Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.liquidations
(
    event_id        String,
    venue           LowCardinality(String),
    symbol          LowCardinality(String),
    asset           LowCardinality(String),
    side            LowCardinality(String),
    price           Float64 CODEC(Gorilla, ZSTD(1)),
    quantity        Float64,
    notional_usd    Float64,
    ts              DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_ts     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    completeness    LowCardinality(String),
    schema_version  UInt16 DEFAULT 1,
    raw             String CODEC(ZSTD(3)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (asset, venue, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
