-- etf_flows_latest: the latest published figure per asset, fund and trading day, and how many
-- versions were published. etf_flows keeps every version (a revision is a new event with a later
-- published_ts); this view answers "what do we know now". For what was known at a time T, query
-- etf_flows with `published_ts < T` and take argMax(net_flow_usd, published_ts) the same way.
CREATE OR REPLACE VIEW {db}.etf_flows_latest AS
SELECT
    asset,
    fund,
    date,
    argMax(v, p)    AS net_flow_usd,
    max(p)          AS published_ts,
    argMax(s, p)    AS source,
    count()         AS versions
FROM (SELECT asset, fund, date, net_flow_usd AS v, published_ts AS p, source AS s FROM {db}.etf_flows FINAL)
GROUP BY asset, fund, date;
