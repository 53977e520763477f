"""Burst shapes: how a liquidation burst's USD is spread over its minutes, and its liquidations.

- front_loaded: the first minute is the largest (price gaps through support), then it decays
- back_loaded: accelerating, the largest minutes at the end
- waves: two to four surges with lulls between them
- plateau: a short ramp, then a steady rate
"""

from __future__ import annotations

import numpy as np

SHAPES = ("front_loaded", "back_loaded", "waves", "plateau")
MAX_EVENTS = 2_500  # per burst: bigger bursts get bigger liquidations, as real ones do
SIZE_SIGMA = 1.0


def profile(rng: np.random.Generator, shape: str, minutes: int) -> np.ndarray:
    """Weights per minute, summing to one."""
    i = np.arange(minutes, dtype=float)
    if shape == "front_loaded":
        w = np.exp(-i / max(1.0, minutes / 5))
    elif shape == "back_loaded":
        w = np.exp(i / max(1.0, minutes / 4))
    elif shape == "waves":
        k = int(rng.integers(2, 5))
        centers = (np.arange(k) + 0.5) * minutes / k + rng.uniform(-0.15, 0.15, k) * minutes / k
        width = max(0.7, minutes / (3.5 * k))
        heights = rng.uniform(0.5, 1.0, k)
        w = 0.03 + sum(h * np.exp(-((i - c) ** 2) / (2 * width**2)) for h, c in zip(heights, centers))
    elif shape == "plateau":
        w = np.minimum(1.0, (i + 1) / 3)
    else:
        raise ValueError(f"unknown burst shape {shape!r}; known: {', '.join(SHAPES)}")
    return w / w.sum()


def burst(rng: np.random.Generator, b0: int, weights: np.ndarray, total_usd: float, side: str,
          min_mean_usd: float, other_share: float = 0.1) -> list[tuple[int, str, float]]:
    """(ts, side, notional_usd) of a burst starting at b0 whose minute m carries weights[m] of the total.

    Liquidations arrive in clumps within each minute (a few seconds apart); `other_share` of them are
    on the opposite side, as in real cascades.
    """
    mean = max(min_mean_usd, total_usd / MAX_EVENTS)
    counts = rng.poisson(total_usd * weights / mean)
    n = int(counts.sum())
    minute = np.repeat(np.arange(len(weights)), counts)
    # Clumps: each liquidation lands near one of a few anchors in its minute.
    anchors = rng.random((len(weights), 6)) * 60_000
    ts = b0 + minute * 60_000 + np.clip(anchors[minute, rng.integers(0, 6, n)] + rng.normal(0, 1_500, n), 0, 59_999)
    sizes = rng.lognormal(np.log(mean) - SIZE_SIGMA**2 / 2, SIZE_SIGMA, n)
    other = "short" if side == "long" else "long"
    sides = np.where(rng.random(n) < other_share, other, side)
    order = np.argsort(ts, kind="stable")
    return list(zip(ts.astype(np.int64)[order].tolist(), sides[order].tolist(), sizes[order].tolist()))
