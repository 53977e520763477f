"""Breaks: evidence beside the liquidations that lets a cascade window pass at
`cascade_price_fraction` of its threshold (windows up to `cascade_price_max_window_ms`).

A price break (the close fell by `cascade_price_drop_pct` and `cascade_price_sigmas` of a random
walk over the window) and open interest closing (it fell by `cascade_oi_drop_pct`, counted in
contracts). Both are read per whole minute and kept that minute in the asset's cascade state.
"""

from __future__ import annotations

import math

from pipeline.detect.config import MINUTE, DetectorConfig
from pipeline.detect.state import AssetState


def _minute_cache(st: AssetState, ts: int) -> dict:
    minute = ts - ts % MINUTE
    cached = st.cascade.price
    if cached is None or cached[0] != minute:
        cached = st.cascade.price = (minute, {})
    return cached[1]


def price_break(cfg: DetectorConfig, st: AssetState, ts: int, width: int) -> dict | None:
    """The price broke down over the window of `width` ending at `ts`: it fell at least
    `cascade_price_drop_pct` and `cascade_price_sigmas` standard deviations of a random walk over the
    window (from the minute before it to the last whole minute in it; the volatility of the hour
    before it). Its figures, or None. Read per whole minute, so kept a minute."""
    minute = ts - ts % MINUTE
    cached = _minute_cache(st, ts)
    if width in cached:
        return cached[width]
    out = None
    drop = st.market.drop_pct(minute - width, minute)
    if drop is not None and drop >= cfg.cascade_price_drop_pct:
        vol = st.market.volatility(minute - width, cfg.market_lookback_ms)
        needed = None if vol is None else max(cfg.cascade_price_drop_pct,
                                              cfg.cascade_price_sigmas * vol * math.sqrt(width / MINUTE) * 100)
        if needed is not None and drop >= needed:
            out = {"price_drop_pct": round(drop, 3), "price_drop_needed_pct": round(needed, 3),
                   "threshold_scaled_by_price": cfg.cascade_price_fraction}
    cached[width] = out
    return out


def oi_break(cfg: DetectorConfig, st: AssetState, ts: int, width: int) -> dict | None:
    """Open interest, counted in contracts, fell at least `cascade_oi_drop_pct` over the window of
    `width` ending at `ts` (from the minute before it to the last whole minute in it): positions
    closing by the hundreds of millions, of which sampled and gapped liquidation feeds show a part.
    Its figures, or None. Read per whole minute, so kept a minute with the price break's."""
    if not cfg.cascade_oi_drop_pct:
        return None
    cached = _minute_cache(st, ts)
    key = ("oi", width)
    if key not in cached:
        fall = st.leverage.contracts_fall_pct(ts - ts % MINUTE - width, ts)
        cached[key] = None if fall is None or fall < cfg.cascade_oi_drop_pct else {
            "oi_drop_pct": round(fall, 3), "oi_drop_needed_pct": cfg.cascade_oi_drop_pct,
            "threshold_scaled_by_price": cfg.cascade_price_fraction}
    return cached[key]
