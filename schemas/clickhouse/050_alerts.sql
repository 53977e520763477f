-- alerts: staged whale deposit -> sell -> cascade alerts (topic alerts.cascade).
-- The detector re-publishes the same alert_id as the episode escalates, one message per stage;
-- ReplacingMergeTree keyed by (asset, alert_id, stage), versioned by `revision`, keeps each stage's
-- highest revision under FINAL (the last inserted among equals), so the table holds one row per alert
-- and stage: for a decision amended by late data, the latest one, whatever order replays and workers
-- wrote them in; the topic keeps every revision. (A table made before the version keeps the last
-- inserted row; the sink writes alerts again whole and in order, pipeline/sinks/base.py.) The evidence objects are stored as JSON
-- text (read them with JSONExtract*). Alerts are few, so the table is not partitioned.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id        String,
    kind            LowCardinality(String),
    asset           LowCardinality(String),
    stage           LowCardinality(String),
    reached         LowCardinality(Nullable(String)),
    ts              DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    deposit         String,
    sell            Nullable(String),
    cascade         Nullable(String),
    etf_context     Nullable(String),
    severity        LowCardinality(String),
    schema_version  UInt16 DEFAULT 1,
    revision        UInt16 DEFAULT 0,
    amended         UInt8 DEFAULT 0,
    evidence        Nullable(String),
    linked_to       Nullable(String),
    raw             String CODEC(ZSTD(3)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (asset, alert_id, stage)
SETTINGS non_replicated_deduplication_window = 1000;
