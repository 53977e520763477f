-- liquidations_1m: liquidations per minute, asset, venue and side, for dashboards and the CLI.
-- A plain view over `liquidations FINAL`, so re-delivered events are never counted twice and the
-- numbers are exact at any moment (a materialized view would sum duplicates before they merge).
-- `sampled` counts rows from throttled feeds: when it is non-zero the totals are a lower bound.
-- CREATE OR REPLACE so that a changed definition is picked up on the next apply (a view holds no data).
CREATE OR REPLACE VIEW {db}.liquidations_1m AS
SELECT
    toStartOfMinute(ts)                AS minute,
    asset,
    venue,
    side,
    count()                            AS liquidations,
    sum(notional_usd)                  AS notional_usd_sum,
    sum(quantity)                      AS quantity_sum,
    min(price)                         AS price_min,
    max(price)                         AS price_max,
    countIf(completeness = 'sampled')  AS sampled
FROM {db}.liquidations FINAL
GROUP BY minute, asset, venue, side;
