"""Liquidations outside episodes: clustered, heavy tailed, more of them in volatile and adverse minutes.

Per asset and side, cluster parents arrive as a Poisson process at rate ~ activity^1.5 x
exp(0.55 x the minute's adverse move in standard deviations) (capped at 15x); each parent brings a
geometric cluster (mean about 2.2) spread over ~12 s. Sizes are lognormal (BTC median $2.5k, sigma
1.9, capped at $2.5M). A calm BTC hour then liquidates about $0.08M of longs (median), $0.7M (p90).
"""

from __future__ import annotations

import math

import numpy as np

from _independent.world import ASSETS, SECOND, World

PARENTS_PER_MINUTE = 9.0 / 60  # cluster parents per minute and side at activity 1, BTC
MAX_BOOST = 15.0


def noise_liqs(w: World) -> None:
    rng = w.rng
    for a, p in ASSETS.items():
        z = w.base_ret[a].reshape(w.nmin, 60).sum(1) / p["vol"]
        act = np.repeat(w.act_h[a], 60)
        base = PARENTS_PER_MINUTE * (p["scale"] ** 0.5)
        for side, sgn in (("long", -1), ("short", 1)):
            boost = np.minimum(np.exp(0.55 * np.clip(sgn * z, 0, None)), MAX_BOOST)
            parents = rng.poisson(base * act ** 1.5 * boost)
            for m in np.nonzero(parents)[0]:
                for _ in range(parents[m]):
                    t = (m * 60 + rng.uniform(0, 60)) * SECOND
                    k = rng.geometric(0.45)  # cluster size
                    for j in range(k):
                        tt = t + (0 if j == 0 else rng.exponential(12) * SECOND)
                        usd = min(p["cap"], rng.lognormal(math.log(p["liq_med"]), 1.9))
                        w.add_liq(tt, a, side, usd, None)
