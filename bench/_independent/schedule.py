"""Where episodes go: one calm UTC day, and 6-hour slots per asset for everything else.

Day 0's first slot (hours 0-6) is a warm-up with no episode, the calm day (never day 0) has none
either; each asset's slots are shuffled and an episode takes the first free one (a contagion episode
one free on both BTC and ETH). Per seed: 2 contagion, 4 whale_cascade (BTC, BTC, ETH, ETH),
4 no_whale_cascade (BTC, ETH, SOL, SOL) and the negatives: 2 whale_no_sell, 2 whale_sell_no_cascade,
3 short_squeeze, 4 small_liquidations.
"""

from __future__ import annotations

from _independent.world import ASSETS, World

SLOT_HOURS = 6
EPISODES = [
    ("whale_cascade", ("BTC", "BTC", "ETH", "ETH")),
    ("no_whale_cascade", ("BTC", "ETH", "SOL", "SOL")),
    ("whale_no_sell", ("BTC", "ETH")),
    ("whale_sell_no_cascade", ("BTC", "ETH")),
    ("short_squeeze", ("BTC", "ETH", "SOL")),
    ("small_liquidations", ("BTC", "ETH", "SOL", "SOL")),
]
CONTAGIONS = 2


def plan(w: World) -> list[tuple[str, str, int]]:
    """(kind, asset, slot start hour) per episode, in time order; sets w.calm_days."""
    rng = w.prng
    w.calm_days = [rng.randint(1, w.days - 1)]
    slots = [d * 24 + SLOT_HOURS * k for d in range(w.days) if d not in w.calm_days
             for k in range(24 // SLOT_HOURS) if not (d == 0 and k == 0)]
    free = {a: list(slots) for a in ASSETS}
    for hours in free.values():
        rng.shuffle(hours)

    def pick(asset: str, also: str | None = None) -> int:
        for h in list(free[asset]):
            if also is None or h in free[also]:
                free[asset].remove(h)
                if also:
                    free[also].remove(h)
                return h
        raise RuntimeError(f"no free slot left on {asset}: give more --days")

    eps = [("contagion", "ETH", pick("BTC", "ETH")) for _ in range(CONTAGIONS)]
    for kind, assets in EPISODES:
        eps += [(kind, a, pick(a)) for a in assets]
    eps.sort(key=lambda e: e[2])
    return eps
