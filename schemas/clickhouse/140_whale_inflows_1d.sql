-- whale_inflows_1d: whale deposits into exchanges per day, asset and receiving exchange.
-- From `whale_transfers_latest`: a re-observed transfer (or one re-mined in another block) counts once, a retracted one (its block was
-- reorganised away) not at all. `largest_usd` is the biggest single deposit of the day.
CREATE OR REPLACE VIEW {db}.whale_inflows_1d AS
SELECT
    toDate(block_time)           AS day,
    asset,
    assumeNotNull(to_entity)     AS exchange,
    count()                      AS deposits,
    sum(amount)                  AS amount,
    sum(usd_value)               AS inflow_usd,
    max(usd_value)               AS largest_usd
FROM {db}.whale_transfers_latest
WHERE direction = 'exchange_inflow' AND NOT retracted AND to_entity IS NOT NULL
GROUP BY day, asset, exchange;
