"""Background liquidation noise: heavy-tailed, bursty, on both sides, with no episode in it.

Arrivals are a Hawkes process (each liquidation triggers on average `branching` more within tens of
seconds, generated generation by generation with numpy) whose base rate drifts hour by hour with a
log-AR(1) volatility regime; sizes are log-normal with a wide spread. Calibrated so that calm BTC
hours sum to a median of about $0.1M of long liquidations across the three venues, with a p99 in
the single-digit millions: small realistic spikes, no cascades.
"""

from __future__ import annotations

import numpy as np

from pipeline.scenarios.market import ASSETS, HOUR

BASE_RATE_PER_HOUR = 5.0  # immigrant liquidations per hour per side for BTC at a neutral regime
BRANCHING = 0.8
DECAY_MS = 20_000.0
SIZE_MEDIAN_USD = 3_000.0
SIZE_SIGMA = 2.0
REGIME_PHI, REGIME_SD = 0.92, 0.35
MAX_SIZE_USD = 3e6  # per liquidation, for BTC: a calm day holds no single cascade-sized order


def regime(rng: np.random.Generator, hours: int) -> np.ndarray:
    """Hourly rate multipliers: calm and busy stretches of the day, with mean about one."""
    x = np.empty(hours)
    v = rng.normal(0, REGIME_SD / np.sqrt(1 - REGIME_PHI**2))
    shocks = rng.normal(0, REGIME_SD, hours)
    for h in range(hours):
        v = REGIME_PHI * v + shocks[h]
        x[h] = v
    return np.exp(x - (REGIME_SD**2 / (1 - REGIME_PHI**2)) / 2)


def hawkes(rng: np.random.Generator, start_ms: int, rates_per_hour: np.ndarray, branching: float = BRANCHING,
           decay_ms: float = DECAY_MS) -> np.ndarray:
    """Sorted event times (ms) of a Hawkes process with an hourly piecewise-constant base rate."""
    hours = len(rates_per_hour)
    counts = rng.poisson(rates_per_hour)
    gen = (np.repeat(np.arange(hours), counts) + rng.random(counts.sum())) * HOUR + start_ms
    out = [gen]
    while gen.size:
        kids = rng.poisson(branching, gen.size)
        gen = np.repeat(gen, kids) + rng.exponential(decay_ms, kids.sum())
        out.append(gen)
    times = np.concatenate(out)
    times = times[times < start_ms + hours * HOUR]
    return np.sort(times.astype(np.int64))


def background(rng: np.random.Generator, asset: str, start_ms: int, hours: int,
               activity: np.ndarray) -> list[tuple[int, str, float]]:
    """(ts, side, notional_usd) of an asset's background liquidations, both sides."""
    scale = ASSETS[asset].scale
    out: list[tuple[int, str, float]] = []
    for side in ("long", "short"):
        times = hawkes(rng, start_ms, BASE_RATE_PER_HOUR * np.sqrt(scale) * activity)
        sizes = np.minimum(rng.lognormal(np.log(SIZE_MEDIAN_USD * np.sqrt(scale)), SIZE_SIGMA, times.size),
                           MAX_SIZE_USD * scale)
        out.extend(zip(times.tolist(), [side] * times.size, sizes.tolist()))
    return out
