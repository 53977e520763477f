"""Leverage event builders for the detector tests: open interest and funding paths over time."""

from __future__ import annotations

from pipeline.contracts.models import Leverage

HOUR = 3_600_000
VENUES = (("binance-usdm", "BTCUSDT"), ("bybit", "BTCUSDT"))


def lev(ts, oi_usd, *, venue="binance-usdm", symbol="BTCUSDT", funding=0.0001, mark=110_000.0, asset="BTC"):
    return Leverage(event_id=f"{venue}:{symbol}:t:{ts}", venue=venue, symbol=symbol, asset=asset, ts=ts,
                    open_interest=oi_usd / mark, open_interest_usd=oi_usd, funding_rate=funding,
                    funding_interval_ms=8 * HOUR, next_funding_ts=None, mark_price=mark, source="t", received_ts=ts)


def path(start, end, step, oi_fn, *, funding_fn=lambda t: 0.0001, mark_fn=lambda t: 110_000.0, venues=VENUES,
         asset="BTC"):
    """Every venue reports half of oi_fn(t) every `step` ms from start to end."""
    return [lev(t, oi_fn(t) / len(venues), venue=v, symbol=s, funding=funding_fn(t), mark=mark_fn(t), asset=asset)
            for t in range(start, end, step) for v, s in venues]
