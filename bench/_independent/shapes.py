"""Liquidation bursts: their shapes over time, their size, and the raw liquidations they are made of.

Shapes: spike_decay (a gap through support, then decay, as on 10 Oct 2025), grind_then_flush (a slow
bleed, then a flush late in the burst, as on 1 Dec 2025), double_dip, staircase (supports breaking one
after another, as in Aug 2025) and slow_bleed (broad, low, steady). A burst is sized by its worst
hour: the largest 60-minute sum of its per-minute profile.
"""

from __future__ import annotations

import math

import numpy as np

from _independent.world import ASSETS, MINUTE, World

SHAPES = ["spike_decay", "grind_then_flush", "double_dip", "staircase", "slow_bleed"]


def shape_profile(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-minute relative intensity of an n-minute burst, summing to 1."""
    t = np.arange(n) + 0.5
    if shape == "spike_decay":
        tau = max(2.0, n * rng.uniform(0.12, 0.3))
        p = np.exp(-t / tau)
    elif shape == "grind_then_flush":
        k = rng.uniform(0.6, 0.85)
        p = 0.08 + 0.25 * t / n + np.exp(-((t - k * n) ** 2) / (2 * max(1.5, 0.07 * n) ** 2))
    elif shape == "double_dip":
        c1, c2 = rng.uniform(0.05, 0.25) * n, rng.uniform(0.55, 0.85) * n
        w = max(1.2, 0.08 * n)
        p = (np.exp(-((t - c1) ** 2) / (2 * w * w))
             + rng.uniform(0.5, 1.3) * np.exp(-((t - c2) ** 2) / (2 * w * w)) + 0.04)
    elif shape == "staircase":
        k = rng.integers(3, 6)
        starts = np.sort(rng.uniform(0, 0.85, k)) * n
        starts[0] = 0
        p = np.full(n, 0.03)
        for s in starts:
            d = np.clip(t - s, 0, None)
            p += np.where(t >= s, rng.uniform(0.6, 1.4) * np.exp(-d / max(1.0, 0.05 * n)), 0)
    else:  # slow_bleed
        p = 0.6 + 0.4 * np.sin(np.pi * t / n) + rng.uniform(0, 0.3, n)
    p = p * np.exp(rng.normal(0, 0.35, n))
    return p / p.sum()


def scale_to_worst_hour(profile: np.ndarray, worst_hour: float) -> np.ndarray:
    """USD per minute such that the largest 60-minute sum is worst_hour."""
    n = len(profile)
    if n <= 60:
        return profile * worst_hour
    c = np.concatenate([[0], np.cumsum(profile)])
    return profile * worst_hour / max(c[i + 60] - c[i] for i in range(n - 59))


def burst(w: World, asset: str, side: str, t: float, minutes: int, worst_hour: float, shape: str, tag: str,
          med: float) -> np.ndarray:
    """Add a burst's raw liquidations (lognormal sizes around med) from t on; returns its profile."""
    profile = shape_profile(shape, minutes, w.rng)
    cap = ASSETS[asset]["cap"] * 4
    for m, usd in enumerate(scale_to_worst_hour(profile, worst_hour)):
        left = usd
        while left > 0:
            x = min(cap, w.rng.lognormal(math.log(med), 1.4), max(med * 0.05, left))
            w.add_liq(t + m * MINUTE + w.rng.uniform(0, MINUTE), asset, side, x, tag)
            left -= x
    return profile
