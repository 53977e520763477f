-- liquidations_1m_rollup: liquidations per minute, asset, venue and side, recomputed from
-- `liquidations FINAL` for every minute a write touches (pipeline/sinks/rollups.py), so that a
-- redelivered liquidation is never counted twice. ReplacingMergeTree on the minute's group with the
-- refresh time as version: read with FINAL (the liquidations_1m view does). Filled from existing
-- rows by `schema apply` when it is created over a store that already has liquidations.
CREATE TABLE IF NOT EXISTS {db}.liquidations_1m_rollup
(
    minute            DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    asset             LowCardinality(String),
    venue             LowCardinality(String),
    side              LowCardinality(String),
    liquidations      UInt64,
    notional_usd_sum  Float64,
    quantity_sum      Float64,
    price_min         Float64,
    price_max         Float64,
    sampled           UInt64,
    refreshed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (asset, venue, side, minute);
