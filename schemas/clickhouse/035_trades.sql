-- trades: every normalized public trade (topic exchange.trades), written only when a live feed
-- runs with --raw-trades; the detector uses the 1-second trade_flow bars. ReplacingMergeTree
-- collapses a re-delivered trade (same event_id) under FINAL. Queries filter by asset, venue and
-- symbol over a time range, so those come first in the sort key, then ts, then event_id.
-- Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.trades
(
    event_id        String,
    venue           LowCardinality(String),
    symbol          LowCardinality(String),
    asset           LowCardinality(String),
    ts              DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    price           Float64 CODEC(Gorilla, ZSTD(1)),
    quantity        Float64,
    notional_usd    Float64,
    taker_side      LowCardinality(String),
    trade_id        Nullable(String),
    received_ts     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    schema_version  UInt16 DEFAULT 1,
    raw             String CODEC(ZSTD(3)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (asset, venue, symbol, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
