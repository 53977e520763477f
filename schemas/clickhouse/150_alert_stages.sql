-- alert_stages: one row per alert and stage (the latest revision, from `alerts FINAL`) with the
-- evidence pulled out of its JSON columns: the deposit, the selling, the cascade, the feeds it
-- came from (sampled venues, gapped markets), the ETF context and the alert it is linked to.
CREATE OR REPLACE VIEW {db}.alert_stages AS
SELECT
    alert_id,
    kind,
    asset,
    stage,
    reached,
    ts,
    severity,
    revision,
    amended,
    JSONExtractString(deposit, 'to_entity')                       AS exchange,
    JSONExtractFloat(deposit, 'amount')                           AS deposit_amount,
    JSONExtractFloat(deposit, 'usd_value')                        AS deposit_usd,
    if(JSONHas(deposit, 'ts'), fromUnixTimestamp64Milli(JSONExtractInt(deposit, 'ts'), 'UTC'), NULL) AS deposit_ts,
    JSONExtractFloat(ifNull(sell, '{}'), 'net_sell_usd')          AS net_sell_usd,
    JSONExtractFloat(ifNull(sell, '{}'), 'drop_pct')              AS drop_pct,
    JSONExtractString(ifNull(sell, '{}'), 'venue')                AS sell_market,
    JSONExtractFloat(ifNull(cascade, '{}'), 'long_notional_usd')  AS long_liquidated_usd,
    JSONExtractFloat(ifNull(cascade, '{}'), 'short_notional_usd') AS short_liquidated_usd,
    JSONExtractFloat(ifNull(cascade, '{}'), 'long_share')         AS long_share,
    JSONExtract(ifNull(cascade, '{}'), 'venues', 'Array(String)') AS cascade_venues,
    JSONExtractString(ifNull(cascade, '{}'), 'completeness')      AS completeness,
    JSONExtract(ifNull(evidence, '{}'), 'sampled_venues', 'Array(String)') AS sampled_venues,
    JSONExtract(ifNull(evidence, '{}'), 'gapped_markets', 'Array(String)') AS gapped_markets,
    JSONExtractInt(ifNull(etf_context, '{}'), 'outflow_streak_days') AS etf_outflow_streak_days,
    JSONExtractFloat(ifNull(etf_context, '{}'), 'sum_5d_usd')     AS etf_sum_5d_usd,
    JSONExtractString(ifNull(linked_to, '{}'), 'alert_id')        AS linked_alert_id,
    JSONExtractString(ifNull(linked_to, '{}'), 'asset')           AS linked_asset
FROM {db}.alerts FINAL;
