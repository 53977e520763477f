"""Where episodes go: calm days, and slots on the other days so that episodes never overlap.

Each asset's episode days are cut into six-hour slots. An episode that ends in a long cascade takes
a slot of its own (a contagion burst on ETH shares its slot with the BTC cascade it follows); the
others take half a slot, two to a slot. Calm days hold no episode on any asset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.scenarios.market import ASSETS, HOUR, WHALE_ASSETS

SLOT_MS = 6 * HOUR
SLOTS_PER_DAY = 4
CASCADES = ("whale_cascade", "no_whale_cascade")
WHALE_ONLY = ("whale_no_sell", "whale_sell_no_cascade", "internal_transfer")
ANY_ASSET = ("short_squeeze", "small_liquidations")
KINDS = CASCADES + WHALE_ONLY + ANY_ASSET + ("contagion_cascade",)


@dataclass(frozen=True)
class Placement:
    kind: str
    asset: str
    start_ms: int  # where the episode's own time starts (deposit, or burst for cascades without one)
    slot: int  # global slot index (shared by a contagion burst and its BTC source)


class CapacityError(ValueError):
    pass


def calm_days(rng: np.random.Generator, days: int, count: int) -> list[int]:
    """Calm days, never day 0 (the detector's first day has no history of its own)."""
    if count > max(0, days - 1):
        raise CapacityError(f"{days} days cannot hold {count} calm days besides the first: add days")
    return sorted(int(d) for d in rng.choice(np.arange(1, days), size=count, replace=False)) if count else []


def place(rng: np.random.Generator, start_ms: int, days: int, calm: list[int], per_kind: int) -> list[Placement]:
    slots = [d * SLOTS_PER_DAY + s for d in range(days) if d not in calm for s in range(SLOTS_PER_DAY)]
    free = {a: list(rng.permutation(slots).tolist()) for a in ASSETS}
    full_ms = lambda slot: start_ms + slot * SLOT_MS + int(rng.integers(90, 131)) * 60_000  # noqa: E731
    out: list[Placement] = []

    def need(msg: str) -> CapacityError:
        return CapacityError(f"{days} days ({len(calm)} calm) hold too few episode slots for {per_kind} of each "
                             f"kind ({msg}): add days or lower --per-kind")

    cascades = [k for k in CASCADES for _ in range(per_kind)]
    rng.shuffle(cascades)
    for i, kind in enumerate(cascades):
        if i < per_kind:  # a BTC cascade with an ETH burst around it
            both = [s for s in free["BTC"] if s in set(free["ETH"])]
            if not both:
                raise need("contagion pairs")
            slot = both[0]
            free["BTC"].remove(slot)
            free["ETH"].remove(slot)
            t = full_ms(slot)
            out.append(Placement(kind, "BTC", t, slot))
            out.append(Placement("contagion_cascade", "ETH", t, slot))
            continue
        # BTC already has a cascade in every contagion pair: the others go to the other assets.
        pool = WHALE_ASSETS if kind == "whale_cascade" else tuple(a for a in ASSETS if a != "BTC")
        pool = tuple(a for a in pool if free[a])
        if not pool:
            raise need(kind)
        asset = pool[int(rng.integers(len(pool)))]
        slot = free[asset].pop()
        out.append(Placement(kind, asset, full_ms(slot), slot))

    halves = {a: [(s, h) for s in free[a] for h in (0, 1)] for a in ASSETS}
    for a in halves:
        halves[a] = [halves[a][j] for j in rng.permutation(len(halves[a])).tolist()]
    for kinds, pool in ((WHALE_ONLY, WHALE_ASSETS), (ANY_ASSET, tuple(ASSETS))):
        todo = [k for k in kinds for _ in range(per_kind)]
        rng.shuffle(todo)
        for kind in todo:
            avail = [a for a in pool if halves[a]]
            if not avail:
                raise need(kind)
            asset = avail[int(rng.integers(len(avail)))]
            slot, h = halves[asset].pop()
            t = start_ms + slot * SLOT_MS + h * SLOT_MS // 2 + int(rng.integers(10, 31)) * 60_000
            out.append(Placement(kind, asset, t, slot))
    out.sort(key=lambda p: (p.start_ms, p.asset))
    return out
