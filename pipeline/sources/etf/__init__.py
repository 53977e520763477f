"""Spot-ETF daily net flows: page, file and API sources that produce `etf_flow` events.

Every source turns what it reads into `FlowFigure`s (asset, fund, trading day, USD), and
`events.to_events` stamps them with a published_ts and an event_id. See docs/etf.md.
"""
