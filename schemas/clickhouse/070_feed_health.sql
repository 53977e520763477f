-- feed_health: state of the live exchange connectors (topic exchange.feed_health): connects,
-- disconnects, data gaps (gap_ms on gap_end; liquidations of a gap are lost) and message rates.
-- ReplacingMergeTree collapses a re-delivered event (same event_id) under FINAL. Queries look at
-- one venue over a time range, so venue comes first in the sort key, then ts, then event_id.
-- The subscribed symbols are kept in raw. Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.feed_health
(
    event_id            String,
    venue               LowCardinality(String),
    status              LowCardinality(String),
    ts                  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    detail              String,
    messages_per_s      Float64,
    liquidations_per_s  Float64,
    trades_per_s        Float64,
    errors              UInt64,
    reconnects          UInt32,
    gap_ms              Int64,
    window_s            Float64,
    schema_version      UInt16 DEFAULT 1,
    raw                 String CODEC(ZSTD(3)),
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (venue, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
