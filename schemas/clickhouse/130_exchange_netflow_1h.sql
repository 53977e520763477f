-- exchange_netflow_1h: hourly whale flows into and out of each exchange entity, per asset.
-- Built from `whale_transfers_latest` so re-observations (and a transaction re-mined in another block) count once and a transfer whose latest
-- copy is retracted (dropped by a reorg) does not count at all. Internal transfers are excluded.
CREATE OR REPLACE VIEW {db}.exchange_netflow_1h AS
SELECT
    toStartOfHour(block_time) AS hour,
    asset,
    entity,
    sumIf(usd_value, flow = 'in') AS inflow_usd,
    sumIf(usd_value, flow = 'out') AS outflow_usd,
    sumIf(usd_value, flow = 'in') - sumIf(usd_value, flow = 'out') AS netflow_usd,
    sumIf(amount, flow = 'in') - sumIf(amount, flow = 'out') AS netflow_amount,
    count() AS transfers
FROM
(
    SELECT block_time, asset, assumeNotNull(to_entity) AS entity, usd_value, amount, 'in' AS flow
    FROM {db}.whale_transfers_latest
    WHERE direction = 'exchange_inflow' AND NOT retracted AND to_entity IS NOT NULL
    UNION ALL
    SELECT block_time, asset, assumeNotNull(from_entity) AS entity, usd_value, amount, 'out' AS flow
    FROM {db}.whale_transfers_latest
    WHERE direction = 'exchange_outflow' AND NOT retracted AND from_entity IS NOT NULL
)
GROUP BY hour, asset, entity;
