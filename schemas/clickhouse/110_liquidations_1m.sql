-- liquidations_1m: liquidations per minute, asset, venue and side, for dashboards and the CLI.
-- Reads liquidations_1m_rollup FINAL: each minute as last recomputed from deduplicated rows, so
-- re-delivered events are never counted twice (a materialized view would sum duplicates before
-- they merge). `sampled` counts rows from throttled or partial feeds (completeness
-- sampled or partial): when it is non-zero the totals are a lower bound. CREATE OR REPLACE so that a changed definition is picked up on the next apply.
CREATE OR REPLACE VIEW {db}.liquidations_1m AS
SELECT minute, asset, venue, side, liquidations, notional_usd_sum, quantity_sum, price_min, price_max, sampled
FROM {db}.liquidations_1m_rollup FINAL;
