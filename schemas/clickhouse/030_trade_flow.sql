-- trade_flow: taker buy/sell volume and OHLC bars per venue/symbol/interval (topic exchange.trade_flow).
-- A bar has no event_id: venue, symbol, interval and bar start identify it, so that is the
-- ReplacingMergeTree key; a re-delivered or revised bar keeps only its last inserted version
-- under FINAL. Filters (asset, venue, symbol, interval) first, bar start last. Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.trade_flow
(
    venue            LowCardinality(String),
    symbol           LowCardinality(String),
    asset            LowCardinality(String),
    ts               DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    interval_ms      UInt32,
    buy_volume_usd   Float64,
    sell_volume_usd  Float64,
    open             Float64 CODEC(Gorilla, ZSTD(1)),
    high             Float64 CODEC(Gorilla, ZSTD(1)),
    low              Float64 CODEC(Gorilla, ZSTD(1)),
    close            Float64 CODEC(Gorilla, ZSTD(1)),
    trade_count      UInt64,
    schema_version   UInt16 DEFAULT 1,
    raw              String CODEC(ZSTD(3)),
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (asset, venue, symbol, interval_ms, ts)
SETTINGS non_replicated_deduplication_window = 1000;
