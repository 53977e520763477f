-- etf_flows_daily: the net flow of all of an asset's spot ETFs per trading day, from the latest
-- figure of each fund. Where a source published its own day total (fund 'TOTAL', e.g. an API
-- with no per-fund breakdown) that total is used, as the detector's ETF context does.
CREATE OR REPLACE VIEW {db}.etf_flows_daily AS
SELECT
    asset,
    date,
    if(countIf(fund = 'TOTAL') > 0, anyIf(v, fund = 'TOTAL'), sumIf(v, fund != 'TOTAL')) AS net_flow_usd,
    countIf(fund != 'TOTAL') AS funds,
    max(p)                   AS published_ts
FROM (SELECT asset, date, fund, net_flow_usd AS v, published_ts AS p FROM {db}.etf_flows_latest)
GROUP BY asset, date;
