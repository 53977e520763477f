-- trade_flow_1m: taker flow and OHLC per minute, asset and venue, rolled up from the trade_flow bars.
-- Reads trade_flow_1m_rollup FINAL (each minute as last recomputed from deduplicated bars), for the
-- same reason as liquidations_1m: re-delivered or revised bars count once. `missing_s`: seconds of
-- the minute without a bar, averaged over the market's symbols (0 for a complete minute).
CREATE OR REPLACE VIEW {db}.trade_flow_1m AS
SELECT minute, asset, venue, buy_usd, sell_usd, open_price, high_price, low_price, close_price, trades,
       greatest(0, 60 - covered_s / symbols) AS missing_s
FROM {db}.trade_flow_1m_rollup FINAL;
