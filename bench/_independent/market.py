"""The market without episodes, and the venue bars and leverage snapshots drawn from it.

Activity is an hourly log-AR(1) volatility regime (shared across assets plus per asset) times a
time-of-day factor (a peak around the US open, quiet late UTC). Per-second log returns are
Student-t(4): BTC is the common factor, ETH and SOL follow it (beta 1.15 and 1.3) with their own
noise. trade_flow bars are one minute per venue, volume ~ activity x (1 + |move|) x lognormal, sell
share 0.5 - 0.12 tanh(return / vol) plus noise unless an episode sets it. leverage snapshots come
every minute per venue: open interest as a random walk flushed during cascades, funding, mark price.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable

import numpy as np

from _independent.world import ASSETS, DAY, HOUR, MINUTE, VENUES, World, symbol

FUNDING_MS = 8 * HOUR


def base_market(w: World) -> None:
    """Activity regimes and per-second base returns."""
    rng = w.rng
    nh = w.days * 24
    common = np.zeros(nh)
    x = 0.0
    for h in range(nh):
        x = 0.85 * x + rng.normal(0, 0.28)
        common[h] = x
    hours = np.arange(nh) % 24
    diurnal = 1.0 + 0.35 * np.exp(-((hours - 14.5) ** 2) / 8.0) - 0.15 * ((hours >= 20) | (hours < 2))
    for a in ASSETS:
        idio = np.zeros(nh)
        y = 0.0
        for h in range(nh):
            y = 0.8 * y + rng.normal(0, 0.12)
            idio[h] = y
        w.act_h[a] = np.exp(common + idio) * diurnal
    hsec = np.repeat(np.arange(nh), 3600)
    zb = rng.standard_t(4, w.nsec) / math.sqrt(2.0)
    btc = zb * ASSETS["BTC"]["vol"] / math.sqrt(60) * w.act_h["BTC"][hsec]
    for a, p in ASSETS.items():
        if a == "BTC":
            w.base_ret[a] = btc
            continue
        s = p["vol"] / math.sqrt(60) * w.act_h[a][hsec]
        zi = rng.standard_t(4, w.nsec) / math.sqrt(2.0)
        w.base_ret[a] = 0.6 * p["beta"] * btc + 0.8 * zi * s


def finish_prices(w: World) -> None:
    """Prices per second: base returns plus every episode's overlay."""
    for a, p in ASSETS.items():
        w.price[a] = p["price"] * np.exp(np.cumsum(w.base_ret[a] + w.overlay[a]))


def bars_and_leverage(w: World, asset: str, dropped: Callable[[str, float], bool]) -> list[dict]:
    """One asset's trade_flow bars and leverage snapshots on every venue, minus the venues' drop-outs."""
    rng, p, n = w.rng, ASSETS[asset], w.nmin
    pr = w.price[asset].reshape(n, 60)
    o = np.concatenate([[p["price"]], w.price[asset][59:-1:60]])  # open = previous close
    c = pr[:, -1]
    hi = np.maximum(pr.max(1), o)
    lo = np.minimum(pr.min(1), o)
    r = np.log(c / o)
    act = np.repeat(w.act_h[asset], 60)
    fl = w.flow[asset]
    vol = p["volmin"] * act * (1 + 0.6 * np.abs(r) / p["vol"]) * (1 + fl[:, 0]) * np.exp(rng.normal(0, 0.3, n))
    sell_noise = 0.5 - 0.12 * np.tanh(r / p["vol"]) + rng.normal(0, 0.04, n)
    sell = np.clip(np.where(fl[:, 1] > 0, fl[:, 1] + rng.normal(0, 0.03, n), sell_noise), 0.05, 0.95)
    oi0 = p["volmin"] * 1440 * 0.6  # about 0.6 days of volume
    oi_drift = np.cumsum(rng.normal(0, 0.0008, n) + w.oi_flush[asset]) + np.cumsum(np.full(n, 0.00002))
    fund = 0.0001 * np.exp(np.cumsum(rng.normal(0, 0.01, n))) * np.where(np.cumsum(w.oi_flush[asset]) < -0.02, 0.3, 1.0)
    out = []
    for v, vp in VENUES.items():
        sym = symbol(v, asset)
        basis = 1 + rng.normal(0, 0.00008, n)
        share = vp["vol"] * np.exp(rng.normal(0, 0.15, n))
        for m in range(n):
            rel = m * MINUTE
            if dropped(v, rel) or dropped(v, rel + MINUTE - 1):
                continue
            ts = w.t0 + rel
            vv, b = vol[m] * share[m], basis[m]
            out.append({"type": "trade_flow", "venue": v, "symbol": sym, "asset": asset, "ts": ts,
                        "interval_ms": 60000, "buy_volume_usd": round(vv * (1 - sell[m]), 2),
                        "sell_volume_usd": round(vv * sell[m], 2), "open": round(o[m] * b, 6),
                        "high": round(hi[m] * b, 6), "low": round(lo[m] * b, 6), "close": round(c[m] * b, 6),
                        "trade_count": int(vv / (9000 if asset == "BTC" else 5000)) + 1,
                        "_recv": ts + MINUTE + int(rng.exponential(300))})
            lts = ts + int(rng.uniform(1000, 5000))  # a few seconds into the minute
            oi_usd = oi0 * vp["vol"] * math.exp(oi_drift[m]) * (c[m] / p["price"])
            out.append({"type": "leverage", "event_id": f"{v}:{sym}:indep:{lts}", "venue": v, "symbol": sym,
                        "asset": asset, "ts": lts, "open_interest": round(oi_usd / c[m], 6),
                        "open_interest_usd": round(oi_usd, 2), "funding_rate": round(float(fund[m]), 8),
                        "funding_interval_ms": FUNDING_MS, "next_funding_ts": int((lts // FUNDING_MS + 1) * FUNDING_MS),
                        "mark_price": round(float(c[m] * b), 6), "source": "indep",
                        "received_ts": lts + int(rng.exponential(200)) + 20})
    return out


def etf_flows(w: World) -> list[dict]:
    """Daily net flows of one BTC and one ETH fund, published the next morning UTC."""
    out = []
    for d in range(w.days):
        for a, fund in (("BTC", "IBIT"), ("ETH", "ETHA")):
            date = datetime.datetime.fromtimestamp((w.t0 + d * DAY) / 1000, datetime.UTC).strftime("%Y-%m-%d")
            pub = w.t0 + d * DAY + 22 * HOUR + int(w.rng.uniform(0, 3) * HOUR)
            out.append({"type": "etf_flow", "event_id": f"etf:{a}:{fund}:{date}:{pub}", "date": date, "fund": fund,
                        "asset": a, "net_flow_usd": round(float(w.rng.normal(0, 2e8 if a == "BTC" else 6e7)), 2),
                        "published_ts": pub, "source": "indep"})
    return out
