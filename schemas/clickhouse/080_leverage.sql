-- leverage: open interest, funding and mark price per venue instrument over time (topic
-- exchange.leverage). A message carries some of the figures, the rest are NULL. ReplacingMergeTree
-- collapses a re-delivered event (same event_id) under FINAL. Queries look at one asset over a
-- time range: asset first in the sort key, then venue, symbol, ts. Monthly partitions.
CREATE TABLE IF NOT EXISTS {db}.leverage
(
    event_id             String,
    venue                LowCardinality(String),
    symbol               LowCardinality(String),
    asset                LowCardinality(String),
    ts                   DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    open_interest        Nullable(Float64),
    open_interest_usd    Nullable(Float64),
    funding_rate         Nullable(Float64),
    funding_interval_ms  Nullable(Int64),
    next_funding_ts      Nullable(DateTime64(3, 'UTC')),
    mark_price           Nullable(Float64),
    source               LowCardinality(String),
    received_ts          DateTime64(3, 'UTC'),
    schema_version       UInt16 DEFAULT 1,
    raw                  String CODEC(ZSTD(3)),
    inserted_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (asset, venue, symbol, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
