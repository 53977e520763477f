"""Burst shapes: how an episode's liquidations spread over its duration, as per-second weights."""

from __future__ import annotations

import numpy as np

SHAPES = ("ramp", "decay", "surges", "bleed_then_crash", "crash_first_minute", "plateau")


def weights(shape: str, seconds: int, rng: np.random.Generator) -> np.ndarray:
    """Non-negative weights per second, summing to 1; every shape has liquidations in its first minute."""
    u = (np.arange(seconds) + 0.5) / seconds
    if shape == "ramp":  # accelerating linearly from a trickle
        w = 0.05 + u
    elif shape == "decay":  # price gaps through support, then it fades
        w = np.exp(-u * rng.uniform(3, 7))
    elif shape == "surges":  # two to four surges of varied height
        w = np.full(seconds, 0.03)
        for _ in range(int(rng.integers(2, 5))):
            c, s = rng.uniform(0.05, 0.95), rng.uniform(0.03, 0.12)
            w += rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((u - c) / s) ** 2)
    elif shape == "bleed_then_crash":  # a slow bleed holding a tenth or so, then the crash
        b = rng.uniform(0.5, 0.8)
        w = np.where(u < b, 0.06, np.exp(-(u - b) / (1 - b) * rng.uniform(2, 5)))
    elif shape == "crash_first_minute":  # the first minute alone holds a quarter to 40%
        w = np.exp(-u * rng.uniform(1.5, 4))
        first = min(60, seconds)
        share = rng.uniform(0.25, 0.4)
        w[:first] *= share / (1 - share) * w[first:].sum() / w[:first].sum()
    elif shape == "plateau":  # a short ramp, then steady
        w = np.minimum(1.0, u / rng.uniform(0.05, 0.2)) + 0.02
    else:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    w = w * rng.lognormal(0, 0.5, seconds)  # second-to-second roughness
    return w / w.sum()


def spread(total_usd: float, start: int, seconds: int, shape: str, median_usd: float, cap_usd: float,
           rng: np.random.Generator) -> list[tuple[int, float]]:
    """(ts, usd) liquidations summing to total_usd, timed by the shape, with log-normal sizes."""
    mean = median_usd * np.exp(1.6 ** 2 / 2)
    n = max(3, int(total_usd / mean))
    sizes = np.minimum(rng.lognormal(np.log(median_usd), 1.6, n), cap_usd)
    sizes *= total_usd / sizes.sum()
    w = weights(shape, seconds, rng)
    secs = rng.choice(seconds, size=n, p=w)
    secs[0] = min(secs.min(), int(rng.integers(0, 20)))  # the burst starts at its start
    ts = start + secs * 1000 + rng.integers(0, 1000, n)
    return sorted(zip(ts.tolist(), sizes.tolist()))
