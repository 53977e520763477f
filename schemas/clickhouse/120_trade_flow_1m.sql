-- trade_flow_1m: taker flow and OHLC per minute, asset and venue, rolled up from the trade_flow bars.
-- A plain view over `trade_flow FINAL` for the same reason as liquidations_1m: re-delivered or
-- revised bars count once. Open/close are the first bar's open and the last bar's close in the minute.
CREATE OR REPLACE VIEW {db}.trade_flow_1m AS
SELECT
    toStartOfMinute(ts)      AS minute,
    asset,
    venue,
    sum(buy_volume_usd)      AS buy_usd,
    sum(sell_volume_usd)     AS sell_usd,
    argMin(open, ts)         AS open_price,
    max(high)                AS high_price,
    min(low)                 AS low_price,
    argMax(close, ts)        AS close_price,
    sum(trade_count)         AS trades
FROM {db}.trade_flow FINAL
GROUP BY minute, asset, venue;
