-- etf_flows: one spot ETF's net creation/redemption flow per trading day (topic etf.flows).
-- ReplacingMergeTree keyed by asset, fund, trading date and event_id: a re-delivered or revised
-- figure for the same fund and day keeps its last inserted version under FINAL. A few rows per
-- fund per day, so the table is not partitioned.
CREATE TABLE IF NOT EXISTS {db}.etf_flows
(
    event_id        String,
    date            Date,
    fund            LowCardinality(String),
    asset           LowCardinality(String),
    net_flow_usd    Float64,
    published_ts    DateTime64(3, 'UTC'),
    source          LowCardinality(String),
    schema_version  UInt16 DEFAULT 1,
    raw             String,
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (asset, fund, date, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
