"""Scenario families: each builds its episodes into a World. Timings follow the issue text and the
seed stories (a whale deposit sold within about 20 minutes; flash crashes with no whale; BTC dragging
ETH down), sizes follow what the feeds deliver (see market.py)."""

from __future__ import annotations

import numpy as np

from _holdout.market import MINUTE
from _holdout.shapes import SHAPES
from _holdout.world import World

SMALL = ("SOL", "XRP", "DOGE")
ENTITIES = ("binance", "bybit", "okx", "coinbase")
ENTITY_P = (0.5, 0.2, 0.2, 0.1)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _cascade(w: World, ep, start: int) -> None:
    rng = w.rng
    minutes = int(rng.integers(10, 91))
    rate = w.hourly_size(ep.asset)
    w.burst(ep, start, minutes, rate * max(minutes, 60) / 60, str(rng.choice(SHAPES)))


def _whale(w: World, asset: str, deposit_range: tuple[float, float], sell_after: tuple[int, int],
           sell_len: tuple[int, int], drop: tuple[float, float]) -> None:
    rng = w.rng
    ep = w.episode("whale_cascade", asset)
    t0 = w.place(30 + 40 + 20 + 90)
    entity = str(rng.choice(ENTITIES, p=ENTITY_P))
    usd = _loguniform(rng, *deposit_range)
    w.deposit(ep, t0, usd, entity)
    s0 = t0 + int(rng.integers(sell_after[0], sell_after[1] + 1)) * MINUTE + int(rng.integers(0, 60_000))
    n = int(rng.integers(sell_len[0], sell_len[1] + 1))
    w.sell(ep, s0, n, usd * rng.uniform(0.3, 1.0), rng.uniform(*drop), entity)
    c0 = s0 + int(rng.uniform(0.4 * n, n + 15) * MINUTE)
    _cascade(w, ep, c0)
    ep.window = (t0, None)


def eth_whale_late_sell(w: World) -> None:
    """ETH deposit; selling starts 10-25 min later, lasts about 20 min; then a long cascade."""
    _whale(w, "ETH", (30e6, 600e6), (10, 25), (15, 25), (1.5, 5.0))


def btc_whale(w: World) -> None:
    """BTC deposit; selling starts 0-28 min later and lasts 5-40 min; then a long cascade."""
    _whale(w, "BTC", (80e6, 3e9), (0, 28), (5, 40), (1.0, 4.0))


def _no_whale(w: World, asset: str) -> None:
    ep = w.episode("no_whale_cascade", asset)
    _cascade(w, ep, w.place(95))


def eth_only_cascade(w: World) -> None:
    """A long cascade on ETH alone."""
    _no_whale(w, "ETH")


def small_asset_cascade(w: World) -> None:
    """A long cascade on SOL, XRP or DOGE alone."""
    _no_whale(w, w.assets[2])


def btc_no_whale(w: World) -> None:
    """A BTC flash crash with no deposit before it."""
    _no_whale(w, "BTC")


def contagion(w: World) -> None:
    """A BTC cascade, then an ETH one starting 0-20 min after it began."""
    rng = w.rng
    btc = w.episode("no_whale_cascade", "BTC")
    t0 = w.place(115)
    _cascade(w, btc, t0)
    eth = w.episode("contagion_cascade", "ETH")
    minutes = int(rng.integers(10, 61))
    rate = w.hourly_size("ETH", 0.5)
    start = t0 + int(rng.uniform(0, 20) * MINUTE)
    w.burst(eth, start, minutes, rate * max(minutes, 60) / 60, str(rng.choice(SHAPES)))
    eth.meta["after_btc_s"] = (start - t0) // 1000


def calm(w: World) -> None:
    """Noise only."""


def deposit_no_sell(w: World) -> None:
    """A large inflow nobody sells; one in three is an exchange-internal move."""
    rng = w.rng
    asset = str(rng.choice(("BTC", "ETH")))
    internal = rng.random() < 1 / 3
    ep = w.episode("internal_transfer" if internal else "whale_no_sell", asset)
    t0 = w.place(90)
    rng_usd = (80e6, 3e9) if asset == "BTC" else (30e6, 600e6)
    w.deposit(ep, t0, _loguniform(rng, *rng_usd), str(rng.choice(ENTITIES[:3])),
              "exchange_internal" if internal else "exchange_inflow")
    ep.window = (t0, t0 + 90 * MINUTE)


def sell_absorbed(w: World) -> None:
    """Inflow and selling; dip buyers take the price back and no cascade follows."""
    rng = w.rng
    asset = str(rng.choice(("BTC", "ETH")))
    ep = w.episode("whale_sell_no_cascade", asset)
    t0 = w.place(120)
    entity = str(rng.choice(ENTITIES, p=ENTITY_P))
    usd = _loguniform(rng, *((80e6, 3e9) if asset == "BTC" else (30e6, 600e6)))
    w.deposit(ep, t0, usd, entity)
    s0 = t0 + int(rng.integers(0, 29)) * MINUTE
    n = int(rng.integers(5, 41))
    w.sell(ep, s0, n, usd * rng.uniform(0.2, 0.7), rng.uniform(0.4, 1.5), entity, rebound_min=int(rng.integers(15, 46)))
    ep.window = (t0, s0 + (n + 60) * MINUTE)


def short_squeeze(w: World) -> None:
    """Price spikes up and shorts are liquidated at cascade sizes."""
    rng = w.rng
    asset = str(rng.choice(("BTC", "ETH", w.assets[2])))
    ep = w.episode("short_squeeze", asset)
    minutes = int(rng.integers(10, 61))
    rate = w.hourly_size(asset)
    w.burst(ep, w.place(70), minutes, rate * max(minutes, 60) / 60, str(rng.choice(SHAPES)), side="short")


def small_flurry(w: World) -> None:
    """A 2-8 minute flurry of long liquidations, $1-5M on BTC (scaled per asset): above the noise,
    far below a cascade."""
    rng = w.rng
    asset = str(rng.choice(("BTC", "ETH", w.assets[2])))
    ep = w.episode("small_liquidations", asset)
    scale = w.markets[asset].spec.noise
    w.burst(ep, w.place(20), int(rng.integers(2, 9)), _loguniform(rng, 1e6, 5e6) * scale, "plateau",
            move_pct=rng.uniform(0.3, 0.8))


FAMILIES = {f.__name__: f for f in (eth_whale_late_sell, btc_whale, eth_only_cascade, small_asset_cascade,
                                    btc_no_whale, contagion, calm, deposit_no_sell, sell_absorbed,
                                    short_squeeze, small_flurry)}
POSITIVE_FAMILIES = ("eth_whale_late_sell", "btc_whale", "eth_only_cascade", "small_asset_cascade",
                     "btc_no_whale", "contagion")
