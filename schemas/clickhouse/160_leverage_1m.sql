-- leverage_1m: open interest and funding per asset over time, one row per minute. Each venue
-- instrument that reported in the minute counts with its last known figures (open interest and
-- funding are carried forward from its earlier messages: Binance polls open interest once a minute,
-- its mark-price stream carries funding). Funding is scaled to 8 h and weighted by open interest.
-- From `leverage FINAL`, so a re-delivered message counts once.
CREATE OR REPLACE VIEW {db}.leverage_1m AS
SELECT
    minute,
    asset,
    sum(oi_usd) AS open_interest_usd,
    if(sumIf(oi_usd, funding_8h IS NOT NULL) > 0,
       sumIf(funding_8h * oi_usd, funding_8h IS NOT NULL) / sumIf(oi_usd, funding_8h IS NOT NULL),
       avg(funding_8h)) AS funding_8h,
    avg(mark) AS mark_price,
    count() AS instruments,
    groupArray(venue) AS venues
FROM
(
    SELECT
        minute, asset, venue, symbol,
        anyLast(oi) OVER w AS oi_usd,
        anyLast(f8) OVER w AS funding_8h,
        anyLast(px) OVER w AS mark
    FROM
    (
        SELECT
            toStartOfMinute(ts) AS minute, asset, venue, symbol,
            argMaxIf(open_interest_usd, ts, open_interest_usd IS NOT NULL) AS oi,
            argMaxIf(funding_rate * 28800000 / funding_interval_ms, ts,
                     funding_rate IS NOT NULL AND funding_interval_ms > 0) AS f8,
            argMaxIf(mark_price, ts, mark_price IS NOT NULL) AS px
        FROM {db}.leverage FINAL
        GROUP BY minute, asset, venue, symbol
    )
    WINDOW w AS (PARTITION BY asset, venue, symbol ORDER BY minute ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE oi_usd IS NOT NULL
GROUP BY minute, asset;
