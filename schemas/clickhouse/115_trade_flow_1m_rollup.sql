-- trade_flow_1m_rollup: taker flow and OHLC per minute, asset and venue, recomputed from
-- `trade_flow FINAL` for every minute a write touches (pipeline/sinks/rollups.py): a re-delivered
-- or revised bar counts once. Open/close are the first bar's open and the last bar's close in the
-- minute. `covered_s` is the time the minute's bars cover, summed over its `symbols`: below 60 s
-- per symbol, bars are missing (a silent or gapped feed). ReplacingMergeTree on the minute's group with the refresh time as version: read with
-- FINAL (the trade_flow_1m view does). Filled from existing bars by `schema apply` when created.
CREATE TABLE IF NOT EXISTS {db}.trade_flow_1m_rollup
(
    minute       DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    asset        LowCardinality(String),
    venue        LowCardinality(String),
    buy_usd      Float64,
    sell_usd     Float64,
    open_price   Float64,
    high_price   Float64,
    low_price    Float64,
    close_price  Float64,
    trades       UInt64,
    symbols      UInt64,
    covered_s    Float64,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (asset, venue, minute);
